// Package audittally reads a cluster's audit events the way the end-to-end
// and deployment suites check that every step and every operation was
// recorded exactly once, whichever worker ran it and however often its
// activities were retried.
package audittally

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/eventstore"
)

// Tally is a cluster's audit log as the exactly-once checks read it.
type Tally struct {
	Events int
	// Steps counts "<operation>/<step>/started" and ".../ended" (completed
	// or failed for good): each must be 1.
	Steps map[string]int
	// Ops lists each operation's lifecycle events in order: "started",
	// "completed", "failed(rolled back BOOL)", "cancelled".
	Ops map[string][]string
	// Completed are the StepCompleted events, oldest first.
	Completed []*audit.StepCompleted
}

// Of tallies events (oldest first); events it cannot decode are skipped.
func Of(events []eventstore.Event) Tally {
	a := Tally{Events: len(events), Steps: map[string]int{}, Ops: map[string][]string{}}
	for _, e := range events {
		p, err := audit.Decode(e.Type, e.SchemaVersion, e.Payload)
		if err != nil {
			continue
		}
		switch v := p.(type) {
		case *audit.StepStarted:
			a.Steps[v.OperationID+"/"+v.StepID+"/started"]++
		case *audit.StepCompleted:
			a.Steps[v.OperationID+"/"+v.StepID+"/ended"]++
			a.Completed = append(a.Completed, v)
		case *audit.StepFailed:
			a.Steps[v.OperationID+"/"+v.StepID+"/ended"]++
		case *audit.OperationStarted:
			a.Ops[v.OperationID] = append(a.Ops[v.OperationID], "started")
		case *audit.OperationCompleted:
			a.Ops[v.OperationID] = append(a.Ops[v.OperationID], "completed")
		case *audit.OperationFailed:
			a.Ops[v.OperationID] = append(a.Ops[v.OperationID], fmt.Sprintf("failed(rolled back %v)", v.RolledBack))
		case *audit.OperationCancelled:
			a.Ops[v.OperationID] = append(a.Ops[v.OperationID], "cancelled")
		}
	}
	return a
}

// CheckSteps fails t for every step record of cluster not recorded once.
func (a Tally) CheckSteps(t testing.TB, cluster string) {
	t.Helper()
	for k, n := range a.Steps {
		if n != 1 {
			t.Errorf("audit %s: %s recorded %d times", cluster, k, n)
		}
	}
}

// CheckEnded fails t for every step of cluster with a start and no end
// (completed or failed): in a log whose operations have all ended, each of
// their steps ended too, also one that ended while its operation was
// cancelled.
func (a Tally) CheckEnded(t testing.TB, cluster string) {
	t.Helper()
	for k := range a.Steps {
		if step, ok := strings.CutSuffix(k, "/started"); ok && a.Steps[step+"/ended"] == 0 {
			t.Errorf("audit %s: %s started and never ended", cluster, step)
		}
	}
}

// CheckCompleted fails t unless every operation of cluster started and
// completed once and there are at least wantOps of them.
func (a Tally) CheckCompleted(t testing.TB, cluster string, wantOps int) {
	t.Helper()
	for id, kinds := range a.Ops {
		if !slices.Equal(kinds, []string{"started", "completed"}) {
			t.Errorf("audit %s: operation %s has %v", cluster, id, kinds)
		}
	}
	if len(a.Ops) < wantOps {
		t.Errorf("audit %s: %d operations, want %d", cluster, len(a.Ops), wantOps)
	}
	t.Logf("audit %s: %d events, %d operations, %d step records, each once", cluster, a.Events, len(a.Ops), len(a.Steps))
}
