package migratebench

import (
	"testing"
	"time"
)

// sleepUntil never returns before the due time (a request is never sent
// early), through the runtime's signals, and returns at once for a time
// that has passed. How late it returns is a figure for the benchmark, not
// an assertion here.
func TestDueClockNeverEarly(t *testing.T) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		c := newDueClock()
		for i := range 200 {
			due := time.Now().Add(time.Duration(50+i*5) * time.Microsecond)
			c.sleepUntil(due)
			if now := time.Now(); now.Before(due) {
				t.Errorf("woke %s before the due time", due.Sub(now))
				return
			}
		}
		c.sleepUntil(time.Now().Add(-time.Second))
	}()
	<-done
}
