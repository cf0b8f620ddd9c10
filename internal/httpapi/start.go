package httpapi

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/dayops/dayops/internal/operation"
	"github.com/dayops/dayops/internal/planner"
	"github.com/dayops/dayops/internal/workflows"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
)

var (
	saCluster     = temporal.NewSearchAttributeKeyKeyword(workflows.SearchAttrCluster)
	saOperation   = temporal.NewSearchAttributeKeyKeyword(workflows.SearchAttrOperation)
	saOperationID = temporal.NewSearchAttributeKeyKeyword(workflows.SearchAttrOperationID)
	saRequester   = temporal.NewSearchAttributeKeyKeyword(workflows.SearchAttrRequester)
)

// startTimeout bounds an admitted operation's workflow start.
const startTimeout = 30 * time.Second

// startWithID starts the operation's workflow under wid: the cluster's
// workflow ID for cluster operations, or another one (a backup's) for an
// operation that may run beside them. A workflow already running under wid
// gets a 409.
func (s *Server) startWithID(ctx context.Context, m operation.Meta, plan planner.Plan, wid string, wf any, input any) (*OperationAccepted, error) {
	var details strings.Builder
	fmt.Fprintf(&details, "**%s**\n\nRequested by %s", plan.Summary, m.Actor)
	if m.Reason != "" {
		fmt.Fprintf(&details, ": %s", m.Reason)
	}
	details.WriteString("\n\nPlan:\n")
	for i, st := range plan.Steps {
		fmt.Fprintf(&details, "%d. %s\n", i+1, st)
	}
	if plan.Placement.Warning != "" {
		fmt.Fprintf(&details, "\nWarning: %s\n", plan.Placement.Warning)
	}
	opts := client.StartWorkflowOptions{
		ID:                       wid,
		TaskQueue:                s.d.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		// Without it the SDK hands back the running execution as if it were
		// ours: the second operation must be refused instead.
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			saCluster.ValueSet(m.ClusterKey()), saOperation.ValueSet(string(m.Type)),
			saOperationID.ValueSet(m.OperationID), saRequester.ValueSet(m.Actor),
		),
		Memo:          map[string]any{"operationId": m.OperationID, "reason": m.Reason},
		StaticSummary: fmt.Sprintf("%s %s by %s", m.Type, m.ClusterKey(), m.Actor),
		StaticDetails: details.String(),
	}
	// The start does not follow the request's cancellation: a client that
	// goes away after admission (or a proxy that closes its side of the
	// request, seen once under load through kubectl port-forward) cancelled
	// a start that the server may already have taken, and the API answered
	// 503 for an operation that might be running. Bounded by startTimeout.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), startTimeout)
	defer cancel()
	run, err := s.d.Temporal.ExecuteWorkflow(sctx, opts, wf, input)
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	switch {
	case errors.As(err, &already):
		s.metrics.rejected.WithLabelValues(string(m.Type), "409").Inc()
		if wid != workflows.WorkflowID(m.Namespace, m.Cluster) {
			return nil, huma.Error409Conflict(fmt.Sprintf("%s is already running", wid))
		}
		return nil, s.conflict(ctx, m, wid)
	case err != nil:
		return nil, huma.Error503ServiceUnavailable("could not start the operation's workflow: " + err.Error())
	}
	s.metrics.operations.WithLabelValues(string(m.Type)).Inc()
	s.d.Log.InfoContext(ctx, "operation started", "operation_id", m.OperationID, "type", m.Type,
		"cluster", m.ClusterKey(), "actor", m.Actor, "workflow_id", wid, "run_id", run.GetRunID())
	return &OperationAccepted{
		OperationID: m.OperationID, Type: string(m.Type), Namespace: m.Namespace, Cluster: m.Cluster, Plan: plan,
		WorkflowID: wid, RunID: run.GetRunID(), TemporalURL: s.temporalURL(wid, run.GetRunID()),
	}, nil
}

// conflict describes the operation already running on the cluster.
func (s *Server) conflict(ctx context.Context, m operation.Meta, wid string) error {
	msg := fmt.Sprintf("cluster %s already runs an operation; wait for it or cancel it", m.ClusterKey())
	desc, err := s.d.Temporal.DescribeWorkflowExecution(ctx, wid, "")
	if err == nil && desc.WorkflowExecutionInfo != nil {
		sa := desc.WorkflowExecutionInfo.GetSearchAttributes().GetIndexedFields()
		id, typ, who := keyword(sa[workflows.SearchAttrOperationID]), keyword(sa[workflows.SearchAttrOperation]), keyword(sa[workflows.SearchAttrRequester])
		msg = fmt.Sprintf("cluster %s already runs operation %s (%s, requested by %s); wait for it or cancel it", m.ClusterKey(), id, typ, who)
		return huma.Error409Conflict(msg, &huma.ErrorDetail{Location: "path.name", Message: msg, Value: id})
	}
	return huma.Error409Conflict(msg)
}

// keyword decodes a keyword search attribute.
func keyword(p *commonpb.Payload) string {
	if p == nil {
		return ""
	}
	var s string
	if err := converter.GetDefaultDataConverter().FromPayload(p, &s); err != nil {
		return ""
	}
	return s
}
