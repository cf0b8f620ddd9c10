package redistest

import (
	"testing"
	"time"
)

// WaitFor polls ok every 50 ms until it holds, and fails the test (naming
// what it waited for) when limit passes first.
func WaitFor(t testing.TB, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %s", what, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
