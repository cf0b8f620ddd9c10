package server

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/devcluster/devtest"
	"github.com/dayops/dayops/internal/temporaltls"
	"github.com/dayops/dayops/internal/workflows/flow"
	"go.temporal.io/api/enums/v1"
	failurepb "go.temporal.io/api/failure/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// The keepalive worker process (TestMain runs it when envKeepaliveWorker is
// set): the test binary itself, so that the test can SIGKILL a real worker.
const (
	envKeepaliveWorker = "DAYOPS_TEST_KEEPALIVE_WORKER" // Temporal's host:port
	envKeepaliveQueue  = "DAYOPS_TEST_KEEPALIVE_QUEUE"
)

// silentStep heartbeats "copied 42" in its first attempt, then says nothing
// more until it is cancelled (a long Redis call, say); a later attempt
// returns what it resumes from. started gets the time each attempt starts.
func silentStep(started chan<- time.Time) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		if started != nil {
			started <- time.Now()
		}
		info := activity.GetInfo(ctx)
		if info.Attempt > 1 {
			var from string
			if activity.HasHeartbeatDetails(ctx) {
				if err := activity.GetHeartbeatDetails(ctx, &from); err != nil {
					return "", err
				}
			}
			return fmt.Sprintf("attempt %d resumed from %q", info.Attempt, from), nil
		}
		activity.RecordHeartbeat(ctx, "copied 42")
		<-ctx.Done()
		return "", ctx.Err()
	}
}

func keepaliveWorkflow(ctx workflow.Context) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Hour, HeartbeatTimeout: flow.HeartbeatTimeout,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: 100 * time.Millisecond, MaximumAttempts: 3}})
	var out string
	err := workflow.ExecuteActivity(ctx, "silent").Get(ctx, &out)
	return out, err
}

func newKeepaliveWorker(c client.Client, queue string, k *keepalive, started chan<- time.Time) worker.Worker {
	w := worker.New(c, queue, worker.Options{Interceptors: []interceptor.WorkerInterceptor{k}, MaxHeartbeatThrottleInterval: heartbeatThrottle,
		StickyScheduleToStartTimeout: stickyTimeout})
	w.RegisterWorkflowWithOptions(keepaliveWorkflow, workflow.RegisterOptions{Name: "keepalive"})
	w.RegisterActivityWithOptions(silentStep(started), activity.RegisterOptions{Name: "silent"})
	return w
}

func runKeepaliveWorker() int {
	tc, err := temporaltls.FromEnv().Config()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	c, err := client.Dial(client.Options{HostPort: os.Getenv(envKeepaliveWorker), ConnectionOptions: client.ConnectionOptions{TLS: tc}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	w := newKeepaliveWorker(c, os.Getenv(envKeepaliveQueue), newKeepalive(), nil)
	if err := w.Run(worker.InterruptCh()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// TestKeepaliveSIGKILLedWorker runs a step that heartbeats once and then
// stays silent in a worker process, SIGKILLs that process after the
// keepalive has heartbeated for it, and checks that another worker ran the
// next attempt after the heartbeat timeout (5 s, not the 20 s the silence
// limit allows a live worker's step), resuming from the step's own
// heartbeat details, which keepalive repeated rather than cleared.
func TestKeepaliveSIGKILLedWorker(t *testing.T) {
	env := devtest.Get(t)
	ctx := t.Context()
	c := env.TemporalClient(t)
	queue := fmt.Sprintf("keepalive-%d", time.Now().UnixNano())

	var logs bytes.Buffer
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envKeepaliveWorker+"="+env.TemporalAddress, envKeepaliveQueue+"="+queue,
		temporaltls.EnvCert+"="+env.TemporalTLS.Cert, temporaltls.EnvKey+"="+env.TemporalTLS.Key,
		temporaltls.EnvCA+"="+env.TemporalTLS.CA, temporaltls.EnvServerName+"="+env.TemporalTLS.ServerName)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: queue, WorkflowExecutionTimeout: 5 * time.Minute}, "keepalive")
	if err != nil {
		t.Fatal(err)
	}

	waitKeepaliveHeartbeats(ctx, t, c, run, logs.String)

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	_ = cmd.Wait()
	started := make(chan time.Time, 4)
	b := newKeepaliveWorker(c, queue, newKeepalive(), started)
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	defer b.Stop()
	var out string
	if err := run.Get(ctx, &out); err != nil {
		t.Fatal(err)
	}
	finished := time.Now()
	attempt2 := <-started
	after := attempt2.Sub(killed)
	t.Logf("the next attempt started %s after the SIGKILL: %s; the workflow finished %s after that (its next workflow task waited on the dead worker's sticky queue)",
		after.Round(time.Millisecond), out, finished.Sub(attempt2).Round(time.Millisecond))
	if want := `attempt 2 resumed from "copied 42"`; out != want {
		t.Errorf("result %q, want %q", out, want)
	}
	// The silence limit is 20 s: a dead worker's step that waited for it
	// would start again after 20 s or more.
	if after >= keepaliveSilence {
		t.Errorf("the next attempt started %s after the kill, want the heartbeat timeout (%s)", after, flow.HeartbeatTimeout)
	}
	if f := attempt2Failure(ctx, t, c, run); f.GetTimeoutFailureInfo().GetTimeoutType() != enums.TIMEOUT_TYPE_HEARTBEAT {
		t.Errorf("attempt 2 started after %v, want a heartbeat timeout", f)
	}
}

// TestKeepaliveLetsAHungStepTimeOut: a step that stops heartbeating in a
// live worker is spoken for (the server's last heartbeat time moves on
// while the step is silent) only until the silence limit (6 s here: three
// of the SDK's 2 s sends), then times out as before the keepalive and runs
// again.
func TestKeepaliveLetsAHungStepTimeOut(t *testing.T) {
	env := devtest.Get(t)
	ctx := t.Context()
	c := env.TemporalClient(t)
	queue := fmt.Sprintf("keepalive-hung-%d", time.Now().UnixNano())
	started := make(chan time.Time, 4)
	w := newKeepaliveWorker(c, queue, &keepalive{every: keepaliveEvery, silence: 6 * time.Second}, started)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: queue, WorkflowExecutionTimeout: 5 * time.Minute}, "keepalive")
	if err != nil {
		t.Fatal(err)
	}
	waitKeepaliveHeartbeats(ctx, t, c, run, func() string { return "(in this process)" })
	var out string
	if err := run.Get(ctx, &out); err != nil {
		t.Fatal(err)
	}
	first, second := <-started, <-started
	t.Logf("attempt 2 started %s after attempt 1: %s", second.Sub(first).Round(time.Millisecond), out)
	if !strings.HasPrefix(out, "attempt 2 ") {
		t.Errorf("result %q, want attempt 2's", out)
	}
	if f := attempt2Failure(ctx, t, c, run); f.GetTimeoutFailureInfo().GetTimeoutType() != enums.TIMEOUT_TYPE_HEARTBEAT {
		t.Errorf("attempt 2 started after %v, want a heartbeat timeout", f)
	}
}

// waitKeepaliveHeartbeats waits until the server's last heartbeat time of
// the step's first attempt has moved 2 s past the step's own single
// heartbeat: the keepalive speaks for the silent step. logs is the worker's
// output, printed when it does not.
func waitKeepaliveHeartbeats(ctx context.Context, t *testing.T, c client.Client, run client.WorkflowRun, logs func() string) {
	t.Helper()
	var first time.Time
	deadline := time.Now().Add(time.Minute)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("no keepalive heartbeats seen (first heartbeat %v); worker output:\n%s", first, logs())
		}
		d, err := c.DescribeWorkflowExecution(ctx, run.GetID(), run.GetRunID())
		if err != nil {
			t.Fatal(err)
		}
		if pa := d.GetPendingActivities(); len(pa) == 1 && pa[0].GetLastHeartbeatTime() != nil {
			if pa[0].GetAttempt() != 1 {
				t.Fatalf("attempt %d before the keepalive was seen; worker output:\n%s", pa[0].GetAttempt(), logs())
			}
			hb := pa[0].GetLastHeartbeatTime().AsTime()
			if first.IsZero() {
				first = hb
			} else if hb.Sub(first) >= 2*time.Second {
				t.Logf("step heartbeated at %s, keepalive until %s (+%s)", first.Format(time.StampMilli), hb.Format(time.StampMilli), hb.Sub(first).Round(time.Millisecond))
				return
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// attempt2Failure returns the failure the second ActivityTaskStarted event
// names as the reason for its attempt.
func attempt2Failure(ctx context.Context, t *testing.T, c client.Client, run client.WorkflowRun) *failurepb.Failure {
	t.Helper()
	it := c.GetWorkflowHistory(ctx, run.GetID(), run.GetRunID(), false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := ev.GetActivityTaskStartedEventAttributes(); a != nil && a.GetAttempt() == 2 {
			return a.GetLastFailure()
		}
	}
	t.Fatal("no ActivityTaskStarted event of attempt 2")
	return nil
}

// TestRawDetails: what keepalive repeats is the details as they were when
// the step heartbeated, decoded the same way.
func TestRawDetails(t *testing.T) {
	type progress struct {
		Done []int `json:"done"`
	}
	p := progress{Done: []int{1, 2}}
	raw := rawDetails([]any{p, "copying"})
	p.Done[0] = 99
	ps, err := converter.GetDefaultDataConverter().ToPayloads(raw...)
	if err != nil {
		t.Fatal(err)
	}
	var got progress
	var s string
	if err := converter.GetDefaultDataConverter().FromPayloads(ps, &got, &s); err != nil {
		t.Fatal(err)
	}
	if len(got.Done) != 2 || got.Done[0] != 1 || s != "copying" {
		t.Fatalf("repeated %+v %q, want {Done:[1 2]} and copying", got, s)
	}
	if rawDetails(nil) != nil || rawDetails([]any{nil}) != nil {
		t.Fatal("no details must stay no details")
	}
}

// slowEnd stands for the audit step interceptor writing a step's end record
// while the database is down: it holds the activity for hold after the step
// returned, and fails it if the activity's context is cancelled meanwhile.
type slowEnd struct {
	interceptor.WorkerInterceptorBase
	hold time.Duration
}

func (s *slowEnd) InterceptActivity(_ context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &slowEndInbound{ActivityInboundInterceptorBase: interceptor.ActivityInboundInterceptorBase{Next: next}, hold: s.hold}
}

type slowEndInbound struct {
	interceptor.ActivityInboundInterceptorBase
	hold time.Duration
}

func (s *slowEndInbound) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	res, err := s.Next.ExecuteActivity(ctx, in)
	if err != nil {
		return res, err
	}
	select {
	case <-ctx.Done():
		return nil, temporal.NewNonRetryableApplicationError("cancelled while the step's end was recorded: "+context.Cause(ctx).Error(), "Cancelled", nil)
	case <-time.After(s.hold):
	}
	return res, nil
}

// heartbeatThenReturn heartbeats on its own context (the handover
// interceptor's, cancelled as the step returns) and returns 1.5 s later,
// with keepalive's repeat pending in the SDK's throttle window.
func heartbeatThenReturn(ctx context.Context) (string, error) {
	activity.RecordHeartbeat(ctx, "copied 7")
	time.Sleep(1500 * time.Millisecond)
	return "done", nil
}

func heartbeatThenReturnWorkflow(ctx workflow.Context) (string, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute, HeartbeatTimeout: flow.HeartbeatTimeout,
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 1}})
	var out string
	err := workflow.ExecuteActivity(ctx, "heartbeat-then-return").Get(ctx, &out)
	return out, err
}

// TestWorkAfterTheStepReturned: with the worker's interceptors in their
// order, the work an outer interceptor does after the step returned (the
// step's audit record, which waits out a database outage) is not cancelled
// by the SDK sending a throttled heartbeat on the step's context, which the
// step's return cancelled. Before the fix the activity was cancelled 2 s
// after the step's heartbeat.
func TestWorkAfterTheStepReturned(t *testing.T) {
	env := devtest.Get(t)
	ctx := t.Context()
	c := env.TemporalClient(t)
	queue := fmt.Sprintf("after-step-%d", time.Now().UnixNano())
	w := worker.New(c, queue, worker.Options{
		Interceptors:                 workerInterceptors(&slowEnd{hold: 4 * time.Second}, &interceptor.WorkerInterceptorBase{}),
		MaxHeartbeatThrottleInterval: heartbeatThrottle, StickyScheduleToStartTimeout: stickyTimeout})
	w.RegisterWorkflowWithOptions(heartbeatThenReturnWorkflow, workflow.RegisterOptions{Name: "heartbeat-then-return"})
	w.RegisterActivityWithOptions(heartbeatThenReturn, activity.RegisterOptions{Name: "heartbeat-then-return"})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: queue, WorkflowExecutionTimeout: time.Minute}, "heartbeat-then-return")
	if err != nil {
		t.Fatal(err)
	}
	var out string
	if err := run.Get(ctx, &out); err != nil || out != "done" {
		t.Fatalf("workflow: %q, %v", out, err)
	}
}
