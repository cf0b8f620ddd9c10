package auditlog

import (
	"testing"

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
