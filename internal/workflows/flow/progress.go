package flow

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"
)

// Tracker is the one place an operation's progress lives: the progress query
// answers from it, the Temporal UI's current details mirror it, and the
// Result carries a snapshot of it. The run holds one tracker and every
// coroutine of the operation (an upgrade batch, a decision record) updates
// that one through the run; none keeps a copy of its own.
type Tracker struct {
	Progress
	// namespace and cluster name the operation's cluster in the details.
	namespace, cluster string
}

func newTracker(ctx workflow.Context, m Meta) *Tracker {
	now := workflow.Now(ctx)
	return &Tracker{
		Progress:  Progress{OperationID: m.OperationID, Type: m.Type, Phase: "starting", StartedAt: now, UpdatedAt: now},
		namespace: m.Namespace, cluster: m.Cluster,
	}
}

// snapshot is the progress as it stands, for the query and the Result.
func (t *Tracker) snapshot() Progress { return t.Progress }

// phase sets the phase and the sentence shown for the step under way.
func (t *Tracker) phase(ctx workflow.Context, phase, step string) {
	t.Phase, t.Step = phase, step
	t.UpdatedAt = workflow.Now(ctx)
	t.Publish(ctx)
}

// stepStarted shows a step under way; the total grows if the estimate was
// short.
func (t *Tracker) stepStarted(ctx workflow.Context, summary string) {
	t.Step = summary
	t.StepsTotal = max(t.StepsTotal, t.StepsDone+1)
	t.Publish(ctx)
}

// stepDone counts a step that completed.
func (t *Tracker) stepDone(ctx workflow.Context) {
	t.StepsDone++
	t.UpdatedAt = workflow.Now(ctx)
	t.Publish(ctx)
}

// End marks the operation ended with outcome.
func (t *Tracker) End(ctx workflow.Context, outcome Outcome, msg string) {
	t.Done, t.Outcome, t.Message = true, outcome, msg
	t.Phase, t.Step = string(outcome), ""
	t.UpdatedAt = workflow.Now(ctx)
	t.Publish(ctx)
}

// Publish mirrors progress into the workflow's current details (Temporal UI).
func (t *Tracker) Publish(ctx workflow.Context) {
	p := t.Progress
	var b strings.Builder
	fmt.Fprintf(&b, "**%s** %s/%s: %s\n\n", p.Type, t.namespace, t.cluster, p.Phase)
	if p.Step != "" {
		fmt.Fprintf(&b, "Now: %s\n\n", p.Step)
	}
	fmt.Fprintf(&b, "Steps: %d/%d\n", p.StepsDone, p.StepsTotal)
	if p.SlotsTotal > 0 {
		fmt.Fprintf(&b, "\nSlots: %d/%d moved, %d keys, %.0f keys/s", p.SlotsMoved, p.SlotsTotal, p.KeysMoved, p.KeysPerSecond)
		if p.ETA > 0 {
			fmt.Fprintf(&b, ", ETA %s", p.ETA.Round(time.Second))
		}
		b.WriteString("\n")
	}
	if p.Done {
		fmt.Fprintf(&b, "\nOutcome: %s %s\n", p.Outcome, p.Message)
	}
	workflow.SetCurrentDetails(ctx, b.String())
}
