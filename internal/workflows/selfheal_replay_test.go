package workflows

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/dayops/dayops/internal/operation"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// TestReplaySelfHealHistories replays the recorded Guardian, Recover and
// Switchover histories (recorded from tests/e2e TestSelfHealing with
// DAYOPS_RECORD_HISTORIES=1, kept apart from testdata/histories so the other
// replay test need not know these workflow types).
func TestReplaySelfHealHistories(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("testdata", "selfheal-histories", "*.json"))
	if len(files) == 0 {
		if _, err := os.Stat(filepath.Join("testdata", "selfheal-histories")); err != nil {
			t.Skip("no self-healing histories recorded yet")
		}
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{
				ContextPropagators: []workflow.ContextPropagator{operation.MetaPropagator{}},
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range []any{Guardian, Recover, Switchover} {
				r.RegisterWorkflow(w)
			}
			if err := r.ReplayWorkflowHistoryFromJSONFile(nil, f); err != nil {
				t.Fatalf("replay %s: %v", f, err)
			}
		})
	}
}
