package audittally

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/eventstore"
	"github.com/google/go-cmp/cmp"
)

func events(t *testing.T, ps ...audit.Payload) []eventstore.Event {
	t.Helper()
	var out []eventstore.Event
	for _, p := range ps {
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, eventstore.Event{Type: p.EventType(), SchemaVersion: p.SchemaVersion(), Payload: b})
	}
	return out
}

func TestOf(t *testing.T) {
	done := &audit.StepCompleted{OperationID: "op-1", StepID: "s1", Detail: "approved"}
	tests := map[string]struct {
		events []eventstore.Event
		want   Tally
	}{
		"empty": {want: Tally{Steps: map[string]int{}, Ops: map[string][]string{}}},
		"steps and operation lifecycles": {
			events: events(t,
				&audit.OperationStarted{OperationID: "op-1"},
				&audit.StepStarted{OperationID: "op-1", StepID: "s1"}, done,
				&audit.StepStarted{OperationID: "op-1", StepID: "s2"}, &audit.StepFailed{OperationID: "op-1", StepID: "s2"},
				&audit.OperationCompleted{OperationID: "op-1"},
				&audit.OperationStarted{OperationID: "op-2"}, &audit.OperationFailed{OperationID: "op-2", RolledBack: true},
				&audit.OperationStarted{OperationID: "op-3"}, &audit.OperationCancelled{OperationID: "op-3"},
				&audit.OperationStarted{OperationID: "op-4"}, &audit.OperationFailed{OperationID: "op-4"},
			),
			want: Tally{Events: 12,
				Steps: map[string]int{"op-1/s1/started": 1, "op-1/s1/ended": 1, "op-1/s2/started": 1, "op-1/s2/ended": 1},
				Ops: map[string][]string{"op-1": {"started", "completed"}, "op-2": {"started", "failed(rolled back true)"},
					"op-3": {"started", "cancelled"}, "op-4": {"started", "failed(rolled back false)"}},
				Completed: []*audit.StepCompleted{done}},
		},
		"a step recorded twice, an undecodable event": {
			events: append(events(t, &audit.StepStarted{OperationID: "op-1", StepID: "s1"}, &audit.StepStarted{OperationID: "op-1", StepID: "s1"}),
				eventstore.Event{Type: "NoSuchEvent", SchemaVersion: 1, Payload: []byte("{}")}),
			want: Tally{Events: 3, Steps: map[string]int{"op-1/s1/started": 2}, Ops: map[string][]string{}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, Of(tc.events)); diff != "" {
				t.Errorf("tally (-want +got):\n%s", diff)
			}
		})
	}
}

// recorder is a testing.TB that keeps the errors reported to it.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper()             {}
func (r *recorder) Logf(string, ...any) {}
func (r *recorder) Errorf(format string, a ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, a...))
}

func TestChecks(t *testing.T) {
	tests := map[string]struct {
		tally   Tally
		wantOps int
		ended   bool // CheckEnded too
		want    []string
	}{
		"each once, enough operations": {
			tally:   Tally{Steps: map[string]int{"op-1/s1/started": 1}, Ops: map[string][]string{"op-1": {"started", "completed"}}},
			wantOps: 1,
		},
		"a step twice": {
			tally: Tally{Steps: map[string]int{"op-1/s1/ended": 2}, Ops: map[string][]string{}},
			want:  []string{"audit c: op-1/s1/ended recorded 2 times"},
		},
		"a step that never ended": {
			tally: Tally{Steps: map[string]int{"op-1/s1/started": 1, "op-1/s2/started": 1, "op-1/s2/ended": 1}, Ops: map[string][]string{}},
			ended: true,
			want:  []string{"audit c: op-1/s1 started and never ended"},
		},
		"an operation not completed, too few operations": {
			tally:   Tally{Steps: map[string]int{}, Ops: map[string][]string{"op-1": {"started", "failed(rolled back true)"}}},
			wantOps: 2,
			want:    []string{"audit c: operation op-1 has [started failed(rolled back true)]", "audit c: 1 operations, want 2"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := &recorder{TB: t}
			tc.tally.CheckSteps(r, "c")
			if tc.ended {
				tc.tally.CheckEnded(r, "c")
			}
			tc.tally.CheckCompleted(r, "c", tc.wantOps)
			if diff := cmp.Diff(tc.want, r.errs); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}
