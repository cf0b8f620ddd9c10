package upgrade

import (
	"strings"
	"testing"
)

// TestGateNext covers every (state, event) pair: each phase, paused or not,
// with each event. An outcome is the phase after the event, "paused" or
// "running" for pause and resume, or "!" and part of the refusal.
func TestGateNext(t *testing.T) {
	by := Decision{Actor: "alice", Reason: "why"}
	//               approve, auto-approve, abort, pause, resume, roll, finish, roll-back, end
	want := map[gatePhase][9]string{
		gateAwaiting:    {"approved", "approved", "aborted", "", "", "!cannot roll", "!cannot finish", "rolling-back", "ended"},
		gateApproved:    {"!already approved by bob", "!no auto-approval", "aborted", "", "", "rolling", "!cannot finish", "rolling-back", "ended"},
		gateRolling:     {"!already approved by bob", "!no auto-approval", "aborted", "", "", "!cannot roll", "finishing", "rolling-back", "ended"},
		gateFinishing:   {"!already approved by bob", "!no auto-approval", "!nothing left to abort", "", "", "!cannot roll", "!cannot finish", "rolling-back", "ended"},
		gateAborted:     {"!is rolling back (gate failed)", "!no auto-approval", "!already rolling back (gate failed)", "", "", "!cannot roll", "finishing", "rolling-back", "ended"},
		gateRollingBack: {"!is rolling back (gate failed)", "!no auto-approval", "!already rolling back (gate failed)", "", "", "!cannot roll", "!cannot finish", "!cannot roll back", "ended"},
		gateEnded:       {"!has ended", "!no auto-approval", "!has ended", "", "", "!cannot roll", "!cannot finish", "!cannot roll back", "!has ended"},
	}
	// Pause and resume depend on whether the upgrade is paused and ended only.
	pauseResume := func(p gatePhase, paused bool) [2]string {
		switch {
		case p == gateEnded:
			return [2]string{"!ignored", "!ignored"}
		case paused:
			return [2]string{"!ignored", "running"}
		default:
			return [2]string{"paused", "!ignored"}
		}
	}
	for p := gateAwaiting; p <= gateEnded; p++ {
		for _, paused := range []bool{false, true} {
			for k := evApprove; k <= evEnd; k++ {
				g := gate{phase: p, paused: paused, reason: "gate failed"}
				if p == gateApproved || p == gateRolling || p == gateFinishing {
					g.approved, g.approvedBy = true, Decision{Actor: "bob"}
				}
				w := want[p][k]
				if k == evPause || k == evResume {
					w = pauseResume(p, paused)[k-evPause]
				}
				got, err := next(g, gateEvent{kind: k, by: by})
				name := p.String() + "/" + k.String()
				if paused {
					name += "/paused"
				}
				if refusal, ok := strings.CutPrefix(w, "!"); ok {
					if err == nil || !strings.Contains(err.Error(), refusal) {
						t.Errorf("%s: error %v, want %q", name, err, refusal)
					}
					if got != g {
						t.Errorf("%s: a refused event changed the gate: %+v", name, got)
					}
					continue
				}
				if err != nil {
					t.Errorf("%s: %v", name, err)
					continue
				}
				var outcome string
				switch k {
				case evPause, evResume:
					outcome = map[bool]string{true: "paused", false: "running"}[got.paused]
					if got.phase != p {
						t.Errorf("%s: phase %s, want %s", name, got.phase, p)
					}
				default:
					outcome = got.phase.String()
					if got.paused != paused {
						t.Errorf("%s: paused %v, want %v", name, got.paused, paused)
					}
				}
				if outcome != w {
					t.Errorf("%s: %s, want %s", name, outcome, w)
				}
			}
		}
	}
}

// TestGateDecisions: what a transition remembers, and the refusals that do
// not depend on the phase.
func TestGateDecisions(t *testing.T) {
	g, err := next(gate{}, gateEvent{kind: evApprove, by: Decision{Actor: "carol"}})
	if err != nil || !g.approved || g.approvedBy.Actor != "carol" {
		t.Fatalf("approve: %+v %v", g, err)
	}
	g, err = next(g, gateEvent{kind: evAbort, by: Decision{Actor: "dave", Reason: "odd"}})
	if err != nil || !g.aborting() || g.abortedBy.Reason != "odd" || !g.approved {
		t.Fatalf("abort: %+v %v", g, err)
	}
	g, err = next(g, gateEvent{kind: evRollBack, by: Decision{Reason: "aborted by dave (odd)"}})
	if err != nil || !g.rollingBack() || g.aborting() || g.reason != "aborted by dave (odd)" {
		t.Fatalf("roll back: %+v %v", g, err)
	}
	for _, k := range []gateEventKind{evApprove, evAbort} {
		if _, err := next(gate{}, gateEvent{kind: k}); err == nil || !strings.Contains(err.Error(), "names its actor") {
			t.Errorf("%s without an actor: %v", k, err)
		}
	}
	if _, err := next(gate{}, gateEvent{kind: gateEventKind(99)}); err == nil {
		t.Error("an unknown event was accepted")
	}
}
