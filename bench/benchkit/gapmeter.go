package benchkit

import (
	"sync"
	"time"

	"github.com/dayops/dayops/internal/testutil/redistest"
)

// GapMeter measures the longest time no write was acknowledged.
type GapMeter struct {
	mu      sync.Mutex
	longest time.Duration
	stop    chan struct{}
	done    chan struct{}
}

// StartGapMeter samples the writer's acknowledged count every 5 ms.
func StartGapMeter(w *redistest.Writer) *GapMeter {
	g := &GapMeter{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(g.done)
		last, lastAt := w.Stats().Acked, time.Now()
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-g.stop:
				return
			case now := <-t.C:
				if a := w.Stats().Acked; a != last {
					last, lastAt = a, now
				}
				g.mu.Lock()
				g.longest = max(g.longest, now.Sub(lastAt))
				g.mu.Unlock()
			}
		}
	}()
	return g
}

// Take returns the longest gap since the last Take.
func (g *GapMeter) Take() time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	l := g.longest
	g.longest = 0
	return l
}

// Close stops the meter.
func (g *GapMeter) Close() {
	select {
	case <-g.stop:
	default:
		close(g.stop)
	}
	<-g.done
}
