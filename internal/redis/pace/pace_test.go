package pace

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestAIMDNext(t *testing.T) {
	c := AIMD{Budget: 2 * time.Millisecond, Min: 1, Max: 64}
	tests := map[string]struct {
		window int
		worst  time.Duration
		want   int
	}{
		"over budget halves":                 {window: 40, worst: 3 * time.Millisecond, want: 20},
		"far over budget halves only once":   {window: 40, worst: time.Second, want: 20},
		"over budget never below min":        {window: 1, worst: 3 * time.Millisecond, want: 1},
		"at budget holds":                    {window: 10, worst: 2 * time.Millisecond, want: 10},
		"between half and budget holds":      {window: 10, worst: 1500 * time.Microsecond, want: 10},
		"at half grows":                      {window: 10, worst: time.Millisecond, want: 11},
		"under half grows by one when small": {window: 4, worst: 0, want: 5},
		"under half grows by an eighth":      {window: 32, worst: 100 * time.Microsecond, want: 36},
		"growth stops at max":                {window: 60, worst: 0, want: 64},
		"a window above max is clamped":      {window: 100, worst: 1500 * time.Microsecond, want: 64},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := c.next(tc.window, tc.worst); got != tc.want {
				t.Errorf("next(%d, %s) = %d, want %d", tc.window, tc.worst, got, tc.want)
			}
		})
	}
}

// TestAddedEach: each primary's figure is its median round trip less its
// own baseline, so one queued primary of four (the scale-out's target)
// counts in full, a spike does not, and a host that is slow without the
// move does not throttle it.
func TestAddedEach(t *testing.T) {
	us := func(v ...int) []time.Duration { return durations(time.Microsecond, v...) }
	idle := us(100, 120, 110, 90, 105, 100, 95, 115, 100, 110)
	tests := map[string]struct {
		base   []time.Duration
		period [][]time.Duration
		want   []time.Duration
	}{
		"nothing added":                  {base: us(100, 100), period: [][]time.Duration{idle, idle}, want: us(0, 0)},
		"below the baseline adds none":   {base: us(500, 500), period: [][]time.Duration{idle, idle}, want: us(0, 0)},
		"one queued primary of four":     {base: us(100, 100, 100, 100), period: [][]time.Duration{idle, idle, idle, us(1900, 2100, 2000, 2200, 1800)}, want: us(0, 0, 0, 1900)},
		"each against its own baseline":  {base: us(3000, 100), period: [][]time.Duration{us(3500, 3500, 3500), us(900, 900, 900)}, want: us(500, 800)},
		"a spike is not a queue":         {base: us(100), period: [][]time.Duration{us(100, 100, 100, 100, 100, 100, 100, 100, 100, 40000)}, want: us(0)},
		"a blocked loop is its age":      {base: us(100, 100), period: [][]time.Duration{idle, us(50000)}, want: us(0, 49900)},
		"a primary without samples":      {base: us(100, 100), period: [][]time.Duration{nil, us(600, 600, 600)}, want: us(0, 500)},
		"no baseline counts from zero":   {base: nil, period: [][]time.Duration{us(300, 300, 300)}, want: us(300)},
		"no samples at all adds nothing": {base: us(100), period: [][]time.Duration{nil}, want: us(0)},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, _ := addedEach(tc.base, tc.period)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("addedEach(%v, %v) (-want +got):\n%s", tc.base, tc.period, diff)
			}
		})
	}
}

func TestAIMDInitial(t *testing.T) {
	tests := map[string]struct {
		c    AIMD
		want int
	}{
		"default start":       {c: AIMD{Min: 1, Max: 192}, want: 4},
		"max below the start": {c: AIMD{Min: 1, Max: 2}, want: 2},
		"min above the start": {c: AIMD{Min: 8, Max: 192}, want: 8},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.c.initial(); got != tc.want {
				t.Errorf("initial() = %d, want %d", got, tc.want)
			}
		})
	}
}

// TestAIMDConverges drives the controller with a model where the round trip
// grows with the window (each unit in flight adds 100 µs): it must settle
// where what the move adds is within the budget and stay there.
func TestAIMDConverges(t *testing.T) {
	c := AIMD{Budget: 2 * time.Millisecond, Min: 1, Max: 192}
	w := c.initial()
	var seen []int
	for range 200 {
		w = c.next(w, time.Duration(w)*100*time.Microsecond)
		seen = append(seen, w)
	}
	tail := seen[len(seen)-50:]
	for _, w := range tail {
		if w < 5 || w > 20 {
			t.Fatalf("window left [5, 20] after settling: %v", tail)
		}
	}
}

func TestTail(t *testing.T) {
	ms := func(v ...int) []time.Duration { return durations(time.Millisecond, v...) }
	tests := map[string]struct {
		samples []time.Duration
		q       float64
		want    time.Duration
	}{
		"none":                      {q: 0.9, want: 0},
		"one":                       {samples: ms(7), q: 0.9, want: 7 * time.Millisecond},
		"p90 of ten is the 9th":     {samples: ms(10, 1, 9, 2, 8, 3, 7, 4, 6, 5), q: 0.9, want: 9 * time.Millisecond},
		"p90 ignores one spike":     {samples: ms(1, 1, 1, 1, 1, 1, 1, 1, 1, 500), q: 0.9, want: time.Millisecond},
		"p90 sees a tenth and more": {samples: ms(1, 1, 1, 1, 1, 1, 1, 1, 40, 500), q: 0.9, want: 40 * time.Millisecond},
		"q 1 is the max":            {samples: ms(3, 9, 1), q: 1, want: 9 * time.Millisecond},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			in := slices.Clone(tc.samples)
			if got := tail(tc.samples, tc.q); got != tc.want {
				t.Errorf("tail(%v, %v) = %s, want %s", tc.samples, tc.q, got, tc.want)
			}
			if diff := cmp.Diff(in, tc.samples); diff != "" {
				t.Errorf("tail changed its input (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGateFollowsLimit(t *testing.T) {
	ctx := t.Context()
	g := newGate(2)
	for range 2 {
		if err := g.acquire(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Full: a third acquire waits until the limit grows.
	got := make(chan error, 1)
	go func() { got <- g.acquire(ctx) }()
	g.setLimit(3)
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	// Shrunk below what is in use: releases do not admit anyone until the
	// use is under the new limit.
	g.setLimit(1)
	g.release()
	g.release()
	if diff := cmp.Diff(struct{ InUse, Limit int }{1, 1}, struct{ InUse, Limit int }{g.inUse, g.limit}); diff != "" {
		t.Errorf("gate (-want +got):\n%s", diff)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := g.acquire(cctx); err == nil {
		t.Error("acquire on a full gate with a cancelled context succeeded")
	}
	var nilPacer *Pacer
	if err := nilPacer.Acquire(ctx); err != nil {
		t.Errorf("nil Pacer (budget off) acquire: %v", err)
	}
	nilPacer.Release()
}

// TestGateServesInOrder: a freed unit goes to the longest waiting
// acquire and to no other; a waiter that gives up leaves the queue without
// taking a unit, and one cancelled after its unit was sent passes it on.
func TestGateServesInOrder(t *testing.T) {
	ctx := t.Context()
	g := newGate(1)
	if err := g.acquire(ctx); err != nil {
		t.Fatal(err)
	}
	got := make(chan int, 3)
	cctx, cancel := context.WithCancel(ctx)
	waiting := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
			g.mu.Lock()
			w := len(g.waiters)
			g.mu.Unlock()
			if w == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d waiters, want %d", w, n)
			}
		}
	}
	for i := range 3 {
		actx := ctx
		if i == 1 {
			actx = cctx // gives up before its turn
		}
		go func() {
			if g.acquire(actx) == nil {
				got <- i
			}
		}()
		waiting(i + 1)
	}
	cancel()
	waiting(2)
	var order []int
	for range 2 {
		g.release()
		order = append(order, <-got)
		select {
		case extra := <-got:
			t.Fatalf("one release admitted two waiters (%d and %d)", order[len(order)-1], extra)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if diff := cmp.Diff([]int{0, 2}, order); diff != "" {
		t.Errorf("order served (-want +got):\n%s", diff)
	}

	g.release() // the unit waiter 2 holds

	// Units sent to waiters cancelled at the same moment are not lost:
	// many acquires, half of them cancelled at random, against a window that
	// moves; once all is released nothing is held and nobody waits.
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			actx, cancel := context.WithCancel(ctx)
			defer cancel()
			if i%2 == 1 {
				go func() {
					time.Sleep(time.Duration(i%7) * 10 * time.Microsecond)
					cancel()
				}()
			}
			if g.acquire(actx) == nil {
				time.Sleep(time.Duration(i%5) * 10 * time.Microsecond)
				g.release()
			}
			if i%50 == 0 {
				g.setLimit(1 + i%3)
			}
		})
	}
	wg.Wait()
	g.mu.Lock()
	state := struct{ InUse, Waiting int }{g.inUse, len(g.waiters)}
	g.mu.Unlock()
	if diff := cmp.Diff(struct{ InUse, Waiting int }{0, 0}, state); diff != "" {
		t.Errorf("after every acquire was released or cancelled (-want +got):\n%s", diff)
	}
}

func TestTrend(t *testing.T) {
	var p Pacer
	if mean, over := p.Trend(); mean != 0 || over != 0 {
		t.Errorf("Trend before any period = %v, %v; want 0, 0", mean, over)
	}
	p.periods.Store(4)
	p.windowSum.Store(10)
	p.over.Store(1)
	if mean, over := p.Trend(); mean != 2.5 || over != 0.25 {
		t.Errorf("Trend = %v, %v; want 2.5, 0.25", mean, over)
	}
}

func TestPrimaryFigures(t *testing.T) {
	p := Pacer{base: durations(time.Microsecond, 90, 130), figSum: make([]atomic.Int64, 3), figN: make([]atomic.Int64, 3)}
	p.figSum[0].Store(int64(3 * time.Millisecond))
	p.figN[0].Store(4)
	p.figSum[1].Store(int64(500 * time.Microsecond))
	p.figN[1].Store(2)
	base, during := p.PrimaryFigures()
	if diff := cmp.Diff(durations(time.Microsecond, 90, 130), base); diff != "" {
		t.Errorf("base (-want +got):\n%s", diff)
	}
	// The third primary answered in no period (and has no baseline).
	if diff := cmp.Diff(durations(time.Microsecond, 750, 250, 0), during); diff != "" {
		t.Errorf("during (-want +got):\n%s", diff)
	}
}

// durations is v in units of unit.
func durations(unit time.Duration, v ...int) []time.Duration {
	var out []time.Duration
	for _, x := range v {
		out = append(out, time.Duration(x)*unit)
	}
	return out
}
