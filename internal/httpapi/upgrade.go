package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
	"github.com/dayops/dayops/internal/httpapi/access"
	"github.com/dayops/dayops/internal/operation"
	"github.com/dayops/dayops/internal/workflows"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
)

func (s *Server) upgradeRoutes() {
	for _, d := range []struct{ name, summary string }{
		{workflows.UpdateApprove, "Approve an upgrade waiting after its canary bake (Temporal update approve; the actor is recorded)"},
		{workflows.UpdateAbort, "Abort an upgrade: it rolls back every changed instance and ends rolled back (Temporal update abort)"},
		{workflows.SignalPause, "Pause an upgrade before its next instance step (signal)"},
		{workflows.SignalResume, "Resume a paused upgrade (signal)"},
	} {
		huma.Register(s.api, endpoint(RoleOperator, "POST /v1/operations/{id}/"+d.name, d.name+"-operation", "operations", d.summary, "",
			http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity), func(ctx context.Context, in *decisionInput) (*struct{ Body DecisionAnswer }, error) {
			reason := ""
			if in.Body != nil {
				reason = in.Body.Reason
			}
			return s.decide(ctx, in.ID, d.name, reason)
		})
	}
}

// decide sends an approve/abort update or a pause/resume signal to a running
// upgrade. A decision the workflow refuses (already approved, rolling back,
// past its approval) is a 409 with the workflow's reason.
func (s *Server) decide(ctx context.Context, id, decision, reason string) (*struct{ Body DecisionAnswer }, error) {
	info, err := s.findOperation(ctx, id)
	if err != nil {
		return nil, err
	}
	sa := info.GetSearchAttributes().GetIndexedFields()
	if typ := keyword(sa[workflows.SearchAttrOperation]); typ != string(operation.Upgrade) {
		return nil, huma.Error409Conflict(fmt.Sprintf("operation %s is a %s, not an upgrade: it takes no %s", id, typ, decision))
	}
	if st := statusName(info); st != "Running" {
		return nil, huma.Error409Conflict(fmt.Sprintf("operation %s already ended (%s)", id, st))
	}
	actor := access.Caller(ctx).Subject
	d := workflows.Decision{Actor: actor, Reason: reason}
	wid, rid := info.GetExecution().GetWorkflowId(), info.GetExecution().GetRunId()
	out := DecisionAnswer{OperationID: id, Decision: decision, Actor: actor}
	switch decision {
	case workflows.SignalPause, workflows.SignalResume:
		if err := s.d.Temporal.SignalWorkflow(ctx, wid, rid, decision, d); err != nil {
			return nil, huma.Error503ServiceUnavailable("cannot signal the operation: " + err.Error())
		}
		out.Accepted, out.Message = true, decision+" sent"
	default:
		h, err := s.d.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
			WorkflowID: wid, RunID: rid, UpdateName: decision, Args: []any{d}, WaitForStage: client.WorkflowUpdateStageCompleted,
		})
		var res workflows.DecisionResult
		if err == nil {
			err = h.Get(ctx, &res)
		}
		if err != nil {
			var notFound *serviceerror.NotFound
			if errors.As(err, &notFound) {
				return nil, huma.Error409Conflict(fmt.Sprintf("operation %s already ended", id))
			}
			return nil, huma.Error409Conflict(fmt.Sprintf("%s refused: %s", decision, err.Error()))
		}
		out.Accepted, out.Stage, out.Message = res.Accepted, res.Stage, res.Message
	}
	s.d.Log.InfoContext(ctx, "upgrade decision", "operation_id", id, "decision", decision, "actor", actor, "reason", reason)
	return bodyOf(out), nil
}
