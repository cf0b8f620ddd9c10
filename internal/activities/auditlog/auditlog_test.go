package auditlog

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/eventstore"
	"github.com/dayops/dayops/internal/operation"
	"github.com/dayops/dayops/internal/testutil/pgtest"
	"github.com/google/go-cmp/cmp"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

type stepInput struct{ Shard int }

func (s stepInput) StepTarget() string { return "shard-" + string(rune('0'+s.Shard)) }

func okStep(ctx context.Context, in stepInput) error { return nil }

func badStep(ctx context.Context, in stepInput) error {
	return temporal.NewNonRetryableApplicationError("shard is on fire", "OnFire", nil)
}

func opWorkflow(ctx workflow.Context, m operation.Meta) error {
	ctx = operation.WithMeta(ctx, m)
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
	if err := workflow.ExecuteActivity(ctx, okStep, stepInput{Shard: 1}).Get(ctx, nil); err != nil {
		return err
	}
	var a *Activities
	rec := RecordInput{Events: []Event{NewEvent(&audit.ShardAdded{Cluster: m.ClusterKey(), Shard: 3})}}
	if err := workflow.ExecuteActivity(ctx, a.RecordEvents, rec).Get(ctx, nil); err != nil {
		return err
	}
	_ = workflow.ExecuteActivity(ctx, badStep, stepInput{Shard: 2}).Get(ctx, nil)
	return nil
}

func TestStepsRecordedExactlyOnce(t *testing.T) {
	ctx := t.Context()
	store, err := eventstore.Open(ctx, pgtest.Pool(t), eventstore.Options{Upcasters: audit.Upcasters()})
	if err != nil {
		t.Fatal(err)
	}
	rec := &Recorder{Store: store, Log: slog.New(slog.DiscardHandler)}
	meta := operation.Meta{OperationID: "op-42", Type: operation.ScaleShards, Namespace: "default", Cluster: "orders",
		Actor: "alice", Reason: "more room"}

	// Running the same operation twice stands for a worker that died and a
	// workflow task replayed: same workflow ID, same activity IDs.
	for range 2 {
		var s testsuite.WorkflowTestSuite
		env := s.NewTestWorkflowEnvironment()
		env.SetContextPropagators([]workflow.ContextPropagator{operation.MetaPropagator{}})
		env.SetWorkerOptions(worker.Options{DeadlockDetectionTimeout: time.Minute, // a loaded CI box is slow, not deadlocked
			Interceptors: []interceptor.WorkerInterceptor{&StepInterceptor{Recorder: rec}}})
		env.RegisterWorkflow(opWorkflow)
		env.RegisterActivity(okStep)
		env.RegisterActivity(badStep)
		env.RegisterActivity(&Activities{Recorder: rec})
		env.ExecuteWorkflow(opWorkflow, meta)
		if err := env.GetWorkflowError(); err != nil {
			t.Fatal(err)
		}
	}

	events, err := store.Query(ctx, eventstore.Filter{Cluster: "default/orders"})
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ Type, Actor, Reason, Correlation, Stream string }
	var got []row
	for _, e := range events {
		got = append(got, row{e.Type, e.Metadata.Actor, e.Metadata.Reason, e.Metadata.CorrelationID, e.Stream})
	}
	op, cl := "operation-op-42", "cluster-default/orders"
	want := []row{
		{"StepStarted", "alice", "more room", "op-42", op},
		{"StepCompleted", "alice", "more room", "op-42", op},
		{"ShardAdded", "alice", "more room", "op-42", cl},
		{"StepStarted", "alice", "more room", "op-42", op},
		{"StepFailed", "alice", "more room", "op-42", op},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("events (-want +got):\n%s", diff)
	}
	p, err := audit.Decode(events[4].Type, events[4].SchemaVersion, events[4].Payload)
	if err != nil {
		t.Fatal(err)
	}
	if f := p.(*audit.StepFailed); f.ErrorType != "OnFire" || f.StepID == "" {
		t.Errorf("StepFailed = %+v", f)
	}
	p, _ = audit.Decode(events[0].Type, events[0].SchemaVersion, events[0].Payload)
	if s := p.(*audit.StepStarted); s.Name != "okStep" || s.Target != "shard-1" {
		t.Errorf("StepStarted = %+v", s)
	}
}
