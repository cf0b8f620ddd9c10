package workflows

import (
	"os"
	"path/filepath"
	"testing"
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
		t.Run(filepath.Base(f), func(t *testing.T) { replay(t, f, Guardian, Recover, Switchover) })
	}
}
