package redistest

import (
	"testing"
	"time"
)

// TestWriterCheckPrevious: a write that replaces an older value than the
// key's last acknowledged one is counted as a lost acknowledged write the
// moment it happens (here every key is wiped behind the writer's back).
func TestWriterCheckPrevious(t *testing.T) {
	rc := Standalone(t)
	ctx := t.Context()
	w := StartWriter(ctx, rc, WriterOptions{Keys: 200, Workers: 2, CheckPrevious: true})
	waitAcked := func(n int64) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); w.Stats().Acked < n; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("only %d writes acknowledged", w.Stats().Acked)
			}
		}
	}
	waitAcked(1000)
	if s := w.Stats(); s.Lost != 0 {
		t.Fatalf("lost %d before any fault: %v", s.Lost, s.LostErr)
	}
	if err := rc.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	waitAcked(w.Stats().Acked + 1000)
	s := w.Stop()
	if s.Lost == 0 || s.LostErr == nil {
		t.Fatalf("a flushed key space lost nothing: %+v", s)
	}
	t.Logf("lost %d acknowledged writes (%v)", s.Lost, s.LostErr)
}
