// Package opstart starts an operation workflow on the guardian's behalf
// (recover, or a switchover away from a primary that refuses writes) under
// the cluster's operation workflow ID, so it excludes every other operation
// of the cluster exactly as one started through the API does.
package opstart

import (
	"context"
	"errors"
	"fmt"

	"github.com/dayops/dayops/internal/operation"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
)

// Input starts one operation.
type Input struct {
	Meta operation.Meta `json:"meta"`
	// Workflow is the workflow type to start ("" is Recover, the only one
	// before the guardian started switchovers).
	Workflow string `json:"workflow,omitempty"`
	// Input is the workflow's input (opaque here: this package cannot
	// import the workflows).
	Input any `json:"input"`
	// Summary is shown in the Temporal UI.
	Summary string `json:"summary"`
}

// Result says whether the operation runs.
type Result struct {
	Started bool   `json:"started"`
	RunID   string `json:"runId,omitempty"`
	// Busy names the other operation that holds the cluster.
	Busy string `json:"busy,omitempty"`
	// New is true when this call started it (not a retried attempt's).
	New bool `json:"-"`
}

// Search attribute keys (workflows.SearchAttr*).
var (
	saCluster     = temporal.NewSearchAttributeKeyKeyword("DayopsCluster")
	saOperation   = temporal.NewSearchAttributeKeyKeyword("DayopsOperation")
	saOperationID = temporal.NewSearchAttributeKeyKeyword("DayopsOperationID")
	saRequester   = temporal.NewSearchAttributeKeyKeyword("DayopsRequester")
)

// WorkflowID is the workflow ID of a cluster's operation (the same as
// workflows.WorkflowID, which this package cannot import).
func WorkflowID(namespace, cluster string) string {
	return "dayops/" + namespace + "/" + cluster
}

// Start starts in's workflow as the cluster's operation. If the cluster
// already runs this very operation (a retried attempt) it is success; if
// it runs another, Busy names it.
func Start(ctx context.Context, c client.Client, taskQueue string, in Input) (Result, error) {
	m := in.Meta
	wid := WorkflowID(m.Namespace, m.Cluster)
	if in.Workflow == "" {
		in.Workflow = "Recover"
	}
	opts := client.StartWorkflowOptions{
		ID: wid, TaskQueue: taskQueue,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		TypedSearchAttributes: temporal.NewSearchAttributes(saCluster.ValueSet(m.ClusterKey()), saOperation.ValueSet(string(m.Type)),
			saOperationID.ValueSet(m.OperationID), saRequester.ValueSet(m.Actor)),
		Memo:          map[string]any{"operationId": m.OperationID, "reason": m.Reason},
		StaticSummary: fmt.Sprintf("%s %s by %s", m.Type, m.ClusterKey(), m.Actor),
		StaticDetails: in.Summary,
	}
	run, err := c.ExecuteWorkflow(ctx, opts, in.Workflow, in.Input)
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &already) {
		d, derr := c.DescribeWorkflowExecution(ctx, wid, "")
		if derr != nil {
			return Result{}, fmt.Errorf("describe %s: %w", wid, derr)
		}
		var id string
		if f := d.GetWorkflowExecutionInfo().GetMemo().GetFields()["operationId"]; f != nil {
			_ = converter.GetDefaultDataConverter().FromPayload(f, &id)
		}
		if id == m.OperationID {
			return Result{Started: true, RunID: d.GetWorkflowExecutionInfo().GetExecution().GetRunId()}, nil
		}
		return Result{Busy: d.GetWorkflowExecutionInfo().GetType().GetName() + " " + id}, nil
	}
	if err != nil {
		return Result{}, fmt.Errorf("start %s: %w", m.Type, err)
	}
	return Result{Started: true, RunID: run.GetRunID(), New: true}, nil
}
