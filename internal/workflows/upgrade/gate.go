package upgrade

import (
	"errors"
	"fmt"
)

// gatePhase is where an upgrade stands with respect to the decisions people
// (or autoApprove) take about it.
type gatePhase int

const (
	// gateAwaiting: the canary is upgrading or baking; no approval yet.
	gateAwaiting gatePhase = iota
	// gateApproved: approved, the canary stage is not over yet.
	gateApproved
	// gateRolling: past the approval, the remaining shards follow.
	gateRolling
	// gateFinishing: every shard is upgraded; nothing left to abort.
	gateFinishing
	// gateAborted: an abort was accepted; the forward pass stops at its next
	// checkpoint.
	gateAborted
	// gateRollingBack: the changed instances go back to the previous spec.
	gateRollingBack
	// gateEnded: the workflow is closing.
	gateEnded
)

var gatePhaseNames = [...]string{"awaiting", "approved", "rolling", "finishing", "aborted", "rolling-back", "ended"}

func (p gatePhase) String() string { return gatePhaseNames[p] }

// gateEventKind names what happens to the gate: a person's decision (the
// approve and abort updates, the pause and resume signals) or a step of the
// workflow itself.
type gateEventKind int

const (
	evApprove gateEventKind = iota
	evAutoApprove
	evAbort
	evPause
	evResume
	evRoll     // the forward pass goes past the canary
	evFinish   // every shard is upgraded
	evRollBack // the forward pass stopped; changed instances go back
	evEnd      // the workflow closes
)

var gateEventNames = [...]string{"approve", "auto-approve", "abort", "pause", "resume", "roll", "finish", "roll-back", "end"}

func (k gateEventKind) String() string { return gateEventNames[k] }

type gateEvent struct {
	kind gateEventKind
	by   Decision
}

// gate is the approve/abort/pause state of an upgrade. It changes only
// through next, which the update validators, the handlers and the forward
// pass share, so a validator accepts exactly what the handler applies.
type gate struct {
	phase  gatePhase
	paused bool
	// approvedBy and abortedBy are the decisions taken (approvedBy also for
	// autoApprove).
	approvedBy, abortedBy Decision
	approved              bool
	// reason is why the upgrade rolls back, shown in a refusal.
	reason string
}

// errGateIgnored refuses a pause or resume that changes nothing (a signal
// has no caller to tell; the workflow ignores it).
var errGateIgnored = errors.New("ignored")

// next is the gate's transition function: the state after e, or an error
// saying why e is refused in g (then g stays as it is). It is pure.
func next(g gate, e gateEvent) (gate, error) {
	ended := g.phase == gateEnded
	back := g.phase == gateAborted || g.phase == gateRollingBack
	switch e.kind {
	case evApprove:
		switch {
		case ended:
			return g, errors.New("the upgrade has ended")
		case back:
			return g, fmt.Errorf("the upgrade is rolling back (%s)", g.reason)
		case g.approved:
			return g, fmt.Errorf("already approved by %s", g.approvedBy.Actor)
		case g.phase == gateRolling || g.phase == gateFinishing:
			return g, errors.New("the upgrade is past its approval")
		case e.by.Actor == "":
			return g, errors.New("an approval names its actor")
		}
		g.phase, g.approved, g.approvedBy = gateApproved, true, e.by
	case evAutoApprove:
		if g.approved || g.phase != gateAwaiting {
			return g, fmt.Errorf("no auto-approval in phase %s", g.phase)
		}
		g.phase, g.approved, g.approvedBy = gateApproved, true, e.by
	case evAbort:
		switch {
		case ended:
			return g, errors.New("the upgrade has ended")
		case back:
			return g, fmt.Errorf("the upgrade is already rolling back (%s)", g.reason)
		case g.phase == gateFinishing:
			return g, errors.New("every shard is upgraded already: nothing left to abort")
		case e.by.Actor == "":
			return g, errors.New("an abort names its actor")
		}
		g.phase, g.abortedBy = gateAborted, e.by
	case evPause:
		if g.paused || ended {
			return g, errGateIgnored
		}
		g.paused = true
	case evResume:
		if !g.paused || ended {
			return g, errGateIgnored
		}
		g.paused = false
	case evRoll:
		if g.phase != gateApproved {
			return g, fmt.Errorf("cannot roll on in phase %s", g.phase)
		}
		g.phase = gateRolling
	case evFinish:
		// From gateAborted too: an abort accepted after the last checkpoint
		// comes too late, and the upgrade finishes.
		if g.phase != gateRolling && g.phase != gateAborted {
			return g, fmt.Errorf("cannot finish in phase %s", g.phase)
		}
		g.phase = gateFinishing
	case evRollBack:
		if ended || g.phase == gateRollingBack {
			return g, fmt.Errorf("cannot roll back in phase %s", g.phase)
		}
		g.phase, g.reason = gateRollingBack, e.by.Reason
	case evEnd:
		if ended {
			return g, errors.New("the upgrade has ended")
		}
		g.phase = gateEnded
	default:
		return g, fmt.Errorf("unknown gate event %d", e.kind)
	}
	return g, nil
}

// aborting reports an abort the forward pass has not acted on yet.
func (g gate) aborting() bool { return g.phase == gateAborted }

// rollingBack reports a rollback under way.
func (g gate) rollingBack() bool { return g.phase == gateRollingBack }
