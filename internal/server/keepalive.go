package server

import (
	"context"
	"sync"
	"time"

	"github.com/dayops/dayops/internal/tick"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
)

// Heartbeat timing of the worker. Together they split the two things a
// heartbeat timeout used to decide at once:
//
//   - a worker that died (SIGKILL, a lost node) stops heartbeating: Temporal
//     retries its step on another worker after the step's HeartbeatTimeout
//     (flow.HeartbeatTimeout, 5 s), because keepalive has a heartbeat of
//     every activity of a live worker pending each second, which the SDK
//     sends every heartbeatThrottle (2 s: 3 s to spare under load, where
//     the SDK's default, 80% of the timeout, would leave 1 s). Its cost: an
//     idle guardian's watch (one running step per cluster) spent 30 of the
//     worker's 570 ms of CPU in a 40 s profile on the heartbeat path;
//   - a step that hangs in a live worker (a call that never returns) stops
//     calling RecordHeartbeat itself: keepalive stops speaking for it after
//     keepaliveSilence (20 s, the heartbeat timeout steps had before), and
//     the step times out 5 s later, as it did.
//
// stickyTimeout is how long a workflow's next task waits for the worker that
// has the workflow cached before any worker may take it (the SDK's default is
// 5 s): after a SIGKILL that worker is gone, and every operation it ran
// waited 5.0 s more (TestKeepaliveSIGKILLedWorker logs it). A live worker
// that misses it only replays the history on its next task.
const (
	stickyTimeout     = 2 * time.Second
	keepaliveEvery    = time.Second
	keepaliveSilence  = 20 * time.Second
	heartbeatThrottle = 2 * time.Second
)

// keepalive heartbeats each running activity that has a heartbeat timeout,
// every keepaliveEvery, repeating the details of the activity's own last
// heartbeat (so resuming from them is unchanged), for as long as the
// activity itself heartbeated (or started) within silence. Measured before
// it: a SIGKILLed worker's migration step resumed 20 s after the kill (its
// heartbeat timeout).
type keepalive struct {
	interceptor.WorkerInterceptorBase
	every, silence time.Duration
}

func newKeepalive() *keepalive { return &keepalive{every: keepaliveEvery, silence: keepaliveSilence} }

func (k *keepalive) InterceptActivity(_ context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	return &keepaliveInbound{ActivityInboundInterceptorBase: interceptor.ActivityInboundInterceptorBase{Next: next}, k: k}
}

type keepaliveInbound struct {
	interceptor.ActivityInboundInterceptorBase
	k   *keepalive
	out *keepaliveOutbound
}

// keepaliveOutbound notes the activity's own heartbeats on their way out;
// next is what keepalive sends its repeats through.
type keepaliveOutbound struct {
	interceptor.ActivityOutboundInterceptorBase
	mu      sync.Mutex
	details []any
	last    time.Time
}

// RecordHeartbeat keeps the details encoded as they are now (with the
// default converter, dayops' only one): a step may go on changing what it
// passed (a progress struct's slices) while keepalive repeats it. The
// heartbeat goes on with ctx's values but not its cancellation (uncancelled).
func (o *keepaliveOutbound) RecordHeartbeat(ctx context.Context, details ...any) {
	kept := rawDetails(details)
	o.mu.Lock()
	o.details, o.last = kept, time.Now()
	o.mu.Unlock()
	o.Next.RecordHeartbeat(uncancelled(ctx), details...)
}

// uncancelled is ctx without its cancellation. The SDK sends a throttled
// heartbeat up to heartbeatThrottle later on the context of the heartbeat
// that opened the throttle window; when that context is cancelled by then
// (the handover interceptor's, or a step's own, cancelled as the step
// returns), the send fails with context.Canceled, which the SDK takes for
// a failed RPC and answers by cancelling the whole activity: the audit
// record of a step's end, still being written, was cut off that way during a
// database outage (TestOperationsEndToEnd, 2026-12-05). The RPC keeps the
// SDK's own timeout.
func uncancelled(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

// rawDetails encodes details into raw payloads, which the converter sends
// as they are; details that do not encode are kept as nothing (the step's
// own heartbeat reports the error).
func rawDetails(details []any) []any {
	if len(details) == 0 || (len(details) == 1 && details[0] == nil) {
		return nil
	}
	ps, err := converter.GetDefaultDataConverter().ToPayloads(details...)
	if err != nil {
		return nil
	}
	raw := make([]any, len(ps.GetPayloads()))
	for n, p := range ps.GetPayloads() {
		raw[n] = converter.NewRawValue(p)
	}
	return raw
}

// repeat returns the details to send again, or false once the activity has
// been silent for longer than silence.
func (o *keepaliveOutbound) repeat(now time.Time, silence time.Duration) ([]any, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if now.Sub(o.last) > silence {
		return nil, false
	}
	return o.details, true
}

func (i *keepaliveInbound) Init(outbound interceptor.ActivityOutboundInterceptor) error {
	i.out = &keepaliveOutbound{ActivityOutboundInterceptorBase: interceptor.ActivityOutboundInterceptorBase{Next: outbound}}
	return i.Next.Init(i.out)
}

// maxDetails bounds how many heartbeat details keepalive carries over from
// an earlier attempt (dayops' activities send one or two).
const maxDetails = 8

// previousDetails returns the details an earlier attempt heartbeated, as raw
// payloads: until this attempt heartbeats itself, keepalive repeats them, so
// that a worker dying before then leaves the next attempt what this one got
// (a heartbeat replaces the details Temporal keeps).
func (i *keepaliveInbound) previousDetails(ctx context.Context) []any {
	if !i.out.Next.HasHeartbeatDetails(ctx) {
		return nil
	}
	raw := make([]converter.RawValue, maxDetails)
	ptrs := make([]any, maxDetails)
	for n := range raw {
		ptrs[n] = &raw[n]
	}
	if err := i.out.Next.GetHeartbeatDetails(ctx, ptrs...); err != nil {
		return nil
	}
	var details []any
	for _, r := range raw {
		if r.Payload() == nil {
			break
		}
		details = append(details, r)
	}
	return details
}

func (i *keepaliveInbound) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	if activity.GetInfo(ctx).HeartbeatTimeout <= 0 {
		return i.Next.ExecuteActivity(ctx, in)
	}
	i.out.mu.Lock()
	i.out.details, i.out.last = i.previousDetails(ctx), time.Now()
	i.out.mu.Unlock()
	stop := tick.Go(ctx, i.k.every, func(now time.Time) bool {
		details, ok := i.out.repeat(now, i.k.silence)
		if ok {
			i.out.Next.RecordHeartbeat(uncancelled(ctx), details...)
		}
		return ok
	})
	defer stop()
	return i.Next.ExecuteActivity(ctx, in)
}
