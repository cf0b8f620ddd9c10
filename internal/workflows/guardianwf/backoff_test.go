package guardianwf

import (
	"testing"
	"time"
)

func TestRecoverBackoff(t *testing.T) {
	want := []time.Duration{15 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute,
		10 * time.Minute, 10 * time.Minute}
	for i, w := range want {
		if got := recoverBackoff(i + 1); got != w {
			t.Errorf("recoverBackoff(%d) = %s, want %s", i+1, got, w)
		}
	}
	if got := recoverBackoff(1000); got != recoverBackoffMax {
		t.Errorf("recoverBackoff(1000) = %s", got)
	}
	// The same losses back off further; other losses start over.
	var in GuardianInput
	now := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	for i, step := range []struct {
		key  string
		wait time.Duration
	}{{"a", 15 * time.Second}, {"a", 30 * time.Second}, {"a", time.Minute}, {"b", 15 * time.Second}, {"b", 30 * time.Second}} {
		in.backOff(step.key, now)
		if got := in.RecoverNotBefore.Sub(now); got != step.wait {
			t.Errorf("start %d (%s): wait %s, want %s", i+1, step.key, got, step.wait)
		}
	}
}
