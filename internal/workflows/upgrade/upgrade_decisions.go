package upgrade

import (
	"fmt"

	"github.com/dayops/dayops/internal/activities/redisops"
	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/operation"
	"go.temporal.io/sdk/workflow"
)

// The upgrade's decisions: the approve and abort updates, the pause and
// resume signals, and the audit records they and the gate results leave,
// written at the next checkpoint. What a decision may do in which state is
// the gate's (gate.go).

// fire applies e to the gate, or says why it is refused.
func (u *upgrader) fire(kind gateEventKind, by Decision) error {
	g, err := next(u.g, gateEvent{kind: kind, by: by})
	if err != nil {
		return err
	}
	u.g = g
	return nil
}

func (u *upgrader) handlers(ctx workflow.Context) error {
	valid := func(kind gateEventKind) func(workflow.Context, Decision) error {
		return func(_ workflow.Context, d Decision) error {
			_, err := next(u.g, gateEvent{kind: kind, by: d})
			return err
		}
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateApprove, func(ctx workflow.Context, d Decision) (DecisionResult, error) {
		if err := u.fire(evApprove, d); err != nil {
			return DecisionResult{}, err
		}
		u.prog.ApprovedBy = d.Actor
		u.decided(ctx, &d, "approve", "approved by "+who(d), "", false)
		return DecisionResult{Accepted: true, Stage: u.prog.Stage, Message: "approved by " + who(d)}, nil
	}, workflow.UpdateHandlerOptions{Validator: valid(evApprove), Description: "let the upgrade go on after its canary"}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateAbort, func(ctx workflow.Context, d Decision) (DecisionResult, error) {
		if err := u.fire(evAbort, d); err != nil {
			return DecisionResult{}, err
		}
		u.prog.AbortedBy = d.Actor
		u.decided(ctx, &d, "abort", "aborted by "+who(d), "", false)
		return DecisionResult{Accepted: true, Stage: u.prog.Stage, Message: "aborted by " + who(d) + ": rolling back"}, nil
	}, workflow.UpdateHandlerOptions{Validator: valid(evAbort), Description: "stop the upgrade and roll back what it changed"}); err != nil {
		return err
	}
	pause, resume := workflow.GetSignalChannel(ctx, SignalPause), workflow.GetSignalChannel(ctx, SignalResume)
	workflow.Go(ctx, func(ctx workflow.Context) {
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(pause, func(c workflow.ReceiveChannel, _ bool) {
			var d Decision
			c.Receive(ctx, &d)
			if u.fire(evPause, d) == nil {
				u.prog.Paused, u.prog.PausedBy = true, d.Actor
				u.decided(ctx, &d, "pause", "paused by "+who(d), "", false)
			}
		})
		sel.AddReceive(resume, func(c workflow.ReceiveChannel, _ bool) {
			var d Decision
			c.Receive(ctx, &d)
			if u.fire(evResume, d) == nil {
				u.prog.Paused, u.prog.PausedBy = false, ""
				u.decided(ctx, &d, "resume", "resumed by "+who(d), "", false)
			}
		})
		for {
			sel.Select(ctx)
		}
	})
	return nil
}

func who(d Decision) string {
	if d.Reason == "" {
		return d.Actor
	}
	return d.Actor + " (" + d.Reason + ")"
}

// note is an audit record waiting for the next checkpoint; a decision's
// record carries its decider as the event's actor.
type note struct {
	by      *Decision
	payload []audit.Payload
}

// note queues an audit record of a gate result or an event of the upgrade
// itself: a step of its own (started and completed, or failed), written at
// the next checkpoint with the requester as actor.
func (u *upgrader) note(ctx workflow.Context, kind, detail, target string, failed bool) {
	u.decided(ctx, nil, kind, detail, target, failed)
}

// decided queues the record of a decision (approve, abort, pause, resume)
// whose audit events name the decider as their actor and carry its reason.
func (u *upgrader) decided(ctx workflow.Context, by *Decision, kind, detail, target string, failed bool) {
	u.noteSeq++
	id := fmt.Sprintf("upgrade/%s/%d", kind, u.noteSeq)
	m := u.r.Meta
	n := note{by: by, payload: []audit.Payload{&audit.StepStarted{OperationID: m.OperationID, Cluster: m.ClusterKey(), StepID: id, Name: kind, Target: target}}}
	if failed {
		n.payload = append(n.payload, &audit.StepFailed{OperationID: m.OperationID, Cluster: m.ClusterKey(), StepID: id, Error: detail, ErrorType: redisops.ErrTypeGateFailed})
	} else {
		n.payload = append(n.payload, &audit.StepCompleted{OperationID: m.OperationID, Cluster: m.ClusterKey(), StepID: id, Detail: detail})
	}
	u.notes = append(u.notes, n)
	u.r.Progress.Publish(ctx)
}

// flush writes the queued records: consecutive records of one actor in one
// step.
func (u *upgrader) flush(ctx workflow.Context) error {
	r := u.r
	for len(u.notes) > 0 {
		by := u.notes[0].by
		var batch []audit.Payload
		for len(u.notes) > 0 && u.notes[0].by == by {
			batch = append(batch, u.notes[0].payload...)
			u.notes = u.notes[1:]
		}
		if by == nil {
			if err := r.Record(ctx, batch...); err != nil {
				return err
			}
			continue
		}
		m := r.Meta
		m.Actor, m.Reason = by.Actor, by.Reason
		if err := r.Record(operation.WithMeta(ctx, m), batch...); err != nil {
			return err
		}
	}
	return nil
}

// checkpoint runs between two instance steps: it writes pending decision
// records, holds while paused, and stops the forward pass on an abort.
func (u *upgrader) checkpoint(ctx workflow.Context) error {
	r := u.r
	if err := u.flush(ctx); err != nil {
		return err
	}
	if u.g.aborting() {
		return u.abortError()
	}
	if u.g.paused {
		stage := u.prog.Stage
		r.Phase(ctx, "paused", "paused by "+u.prog.PausedBy)
		if err := workflow.Await(ctx, func() bool { return !u.g.paused || u.g.aborting() }); err != nil {
			return err
		}
		r.Phase(ctx, stage, "")
		if err := u.flush(ctx); err != nil {
			return err
		}
		if u.g.aborting() {
			return u.abortError()
		}
	}
	return nil
}

func (u *upgrader) abortError() error {
	return &stopError{abort: true, reason: "aborted by " + who(u.g.abortedBy)}
}
