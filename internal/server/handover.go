package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
)

// ErrTypeWorkerStopping is the (retryable) failure of an activity that a
// stopping worker handed back to Temporal.
const ErrTypeWorkerStopping = "WorkerStopping"

// workerStopTimeout is how long a stopping worker waits for its running
// activities to hand their work back (they are told at once; the Pod's grace
// period is longer).
const workerStopTimeout = 15 * time.Second

// handover makes a stopping worker (SIGTERM: a rolled Deployment, a drained
// node, a deleted Pod) hand its running activities back at once instead of
// leaving them to the heartbeat timeout. When Stop is called, each running
// activity's context is cancelled; an activity that returns because of it
// fails with a retryable WorkerStopping error, which the worker reports to
// Temporal before Stop returns (WorkerStopTimeout), so another worker runs
// the next attempt about a second later, resuming from the heartbeat's
// progress. Measured before it: ~21 s from a worker Pod's deletion to the
// next attempt (the 20 s heartbeat timeout). It sits inside the audit step
// interceptor, which sees a retryable error and so records no step end.
type handover struct {
	interceptor.WorkerInterceptorBase
}

func (*handover) InterceptActivity(_ context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &handoverInbound{ActivityInboundInterceptorBase: interceptor.ActivityInboundInterceptorBase{Next: next}}
}

type handoverInbound struct {
	interceptor.ActivityInboundInterceptorBase
}

var errWorkerStopping = errors.New("the worker is stopping")

func (h *handoverInbound) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	stop := activity.GetWorkerStopChannel(ctx)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-stop:
			cancel(errWorkerStopping)
		case <-done:
		}
	}()
	res, err := h.Next.ExecuteActivity(ctx, in)
	if err != nil && errors.Is(context.Cause(ctx), errWorkerStopping) {
		return nil, temporal.NewApplicationError(fmt.Sprintf("handed back by a stopping worker: %v", err), ErrTypeWorkerStopping)
	}
	return res, err
}
