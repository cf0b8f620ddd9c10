package workflows

import (
	"path/filepath"
	"testing"

	"github.com/dayops/dayops/internal/operation"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// TestReplayBackupHistories replays recorded Backup and Restore histories
// (recorded from tests/e2e TestBackupRestore with DAYOPS_RECORD_HISTORIES=1,
// kept apart from testdata/histories so the other replay test need not know
// these workflow types).
func TestReplayBackupHistories(t *testing.T) {
	for _, name := range []string{"backup.json", "restore.json"} {
		t.Run(name, func(t *testing.T) {
			r, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{
				ContextPropagators: []workflow.ContextPropagator{operation.MetaPropagator{}},
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range []any{Backup, Restore, DeleteBackup, ScheduledBackup} {
				r.RegisterWorkflow(w)
			}
			if err := r.ReplayWorkflowHistoryFromJSONFile(nil, filepath.Join("testdata", "backup-histories", name)); err != nil {
				t.Fatalf("replay %s: %v", name, err)
			}
		})
	}
}
