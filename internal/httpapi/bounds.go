package httpapi

import (
	"context"

	"github.com/danielgtaylor/huma/v2"
	"github.com/dayops/dayops/internal/spec"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/kubernetes"
)

// Shape checks that huma runs before a handler (resolvers): a request that
// fails them is a 422 naming the field, and nothing is observed, started or
// written. The rules live in internal/spec.

// details turns field errors into huma error details under prefix.
func details(prefix string, errs field.ErrorList) []error {
	out := make([]error, 0, len(errs))
	for _, e := range errs {
		d := &huma.ErrorDetail{Location: prefix + e.Field, Message: e.ErrorBody()}
		if e.Type != field.ErrorTypeRequired && e.Type != field.ErrorTypeForbidden && e.Type != field.ErrorTypeTooLong {
			d.Value = e.BadValue
		}
		out = append(out, d)
	}
	return out
}

func reasonErrors(prefix, reason string) []error {
	return details(prefix, spec.ValidateReason(field.NewPath("reason"), reason))
}

// Resolve checks the namespace query of every cluster path: a malformed one
// is a 422, not a Kubernetes error.
func (p *ClusterPath) Resolve(huma.Context) []error {
	return details("query.", spec.ValidateNamespace(field.NewPath("namespace"), p.Namespace))
}

// Resolve bounds the reason.
func (b *CreateClusterBody) Resolve(huma.Context) []error { return reasonErrors("body.", b.Reason) }

// Resolve bounds the reason.
func (b *OperationBody) Resolve(huma.Context) []error { return reasonErrors("body.", b.Reason) }

// Resolve bounds the reason.
func (b *DecisionBody) Resolve(huma.Context) []error { return reasonErrors("body.", b.Reason) }

// Resolve bounds the reason.
func (b *BackupBody) Resolve(huma.Context) []error { return reasonErrors("body.", b.Reason) }

// Resolve bounds the reason and checks the backup ID and namespace.
func (b *RestoreBody) Resolve(huma.Context) []error {
	errs := reasonErrors("body.", b.Reason)
	if b.Backup != "" {
		errs = append(errs, details("body.", spec.ValidateBackupID(field.NewPath("backup"), b.Backup))...)
	}
	if b.Namespace != "" {
		errs = append(errs, details("body.", spec.ValidateNamespace(field.NewPath("namespace"), b.Namespace))...)
	}
	return errs
}

// Resolve bounds the reason, parses the cron expression and bounds the interval.
func (b *BackupSchedule) Resolve(huma.Context) []error {
	errs := reasonErrors("body.", b.Reason)
	if b.Cron != "" {
		errs = append(errs, details("body.", spec.ValidateCron(field.NewPath("cron"), b.Cron))...)
	}
	if b.Every.Duration > spec.MaxScheduleEvery {
		errs = append(errs, details("body.", field.ErrorList{field.Invalid(field.NewPath("every"), b.Every.String(),
			"must be at most "+spec.MaxScheduleEvery.String())})...)
	}
	return errs
}

// ReasonQuery is the reason of a request without a body (DELETE).
type ReasonQuery struct {
	Reason string `query:"reason" doc:"why: recorded with every audit event (at most 1 KiB)"`
}

// Resolve bounds the reason.
func (q *ReasonQuery) Resolve(huma.Context) []error { return reasonErrors("query.", q.Reason) }

// BackupIDPath names a backup in a request path.
type BackupIDPath struct {
	ID string `path:"id" doc:"the backup's ID"`
}

// Resolve checks the backup ID's shape: a malformed one is a 422, never a
// backup store error.
func (p *BackupIDPath) Resolve(huma.Context) []error {
	return details("path.", spec.ValidateBackupID(field.NewPath("id"), p.ID))
}

// kubeRefs answers spec.References from the API's Kubernetes client. It
// reads Secret keys, never hands values on.
type kubeRefs struct{ client kubernetes.Interface }

func (k kubeRefs) NamespaceExists(ctx context.Context, name string) (bool, error) {
	_, err := k.client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case apierrors.IsForbidden(err):
		// An install whose role may not read namespaces (deploy/ grants
		// it) cannot tell; the operation then fails on its first write.
		return true, nil
	}
	return err == nil, err
}

func (k kubeRefs) SecretKeys(ctx context.Context, namespace, name string) ([]string, bool, error) {
	s, err := k.client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	keys := make([]string, 0, len(s.Data)+len(s.StringData))
	for key, v := range s.Data {
		if len(v) > 0 {
			keys = append(keys, key)
		}
	}
	return keys, true, nil
}

// checkReferences refuses a spec whose namespace or passwordSecret does not
// exist: a 422 naming the field, before anything starts.
func (s *Server) checkReferences(ctx context.Context, c spec.Cluster) error {
	errs, err := spec.CheckReferences(ctx, kubeRefs{client: s.d.Kube.Client}, c)
	if err != nil {
		if apierrors.IsForbidden(err) {
			return huma.Error503ServiceUnavailable("dayops may not read the passwordSecret: " + err.Error())
		}
		return huma.Error503ServiceUnavailable("cannot read Kubernetes: " + err.Error())
	}
	if len(errs) > 0 {
		return rejection(errs, false, "body.")
	}
	return nil
}
