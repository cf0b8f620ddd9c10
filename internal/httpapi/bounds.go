package httpapi

import (
	"github.com/danielgtaylor/huma/v2"
	"github.com/dayops/dayops/internal/spec"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Shape checks that huma runs before a handler (resolvers): a request that
// fails them is a 422 naming the field, and nothing is observed, started or
// written. The rules live in internal/spec.

// details turns field errors into huma error details under prefix, each
// with its bad value where there is one to show. Every 4xx with field
// errors (shape checks and admission alike) goes through it.
func details(prefix string, errs field.ErrorList) []error {
	out := make([]error, 0, len(errs))
	for _, e := range errs {
		d := &huma.ErrorDetail{Location: prefix + e.Field, Message: e.ErrorBody()}
		switch e.Type {
		case field.ErrorTypeRequired, field.ErrorTypeForbidden, field.ErrorTypeInternal:
			// No value to show: missing, not allowed at all, or ours.
		case field.ErrorTypeTooLong:
			// The message gives the limit; echoing a value that is too
			// long would make the error as big as the request.
		default:
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

// The request inputs below are named so that huma runs their Resolve
// methods (the bodies are apiv1 wire types, which cannot carry methods here).

type createClusterInput struct {
	DryRun bool `query:"dryRun" doc:"return the plan without starting anything"`
	Body   CreateClusterBody
}

// Resolve bounds the reason.
func (in *createClusterInput) Resolve(huma.Context) []error {
	return reasonErrors("body.", in.Body.Reason)
}

type startOperationInput struct {
	ClusterPath
	DryRun bool `query:"dryRun" doc:"return the plan without starting anything"`
	Body   OperationBody
}

// Resolve checks the namespace query and bounds the reason.
func (in *startOperationInput) Resolve(ctx huma.Context) []error {
	// Explicit: huma does not call the embedded ClusterPath's Resolve
	// once the input itself resolves.
	return append(in.ClusterPath.Resolve(ctx), reasonErrors("body.", in.Body.Reason)...)
}

type decisionInput struct {
	ID   string `path:"id" doc:"operation ID"`
	Body *DecisionBody
}

// Resolve bounds the reason.
func (in *decisionInput) Resolve(huma.Context) []error {
	if in.Body == nil {
		return nil
	}
	return reasonErrors("body.", in.Body.Reason)
}

type createBackupInput struct {
	ClusterPath
	Body BackupBody
}

// Resolve checks the namespace query and bounds the reason.
func (in *createBackupInput) Resolve(ctx huma.Context) []error {
	// Explicit: huma does not call the embedded ClusterPath's Resolve
	// once the input itself resolves.
	return append(in.ClusterPath.Resolve(ctx), reasonErrors("body.", in.Body.Reason)...)
}

type createRestoreInput struct {
	DryRun bool `query:"dryRun" doc:"return the plan without starting anything"`
	Body   RestoreBody
}

// Resolve bounds the reason and checks the backup ID and namespace.
func (in *createRestoreInput) Resolve(huma.Context) []error {
	b := in.Body
	errs := reasonErrors("body.", b.Reason)
	if b.Backup != "" {
		errs = append(errs, details("body.", spec.ValidateBackupID(field.NewPath("backup"), b.Backup))...)
	}
	if b.Namespace != "" {
		errs = append(errs, details("body.", spec.ValidateNamespace(field.NewPath("namespace"), b.Namespace))...)
	}
	return errs
}

type putScheduleInput struct {
	ClusterPath
	Body BackupSchedule
}

// Resolve bounds the reason, parses the cron expression and bounds the interval.
func (in *putScheduleInput) Resolve(ctx huma.Context) []error {
	b := in.Body
	errs := append(in.ClusterPath.Resolve(ctx), reasonErrors("body.", b.Reason)...)
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
