package auditlog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/eventstore"
	"github.com/dayops/dayops/internal/eventstore/outage"
	"github.com/dayops/dayops/internal/operation"
	"github.com/google/uuid"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
)

// ErrTypeNoOperation is the error of an audit write outside an operation.
const ErrTypeNoOperation = "NoOperation"

// Recorder appends events for the activity running in ctx.
type Recorder struct {
	Store *eventstore.Store
	Log   *slog.Logger
}

// Record appends payload as the seq-th event of the current activity.
func (r *Recorder) Record(ctx context.Context, seq int, causation string, p audit.Payload) (eventstore.AppendResult, error) {
	m, ok := operation.MetaFromContext(ctx)
	if !ok {
		return eventstore.AppendResult{}, errNoOperation()
	}
	info := activity.GetInfo(ctx)
	return r.record(ctx, m, EventID(m, info.WorkflowExecution.ID, info.WorkflowExecution.RunID, info.ActivityID, seq), causation, p)
}

func errNoOperation() error {
	return temporal.NewNonRetryableApplicationError(
		"audit event outside an operation: no operation metadata in the context", ErrTypeNoOperation, nil)
}

// record appends payload with the given ID for the operation m.
func (r *Recorder) record(ctx context.Context, m operation.Meta, id uuid.UUID, causation string, p audit.Payload) (eventstore.AppendResult, error) {
	ev, err := audit.NewEvent(id, p, eventstore.Metadata{
		Actor: m.Actor, Reason: m.Reason, CorrelationID: m.OperationID, CausationID: causation, Cluster: m.ClusterKey(),
	})
	if err != nil {
		return eventstore.AppendResult{}, temporal.NewNonRetryableApplicationError(err.Error(), "BadEvent", err)
	}
	res, err := r.append(ctx, audit.Stream(p), ev)
	if err != nil {
		var invalid *eventstore.InvalidEventError
		if errors.As(err, &invalid) {
			return res, temporal.NewNonRetryableApplicationError(err.Error(), "BadEvent", err)
		}
		return res, fmt.Errorf("append %s: %w", p.EventType(), err)
	}
	return res, nil
}

// appendRetryFor bounds how long Record sends an append again while the
// database is unavailable (outage.Unavailable: a restart, a failover, a
// terminated connection) before the activity fails and its retry policy
// takes over, which runs the step's work again. It stays under the worker
// keepalive's silence limit (20 s): the keepalive speaks for a step only
// while the step itself spoke or started within that time.
const appendRetryFor = 10 * time.Second

// append appends ev, again while the database is unavailable, for at most
// appendRetryFor.
func (r *Recorder) append(ctx context.Context, stream eventstore.StreamName, ev eventstore.EventData) (eventstore.AppendResult, error) {
	began := time.Now()
	res, tries, err := outage.Append(ctx, r.Store, appendRetryFor, stream, eventstore.Any(), ev)
	if err == nil && tries > 1 {
		r.log().WarnContext(ctx, "audit append went through after the database was unavailable",
			"event", ev.Type, "stream", stream.String(), "tries", tries, "waited", time.Since(began).Round(time.Millisecond))
	}
	return res, err
}

func (r *Recorder) log() *slog.Logger {
	if r.Log == nil {
		return slog.Default()
	}
	return r.Log
}

// Event is a typed payload in transit from a workflow to RecordEvents.
type Event struct {
	Type          string          `json:"type"`
	SchemaVersion int             `json:"schemaVersion"`
	Payload       json.RawMessage `json:"payload"`
	// ID, when set, is the event's ID, chosen by the workflow (WithID):
	// for an event the workflow may send again from another activity (the
	// guardian's, recorded apart from its watch), which must not be written
	// twice. Unset, the ID derives from the recording activity (EventID).
	ID uuid.UUID `json:"id,omitzero"`
}

// WithID returns the event with the given ID.
func (e Event) WithID(id uuid.UUID) Event {
	e.ID = id
	return e
}

// NewEvent wraps a typed payload for RecordEvents (deterministic: safe in a
// workflow).
func NewEvent(p audit.Payload) Event {
	b, _ := json.Marshal(p)
	return Event{Type: p.EventType(), SchemaVersion: p.SchemaVersion(), Payload: b}
}

// RecordInput carries domain events in order.
type RecordInput struct {
	Events []Event `json:"events"`
}

// RecordResult holds the global position of each event.
type RecordResult struct {
	Positions []int64 `json:"positions"`
}

// Activities is the audit activity.
type Activities struct {
	Recorder *Recorder
}

// RecordEvents appends the events, each exactly once: an event's ID is its
// own (Event.ID) or derives from this activity and the event's place in
// the input, the same for every attempt.
func (a *Activities) RecordEvents(ctx context.Context, in RecordInput) (RecordResult, error) {
	var out RecordResult
	m, ok := operation.MetaFromContext(ctx)
	if !ok {
		return out, errNoOperation()
	}
	info := activity.GetInfo(ctx)
	for i, e := range in.Events {
		p, err := audit.Decode(e.Type, e.SchemaVersion, e.Payload)
		if err != nil {
			return out, temporal.NewNonRetryableApplicationError(fmt.Sprintf("event %d: %v", i, err), "BadEvent", err)
		}
		id := e.ID
		if id == uuid.Nil {
			id = EventID(m, info.WorkflowExecution.ID, info.WorkflowExecution.RunID, info.ActivityID, i)
		}
		res, err := a.Recorder.record(ctx, m, id, "", p)
		if err != nil {
			return out, err
		}
		out.Positions = append(out.Positions, res.Positions...)
	}
	return out, nil
}

// StepTarget is implemented by activity inputs that can say, in a few words,
// what the step acts on ("shard-2", "slots 0-1364 shard-0 -> shard-3").
type StepTarget interface{ StepTarget() string }

// StepInterceptor records every activity of an operation as a step.
type StepInterceptor struct {
	interceptor.WorkerInterceptorBase
	Recorder *Recorder
}

// InterceptActivity wraps activity execution.
func (s *StepInterceptor) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	i := &stepInbound{rec: s.Recorder}
	i.Next = next
	return i
}

type stepInbound struct {
	interceptor.ActivityInboundInterceptorBase
	rec *Recorder
}

func (i *stepInbound) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	m, ok := operation.MetaFromContext(ctx)
	info := activity.GetInfo(ctx)
	if !ok || info.ActivityType.Name == "RecordEvents" {
		return i.Next.ExecuteActivity(ctx, in)
	}
	target := ""
	if len(in.Args) > 0 {
		if t, ok := in.Args[0].(StepTarget); ok {
			target = t.StepTarget()
		}
	}
	stepID := StepID(m, info.WorkflowExecution.ID, info.WorkflowExecution.RunID, info.ActivityID)
	started, err := i.rec.Record(ctx, 0, "", &audit.StepStarted{
		OperationID: m.OperationID, Cluster: m.ClusterKey(), StepID: stepID, Name: info.ActivityType.Name, Target: target,
	})
	if err != nil {
		return nil, fmt.Errorf("record step start: %w", err)
	}
	causation := ""
	if len(started.Positions) > 0 {
		causation = fmt.Sprintf("position:%d", started.Positions[0])
	}
	res, runErr := i.Next.ExecuteActivity(ctx, in)
	// The step's end is recorded on a context of its own: a step that ended
	// while its operation was being cancelled (or its worker stopped) must
	// not lose the record of how it ended. Bounded: the append's own retries
	// and a little more for a connection that hangs.
	ectx, cancel := context.WithTimeout(context.WithoutCancel(ctx), appendRetryFor+5*time.Second)
	defer cancel()
	switch {
	case runErr == nil:
		if _, err := i.rec.Record(ectx, 1, causation, &audit.StepCompleted{
			OperationID: m.OperationID, Cluster: m.ClusterKey(), StepID: stepID, Detail: target,
		}); err != nil {
			return nil, fmt.Errorf("record step completion: %w", err)
		}
	case endsStep(info, runErr):
		var app *temporal.ApplicationError
		typ := ""
		if errors.As(runErr, &app) {
			typ = app.Type()
		}
		if _, err := i.rec.Record(ectx, 1, causation, &audit.StepFailed{
			OperationID: m.OperationID, Cluster: m.ClusterKey(), StepID: stepID, Error: runErr.Error(), ErrorType: typ,
		}); err != nil {
			i.rec.log().WarnContext(ctx, "could not record a failed step", "step", stepID, "err", err)
		}
	}
	return res, runErr
}

// StepID names the step of an activity in its operation's audit records. An
// activity of the operation's own workflow (operation.WorkflowID) is named by its activity ID, as always. A child
// workflow of the operation (the upgrade's bake, <workflow>/bake-N) numbers
// its activities from the same small integers, and again in each run after
// continue-as-new, so its activity IDs are qualified by the child's name and
// run: without that, a bake's gate activity and one of the upgrade's own
// could both be "step 12" of one operation (seen in TestUpgrade).
func StepID(m operation.Meta, workflowID, runID, activityID string) string {
	prefix := operation.WorkflowID(m.Namespace, m.Cluster) + "/"
	if child, ok := strings.CutPrefix(workflowID, prefix); ok {
		return child + "/" + runID + "/" + activityID
	}
	return activityID
}

// EventID is the ID of the seq-th audit event an activity writes: the same
// for every attempt of the activity, so a retry writes nothing twice. Its
// activity part is the step ID: the activity ID in the operation's own
// workflow (the IDs events always had), qualified by the run in a child
// workflow, whose activity IDs start again after continue-as-new (a new
// run's event must not be taken for a retry of the old run's and dropped as
// a duplicate).
func EventID(m operation.Meta, workflowID, runID, activityID string, seq int) uuid.UUID {
	return eventstore.StepEventID(workflowID+"/"+m.OperationID, StepID(m, workflowID, runID, activityID), seq)
}

// endsStep reports whether this attempt's error is the step's last word.
func endsStep(info activity.Info, err error) bool {
	var app *temporal.ApplicationError
	if errors.As(err, &app) && app.NonRetryable() {
		return true
	}
	if errors.Is(err, context.Canceled) || temporal.IsCanceledError(err) {
		return true
	}
	if rp := info.RetryPolicy; rp != nil && rp.MaximumAttempts > 0 && info.Attempt >= rp.MaximumAttempts {
		return true
	}
	if rp := info.RetryPolicy; rp != nil && errors.As(err, &app) {
		for _, t := range rp.NonRetryableErrorTypes {
			if t == app.Type() {
				return true
			}
		}
	}
	return false
}
