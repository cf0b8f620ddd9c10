package auditlog

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/eventstore"
	"github.com/dayops/dayops/internal/operation"
	"github.com/dayops/dayops/internal/testutil/pgtest"
	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
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

// auditStore opens an audit log on a fresh database of the real server.
func auditStore(t *testing.T) (*eventstore.Store, *pgxpool.Pool) {
	t.Helper()
	pool := pgtest.Pool(t)
	store, err := eventstore.Open(t.Context(), pool, eventstore.Options{Upcasters: audit.Upcasters()})
	if err != nil {
		t.Fatal(err)
	}
	return store, pool
}

// runOperation runs wf(meta) on a test workflow environment whose worker
// records every step into rec, inside the interceptors outer, with acts
// registered.
func runOperation(rec *Recorder, outer []interceptor.WorkerInterceptor, wf any, meta operation.Meta, acts ...any) error {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetContextPropagators([]workflow.ContextPropagator{operation.MetaPropagator{}})
	env.SetWorkerOptions(worker.Options{DeadlockDetectionTimeout: time.Minute, // a loaded CI box is slow, not deadlocked
		Interceptors: append(slices.Clone(outer), &StepInterceptor{Recorder: rec})})
	env.RegisterWorkflow(wf)
	for _, a := range acts {
		env.RegisterActivity(a)
	}
	env.ExecuteWorkflow(wf, meta)
	return env.GetWorkflowError()
}

// eventTypes lists the types of default/orders' events, oldest first.
func eventTypes(t *testing.T, store *eventstore.Store) []string {
	t.Helper()
	events, err := store.Query(t.Context(), eventstore.Filter{Cluster: "default/orders"})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range events {
		types = append(types, e.Type)
	}
	return types
}

func TestStepsRecordedExactlyOnce(t *testing.T) {
	ctx := t.Context()
	store, _ := auditStore(t)
	rec := &Recorder{Store: store, Log: slog.New(slog.DiscardHandler)}
	meta := operation.Meta{OperationID: "op-42", Type: operation.ScaleShards, Namespace: "default", Cluster: "orders",
		Actor: "alice", Reason: "more room"}

	// Running the same operation twice stands for a worker that died and a
	// workflow task replayed: same workflow ID, same activity IDs.
	for range 2 {
		if err := runOperation(rec, nil, opWorkflow, meta, okStep, badStep, &Activities{Recorder: rec}); err != nil {
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

// killingStep terminates every PostgreSQL connection to the audit log's
// database, as a restart or failover would, so that the step's completion
// is appended on a connection the database has dropped.
type killingStep struct {
	db   *pgtest.Terminator
	runs atomic.Int32
}

func (k *killingStep) Run(ctx context.Context, in stepInput) error {
	k.runs.Add(1)
	_, err := k.db.Terminate(ctx)
	return err
}

func killWorkflow(ctx workflow.Context, m operation.Meta) error {
	ctx = operation.WithMeta(ctx, m)
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute,
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 1}}) // a failed append must not hide behind a retry
	var k *killingStep
	return workflow.ExecuteActivity(ctx, k.Run, stepInput{Shard: 1}).Get(ctx, nil)
}

// TestRecordRidesOutTerminatedConnections: a step's completion is appended
// although PostgreSQL terminated every connection of the pool during the
// step: the append goes again on a new connection, the step runs once and
// each record is written once. On real PostgreSQL.
func TestRecordRidesOutTerminatedConnections(t *testing.T) {
	store, pool := auditStore(t)
	var logs bytes.Buffer
	rec := &Recorder{Store: store, Log: slog.New(slog.NewTextHandler(&logs, nil))}
	step := &killingStep{db: pgtest.NewTerminator(t, pool.Config().ConnString())}
	meta := operation.Meta{OperationID: "op-7", Type: operation.ScaleShards, Namespace: "default", Cluster: "orders",
		Actor: "alice", Reason: "failover drill"}
	if err := runOperation(rec, nil, killWorkflow, meta, step); err != nil {
		t.Fatalf("workflow: %v\n%s", err, logs.String())
	}
	if n := step.runs.Load(); n != 1 {
		t.Errorf("the step ran %d times, want 1", n)
	}
	if types := eventTypes(t, store); !slices.Equal(types, []string{"StepStarted", "StepCompleted"}) {
		t.Errorf("events %v, want StepStarted, StepCompleted", types)
	}
	t.Logf("recorder's log:\n%s", logs.String())
}

// cancelKey holds the function that cancels the context the step
// interceptor sees (cancelOnReturn).
type cancelKey struct{}

// cancelOnReturn, outside the step interceptor, lets the step cancel the
// context the step interceptor sees just before it returns: an operation
// cancelled while one of its steps completes.
type cancelOnReturn struct {
	interceptor.WorkerInterceptorBase
}

func (*cancelOnReturn) InterceptActivity(_ context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &cancelOnReturnInbound{ActivityInboundInterceptorBase: interceptor.ActivityInboundInterceptorBase{Next: next}}
}

type cancelOnReturnInbound struct {
	interceptor.ActivityInboundInterceptorBase
}

func (c *cancelOnReturnInbound) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	return c.Next.ExecuteActivity(context.WithValue(ctx, cancelKey{}, cancel), in)
}

func cancelledAsItCompletes(ctx context.Context, in stepInput) error {
	ctx.Value(cancelKey{}).(context.CancelFunc)()
	return nil
}

func cancelledStepWorkflow(ctx workflow.Context, m operation.Meta) error {
	ctx = operation.WithMeta(ctx, m)
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute,
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 1}})
	return workflow.ExecuteActivity(ctx, cancelledAsItCompletes, stepInput{Shard: 2}).Get(ctx, nil)
}

// TestStepEndRecordedAfterCancel: a step that completed while its context
// was being cancelled (its operation cancelled at that moment) still has
// its completion recorded. Before, the record was written on the cancelled
// context and lost: a StepStarted without an end.
func TestStepEndRecordedAfterCancel(t *testing.T) {
	store, _ := auditStore(t)
	rec := &Recorder{Store: store, Log: slog.New(slog.DiscardHandler)}
	meta := operation.Meta{OperationID: "op-8", Type: operation.ScaleShards, Namespace: "default", Cluster: "orders",
		Actor: "alice", Reason: "cancelled midway"}
	if err := runOperation(rec, []interceptor.WorkerInterceptor{&cancelOnReturn{}}, cancelledStepWorkflow, meta, cancelledAsItCompletes); err != nil {
		t.Fatalf("workflow: %v", err)
	}
	if types := eventTypes(t, store); !slices.Equal(types, []string{"StepStarted", "StepCompleted"}) {
		t.Errorf("events %v, want StepStarted, StepCompleted", types)
	}
}

// givenIDsWorkflow records the same two events, with IDs of their own,
// from two activities (as a guardian run and the run it continued as do
// with the events it handed on) and then a third event.
func givenIDsWorkflow(ctx workflow.Context, m operation.Meta) error {
	ctx = operation.WithMeta(ctx, m)
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
	var a *Activities
	id := func(n int) uuid.UUID { return eventstore.StepEventID("guardian/"+m.OperationID, "event", n) }
	lost := NewEvent(&audit.InstanceLost{Cluster: m.ClusterKey(), Shard: 0, Ordinal: 0, Reason: "pod gone"}).WithID(id(0))
	failover := NewEvent(&audit.FailoverObserved{Cluster: m.ClusterKey(), Shard: 0, FromOrdinal: 0, ToOrdinal: 2}).WithID(id(1))
	for _, in := range []RecordInput{{Events: []Event{lost, failover}}, {Events: []Event{lost, failover}},
		{Events: []Event{NewEvent(&audit.ClusterHealthy{Cluster: m.ClusterKey()}).WithID(id(2))}}} {
		if err := workflow.ExecuteActivity(ctx, a.RecordEvents, in).Get(ctx, nil); err != nil {
			return err
		}
	}
	return nil
}

// TestRecordEventsKeepsGivenIDs: an event the workflow gave an ID is stored
// under it, once, whichever activity sends it.
func TestRecordEventsKeepsGivenIDs(t *testing.T) {
	store, _ := auditStore(t)
	rec := &Recorder{Store: store, Log: slog.New(slog.DiscardHandler)}
	meta := operation.Meta{OperationID: "guard-1", Type: "guard", Namespace: "default", Cluster: "orders", Actor: audit.SystemActor}
	if err := runOperation(rec, nil, givenIDsWorkflow, meta, &Activities{Recorder: rec}); err != nil {
		t.Fatal(err)
	}
	events, err := store.Query(t.Context(), eventstore.Filter{Cluster: "default/orders"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range events {
		got = append(got, e.Type+" "+e.ID.String())
	}
	want := []string{
		audit.TypeInstanceLost + " " + eventstore.StepEventID("guardian/guard-1", "event", 0).String(),
		audit.TypeFailoverObserved + " " + eventstore.StepEventID("guardian/guard-1", "event", 1).String(),
		audit.TypeClusterHealthy + " " + eventstore.StepEventID("guardian/guard-1", "event", 2).String(),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}
