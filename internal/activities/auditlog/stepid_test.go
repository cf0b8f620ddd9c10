package auditlog

import (
	"testing"

	"github.com/dayops/dayops/internal/eventstore"
	"github.com/dayops/dayops/internal/operation"
)

func TestStepIDQualifiesChildWorkflows(t *testing.T) {
	m := operation.Meta{Namespace: "ns", Cluster: "c"}
	cases := []struct{ wf, run, act, want string }{
		{"dayops/ns/c", "r1", "12", "12"},
		{"dayops/ns/c/bake-1", "r2", "12", "bake-1/r2/12"},
		{"dayops/ns/c/bake-1", "r3", "12", "bake-1/r3/12"}, // after continue-as-new
		{"dayops/ns/cx", "r4", "12", "12"},                 // another cluster's name that shares a prefix
		{"backup/ns/c", "r5", "7", "7"},
	}
	seen := map[string]bool{}
	for _, c := range cases {
		got := StepID(m, c.wf, c.run, c.act)
		if got != c.want {
			t.Errorf("StepID(%s, %s, %s) = %q, want %q", c.wf, c.run, c.act, got, c.want)
		}
		if c.wf != "dayops/ns/cx" && c.wf != "backup/ns/c" && seen[got] {
			t.Errorf("step ID %q given twice", got)
		}
		seen[got] = true
	}
}

// The bake child's events: the same activity ID and sequence in two runs
// (after continue-as-new) are two events; the operation's own workflow keeps
// the IDs written before step IDs existed, so a retry across the upgrade of
// the worker still writes nothing twice.
func TestEventIDsOfChildRunsDiffer(t *testing.T) {
	m := operation.Meta{Namespace: "ns", Cluster: "c", OperationID: "op-1"}
	if a, b := EventID(m, "dayops/ns/c/bake-1", "r1", "5", 0), EventID(m, "dayops/ns/c/bake-1", "r2", "5", 0); a == b {
		t.Errorf("the bake's step event of run r2 has run r1's ID %s: it would be dropped as a retry", a)
	}
	if a, b := EventID(m, "dayops/ns/c/bake-1", "r1", "5", 0), EventID(m, "dayops/ns/c/bake-1", "r1", "5", 0); a != b {
		t.Errorf("a retry of one activity gets two IDs: %s, %s", a, b)
	}
	own := EventID(m, "dayops/ns/c", "r1", "12", 1)
	if legacy := eventstore.StepEventID("dayops/ns/c/op-1", "12", 1); own != legacy {
		t.Errorf("the operation's own event ID changed: %s, was %s", own, legacy)
	}
	if own != EventID(m, "dayops/ns/c", "r2", "12", 1) {
		t.Error("the operation's own workflow put the run ID into its event IDs (never the run ID: see docs/operations-design.md)")
	}
}
