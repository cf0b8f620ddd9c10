package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
	"github.com/dayops/dayops/internal/admission"
	"github.com/dayops/dayops/internal/operation"
	"github.com/dayops/dayops/internal/spec"
)

// Clusters is what the API reads of clusters: admission's observations plus
// the list and the password. The server wires an adapter over Kubernetes and
// Redis; the API never calls an activity.
type Clusters interface {
	admission.Cluster
	// List reads every cluster of namespace ("" for all) from Kubernetes.
	List(ctx context.Context, namespace string) ([]admission.Observation, error)
	// Password reads the cluster's password and names its Secret.
	Password(ctx context.Context, c spec.Cluster) (secret, password string, err error)
}

// launch admits req through the registry and starts its workflow, or, for a
// dry run, returns its plan: both answer with the same plan.
func (s *Server) launch(ctx context.Context, req admission.Request, reason string, dryRun bool) (int, *OperationAccepted, string, error) {
	a, err := s.admission.Admit(ctx, req)
	if err != nil {
		return 0, nil, "", s.refusal(req.Type, err)
	}
	if dryRun {
		return http.StatusOK, &OperationAccepted{Type: string(a.Type), Namespace: a.Namespace, Cluster: a.Cluster, DryRun: true, Plan: a.Plan}, "", nil
	}
	m := s.meta(ctx, a.Type, a.Namespace, a.Cluster, reason)
	st := a.Start(m)
	res, err := s.startWithID(ctx, m, a.Plan, st.WorkflowID, st.Workflow, st.Input)
	if err != nil {
		return 0, nil, "", err
	}
	return http.StatusAccepted, res, m.OperationID, nil
}

// refusal maps an admission refusal to its status: 422 invalid, 409
// conflict, 404 not found, 503 unavailable.
func (s *Server) refusal(typ operation.Type, err error) error {
	var e *admission.Error
	if !errors.As(err, &e) {
		return err
	}
	details := make([]error, 0, len(e.Details))
	for _, d := range e.Details {
		details = append(details, &huma.ErrorDetail{Location: d.Location, Message: d.Message, Value: d.Value})
	}
	switch e.Kind {
	case admission.Invalid:
		s.metrics.rejected.WithLabelValues(string(typ), "422").Inc()
		if len(e.Errs) > 0 {
			return rejection(e.Errs, false, e.Prefix)
		}
		return huma.Error422UnprocessableEntity(e.Message, details...)
	case admission.Conflict:
		s.metrics.rejected.WithLabelValues(string(typ), "409").Inc()
		if len(e.Errs) > 0 {
			return rejection(e.Errs, true, e.Prefix)
		}
		return huma.Error409Conflict(e.Message, details...)
	case admission.NotFound:
		return huma.Error404NotFound(e.Message, details...)
	default:
		return huma.Error503ServiceUnavailable(e.Message, details...)
	}
}

// observeCluster reads an existing cluster for the read-only endpoints.
func (s *Server) observeCluster(ctx context.Context, namespace, name string) (admission.Observation, error) {
	if err := validName(name); err != nil {
		return admission.Observation{}, err
	}
	obs, err := s.d.Clusters.Observe(ctx, namespace, name, nil)
	if errors.Is(err, admission.ErrNotFound) {
		return obs, huma.Error404NotFound(fmt.Sprintf("cluster %s/%s does not exist", namespace, name))
	}
	if err != nil {
		return obs, huma.Error503ServiceUnavailable("cannot observe the cluster: " + err.Error())
	}
	return obs, nil
}
