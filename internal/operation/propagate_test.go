package operation

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

func metaEchoActivity(ctx context.Context) (Meta, error) {
	m, _ := MetaFromContext(ctx)
	return m, nil
}

func metaWorkflow(ctx workflow.Context, m Meta) (Meta, error) {
	ctx = WithMeta(ctx, m)
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
	var got Meta
	err := workflow.ExecuteActivity(ctx, metaEchoActivity).Get(ctx, &got)
	return got, err
}

func TestMetaReachesActivities(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetWorkerOptions(worker.Options{DeadlockDetectionTimeout: time.Minute}) // slow CI, not deadlock
	env.SetContextPropagators([]workflow.ContextPropagator{MetaPropagator{}})
	env.RegisterWorkflow(metaWorkflow)
	env.RegisterActivity(metaEchoActivity)
	want := Meta{OperationID: "op-1", Type: ScaleShards, Namespace: "default", Cluster: "orders",
		Actor: "alice", Reason: "black friday", RequestedAt: time.Date(2026, 11, 21, 6, 0, 0, 0, time.UTC)}
	env.ExecuteWorkflow(metaWorkflow, want)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var got Meta
	if err := env.GetWorkflowResult(&got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("meta seen by the activity (-want +got):\n%s", diff)
	}
}
