package workflows

import (
	"path/filepath"
	"testing"
)

// TestReplayBackupHistories replays recorded Backup and Restore histories
// (recorded from tests/e2e TestBackupRestore with DAYOPS_RECORD_HISTORIES=1,
// kept apart from testdata/histories so the other replay test need not know
// these workflow types).
func TestReplayBackupHistories(t *testing.T) {
	for _, name := range []string{"backup.json", "restore.json"} {
		t.Run(name, func(t *testing.T) {
			replay(t, filepath.Join("testdata", "backup-histories", name), Backup, Restore, DeleteBackup, ScheduledBackup)
		})
	}
}
