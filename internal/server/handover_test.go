package server

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/devcluster/devtest"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

func TestMain(m *testing.M) {
	if os.Getenv(envKeepaliveWorker) != "" {
		os.Exit(runKeepaliveWorker())
	}
	devtest.Main(m)
}

// TestStoppingWorkerHandsBack runs a long activity on worker A against the
// stack's real Temporal server, stops A (what SIGTERM does) while worker B
// polls the same queue, and checks that B ran the next attempt because A
// reported WorkerStopping, not because the heartbeat timed out.
func TestStoppingWorkerHandsBack(t *testing.T) {
	env := devtest.Get(t)
	ctx := t.Context()
	c := env.TemporalClient(t)
	queue := fmt.Sprintf("handover-%d", time.Now().UnixNano())
	running := make(chan struct{}, 1)
	long := func(ctx context.Context) (string, error) {
		if activity.GetInfo(ctx).Attempt > 1 {
			return fmt.Sprintf("attempt %d", activity.GetInfo(ctx).Attempt), nil
		}
		running <- struct{}{}
		for {
			select {
			case <-ctx.Done():
				return "", ctx.Err()
			case <-time.After(time.Second):
				activity.RecordHeartbeat(ctx, "copying")
			}
		}
	}
	wf := func(ctx workflow.Context) (string, error) {
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Hour, HeartbeatTimeout: 20 * time.Second,
			RetryPolicy: &temporal.RetryPolicy{InitialInterval: 100 * time.Millisecond, MaximumAttempts: 3}})
		var out string
		err := workflow.ExecuteActivity(ctx, "long").Get(ctx, &out)
		return out, err
	}
	newWorker := func() worker.Worker {
		w := worker.New(c, queue, worker.Options{Interceptors: []interceptor.WorkerInterceptor{&handover{}}, WorkerStopTimeout: workerStopTimeout})
		w.RegisterWorkflowWithOptions(wf, workflow.RegisterOptions{Name: "handover"})
		w.RegisterActivityWithOptions(long, activity.RegisterOptions{Name: "long"})
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		return w
	}
	a := newWorker()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: queue, WorkflowExecutionTimeout: 5 * time.Minute}, "handover")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-running:
	case <-time.After(time.Minute):
		t.Fatal("the activity never started")
	}
	b := newWorker()
	defer b.Stop()
	stopped := time.Now()
	a.Stop()
	var out string
	if err := run.Get(ctx, &out); err != nil {
		t.Fatal(err)
	}
	t.Logf("the next attempt finished %s after worker A was stopped: %s", time.Since(stopped).Round(time.Millisecond), out)
	it := c.GetWorkflowHistory(ctx, run.GetID(), run.GetRunID(), false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := ev.GetActivityTaskStartedEventAttributes(); a != nil {
			f := a.GetLastFailure()
			if a.GetAttempt() != 2 || f.GetApplicationFailureInfo().GetType() != ErrTypeWorkerStopping {
				t.Fatalf("attempt %d started after %v, want attempt 2 after a %s failure (not a heartbeat timeout)", a.GetAttempt(), f, ErrTypeWorkerStopping)
			}
			if !strings.Contains(f.GetMessage(), "stopping worker") {
				t.Errorf("failure message %q", f.GetMessage())
			}
			return
		}
	}
	t.Fatal("no ActivityTaskStarted event")
}
