// Package pace is the slot mover's latency-budget pacer: an AIMD window over
// units of work (slot copies, MIGRATE pipelines) driven by PING round trips
// to the primaries, so that a migration keeps their clients' latency within
// a budget of what it was before the move. It does no Redis I/O itself: the
// caller passes the pings. Used by internal/redis/slotmigrate and
// internal/redis/slotcopy.
package pace

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dayops/dayops/internal/tick"
)

// The mover's clients are other people's clients: every command it sends a
// primary waits in that primary's single event loop with theirs, and on a
// small machine every redis-server and the mover share a few cores. With no
// bound the copy path keeps up to Sources x CopyWavesPerSource x
// CopiesPerWave slot copies in flight, which is what makes it fast and what
// made the clients' p99 35-150x its idle value (docs/slot-migration.md).
//
// The Pacer bounds how many units of work (one slot copy: WATCH+dump,
// RESTOREs, commit; or one pipeline of MIGRATEs) run at once, and adapts
// that window to what a client would see: it sends PING on a connection of
// its own to every primary of the migration every pacePingEvery and, each
// paceEvery, feeds the period's round trips to AIMD (see Pacer).

const (
	pacePingEvery = 5 * time.Millisecond
	paceEvery     = 50 * time.Millisecond
)

// AIMD is the window controller: additive increase, multiplicative decrease,
// like TCP's congestion window, on one figure per period: the round trip
// the migration adds to the primaries' (see Pacer). Pure (no clock, no
// I/O) so it is table-tested.
type AIMD struct {
	// Budget is what the migration may add to the primaries' round trip.
	Budget time.Duration
	// Min and Max bound the window.
	Min, Max int
}

// next returns the window after a period in which the migration added
// added to the round trip: halved when over Budget, grown by an eighth (at
// least one) when at most half of it, kept in between, always within
// [Min, Max].
//
// The figure is what the migration adds, not the round trip itself: the
// first rule compared the round trip with half of baseline + budget, which
// on a host whose idle round trip is as large as the budget held the
// window at its start (3-4 units with a 1.2-1.5 ms baseline and the 1 ms
// budget; 10 KB runs, 2026-12-03 19:24 UTC).
func (c AIMD) next(window int, added time.Duration) int {
	switch {
	case added > c.Budget:
		window /= 2
	case added <= c.Budget/2:
		window += max(1, window/8)
	}
	return min(c.Max, max(c.Min, window))
}

// initial is the window a migration starts with: small, so the first period
// measures before the primaries are flooded.
func (c AIMD) initial() int { return min(c.Max, max(c.Min, 4)) }

// gate is a semaphore whose size can change while it is held. Waiters are
// served first come, first served, and a freed unit wakes only the waiter
// it goes to: the first gate woke every waiting copy on each release (one
// closed channel), and with a few dozen copies waiting for a window of 3-5
// the woken ones that went back to sleep cost a fifth of the mover's CPU in
// a 1M x 100 B move (go tool pprof, 2026-12-04: selectgo under acquire
// 0.24 s of 1.9 s).
type gate struct {
	mu      sync.Mutex
	limit   int
	inUse   int
	waiters []chan struct{} // in arrival order; each is sent one unit (buffered)
}

func newGate(limit int) *gate { return &gate{limit: limit} }

func (g *gate) acquire(ctx context.Context) error {
	g.mu.Lock()
	if g.inUse < g.limit && len(g.waiters) == 0 {
		g.inUse++
		g.mu.Unlock()
		return nil
	}
	ch := make(chan struct{}, 1)
	g.waiters = append(g.waiters, ch)
	g.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-ch:
		// The unit came with the cancellation: hand it on.
		g.inUse--
	default:
		g.waiters = slices.DeleteFunc(g.waiters, func(w chan struct{}) bool { return w == ch })
	}
	g.grant()
	return ctx.Err()
}

func (g *gate) release() {
	g.mu.Lock()
	g.inUse--
	g.grant()
	g.mu.Unlock()
}

func (g *gate) setLimit(n int) {
	g.mu.Lock()
	g.limit = n
	g.grant()
	g.mu.Unlock()
}

// grant gives the free units to the first waiters (g.mu held).
func (g *gate) grant() {
	for g.inUse < g.limit && len(g.waiters) > 0 {
		g.inUse++
		g.waiters[0] <- struct{}{}
		g.waiters = g.waiters[1:]
	}
}

// tail returns the q-quantile (0 < q <= 1) of samples, 0 for none: the
// smallest sample at or above a fraction q of them.
func tail(samples []time.Duration, q float64) time.Duration {
	if len(samples) == 0 {
		return 0
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[min(len(s)-1, max(0, i))]
}

// paceQuantile is the quantile of one primary's round trips that stands
// for it, in the baseline and in every period: the median (see Pacer).
const paceQuantile = 0.5

// addedEach is what a period adds to each primary's round trip: its
// figure (paceQuantile of its round trips) less its baseline, 0 for a
// primary with no round trip in the period or one below its baseline; a
// primary without a baseline counts from zero. The largest is the
// period's figure (see Pacer). figs are the figures themselves (0 where
// there was no round trip), for the log (PrimaryFigures).
func addedEach(base []time.Duration, period [][]time.Duration) (added, figs []time.Duration) {
	added, figs = make([]time.Duration, len(period)), make([]time.Duration, len(period))
	for i, s := range period {
		if len(s) == 0 {
			continue
		}
		var b time.Duration
		if i < len(base) {
			b = base[i]
		}
		figs[i] = tail(s, paceQuantile)
		added[i] = max(0, figs[i]-b)
	}
	return added, figs
}

// Pacer is a gate whose limit follows AIMD; a nil Pacer (budget off) lets
// everything through.
//
// The figure AIMD holds to the budget is, per primary, the median of its
// round trips in a period less the median before the move (measured in
// the first paceBaseline, while nothing is admitted), and the largest of
// these over the primaries. Per primary, because the primaries do not
// share a queue: in a scale-out three sources feed one target, whose
// round trips are a quarter of a pooled figure. Relative to each one's
// own baseline, because on a machine other work keeps busy PING is slow
// without the mover too, and an absolute threshold would throttle the
// migration for latency it does not cause. The median, because it is what
// a queue on an event loop moves and a scheduler hiccup of the host does
// not: the p90 this used until 2026-12-04 made baselines of 0.2-7 ms on
// one quiet host (the medians: 0.11-0.19 ms) and read the host's tail as
// the mover's (bench/README.md, session 8). An unanswered PING counts with
// its age, so a loop blocked for a period is its primary's whole figure.
type Pacer struct {
	gate *gate
	ctl  AIMD

	mu sync.Mutex
	// samples holds, per probed primary, its round trips since the last
	// take.
	samples [][]time.Duration
	// sent is, per probed primary, when its unanswered PING was sent (0:
	// none outstanding).
	sent []atomic.Int64
	// base is, per primary, its round trip before the move; written once
	// (under mu) by adapt before any work is admitted, read by adapt
	// alone (period, on its goroutine) after that.
	base []time.Duration

	baseline atomic.Int64 // the highest primary's round trip before the move, ns
	window   atomic.Int64 // current limit, for logs
	lowest   atomic.Int64
	highest  atomic.Int64
	// periods, windowSum and over count the adapting periods, the sum of
	// their windows and those over the budget, for the log (Trend);
	// overBy counts, per primary, the periods it was over the budget in
	// (OverBy).
	periods, windowSum, over atomic.Int64
	overBy                   []atomic.Int64
	// figSum and figN sum, per primary, its figure (paceQuantile of its
	// round trips) over the periods it answered in, for the log (PrimaryFigures).
	figSum, figN []atomic.Int64
	cancel       context.CancelFunc
	wg           sync.WaitGroup
	// OnStop runs after the probes ended (closes their connections).
	OnStop func()
}

const paceBaseline = 100 * time.Millisecond

// Start probes with pings (one per primary) until stop. ctl.Budget is
// what the move may add to each primary's round trip before it.
func Start(ctx context.Context, ctl AIMD, pings []func(context.Context) error) *Pacer {
	ctx, cancel := context.WithCancel(ctx)
	w := ctl.initial()
	p := &Pacer{gate: newGate(0), ctl: ctl, samples: make([][]time.Duration, len(pings)), sent: make([]atomic.Int64, len(pings)), overBy: make([]atomic.Int64, len(pings)), figSum: make([]atomic.Int64, len(pings)), figN: make([]atomic.Int64, len(pings)), cancel: cancel}
	p.window.Store(int64(w))
	p.lowest.Store(int64(w))
	p.highest.Store(int64(w))
	for i, ping := range pings {
		p.wg.Go(func() { p.probe(ctx, i, ping) })
	}
	p.wg.Go(func() { p.adapt(ctx) })
	return p
}

// Stop ends the probes and waits for them.
func (p *Pacer) Stop() {
	p.cancel()
	p.wg.Wait()
	if p.OnStop != nil {
		p.OnStop()
	}
}

func (p *Pacer) Acquire(ctx context.Context) error {
	if p == nil {
		return nil
	}
	return p.gate.acquire(ctx)
}

func (p *Pacer) Release() {
	if p != nil {
		p.gate.release()
	}
}

// probe PINGs primary i every pacePingEvery until ctx ends.
func (p *Pacer) probe(ctx context.Context, i int, ping func(context.Context) error) {
	tick.Every(ctx, pacePingEvery, func(time.Time) bool {
		start := time.Now()
		p.sent[i].Store(start.UnixNano())
		err := ping(ctx)
		p.sent[i].Store(0)
		if err != nil {
			// A failing primary is the migration's problem, not the
			// Pacer's: the migration's own commands report it.
			return true
		}
		p.observe(i, time.Since(start))
		return true
	})
}

func (p *Pacer) observe(i int, d time.Duration) {
	p.mu.Lock()
	p.samples[i] = append(p.samples[i], d)
	p.mu.Unlock()
}

// take returns, per primary, the round trips since the last take, an
// unanswered PING with its age.
func (p *Pacer) take() [][]time.Duration {
	now := time.Now().UnixNano()
	p.mu.Lock()
	s := p.samples
	p.samples = make([][]time.Duration, len(s))
	p.mu.Unlock()
	for i := range p.sent {
		if at := p.sent[i].Load(); at != 0 {
			s[i] = append(s[i], time.Duration(now-at))
		}
	}
	return s
}

func (p *Pacer) adapt(ctx context.Context) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(paceBaseline):
	}
	var highest time.Duration
	var base []time.Duration
	for _, s := range p.take() {
		b := tail(s, paceQuantile)
		base = append(base, b)
		highest = max(highest, b)
	}
	p.mu.Lock()
	p.base = base
	p.mu.Unlock()
	p.baseline.Store(int64(highest))
	p.gate.setLimit(int(p.window.Load()))
	tick.Every(ctx, paceEvery, func(time.Time) bool { p.period(); return true })
}

// period feeds the round trips since the last period to AIMD and sets the
// window it returns.
func (p *Pacer) period() {
	took := p.take()
	each, figs := addedEach(p.base, took)
	for i, smp := range took {
		if len(smp) > 0 {
			p.figSum[i].Add(int64(figs[i]))
			p.figN[i].Add(1)
		}
	}
	var add time.Duration
	for i, a := range each {
		add = max(add, a)
		if a > p.ctl.Budget {
			p.overBy[i].Add(1)
		}
	}
	w := p.ctl.next(int(p.window.Load()), add)
	p.window.Store(int64(w))
	p.periods.Add(1)
	p.windowSum.Add(int64(w))
	if add > p.ctl.Budget {
		p.over.Add(1)
	}
	p.lowest.Store(min(p.lowest.Load(), int64(w)))
	p.highest.Store(max(p.highest.Load(), int64(w)))
	p.gate.setLimit(w)
}

// Stats returns the highest primary's round trip measured before the move
// and the lowest, highest and last window, for the migration's log.
func (p *Pacer) Stats() (baseline time.Duration, lowest, highest, last int64) {
	return time.Duration(p.baseline.Load()), p.lowest.Load(), p.highest.Load(), p.window.Load()
}

// OverBy returns, per primary (in the order of Start's pings), the number
// of periods it was over the budget in, for the migration's log: which
// primary held the window down.
func (p *Pacer) OverBy() []int64 {
	out := make([]int64, len(p.overBy))
	for i := range p.overBy {
		out[i] = p.overBy[i].Load()
	}
	return out
}

// PrimaryFigures returns, per primary (in the order of Start's pings), its
// baseline and the mean of its period figures during the move, for the
// migration's log: whether the move raised one primary's round trip (a
// queue on its event loop) or all of them alike (the host's CPUs).
func (p *Pacer) PrimaryFigures() (base, during []time.Duration) {
	p.mu.Lock()
	base = slices.Clone(p.base)
	p.mu.Unlock()
	during = make([]time.Duration, len(p.figSum))
	for i := range p.figSum {
		if n := p.figN[i].Load(); n > 0 {
			during[i] = time.Duration(p.figSum[i].Load() / n)
		}
	}
	return base, during
}

// Trend returns the mean window over the adapting periods and the share
// of periods over the budget (each halved the window), for the
// migration's log: a mean near the floor with most periods over says the
// host, or the move, kept the primaries over the budget; a mean near the
// ceiling, that the budget never bound. Zero before the first period.
func (p *Pacer) Trend() (meanWindow, overShare float64) {
	n := p.periods.Load()
	if n == 0 {
		return 0, 0
	}
	return float64(p.windowSum.Load()) / float64(n), float64(p.over.Load()) / float64(n)
}

// Summary is how the window went, as log attributes: the baseline, the
// window's range and mean, the share of periods over the budget and, per
// primary that was over in any, in how many (over_by); and per primary its
// median round trip before the move and the mean of its period medians
// during it (round_trips, name=before/during). name gives primary i's name.
func (p *Pacer) Summary(name func(i int) string) []any {
	base, lo, hi, last := p.Stats()
	mean, over := p.Trend()
	var by []string
	for i, n := range p.OverBy() {
		if n > 0 {
			by = append(by, fmt.Sprintf("%s=%d", name(i), n))
		}
	}
	var figs []string
	before, during := p.PrimaryFigures()
	for i, d := range during {
		var b time.Duration
		if i < len(before) {
			b = before[i]
		}
		figs = append(figs, fmt.Sprintf("%s=%s/%s", name(i), b.Round(time.Microsecond), d.Round(time.Microsecond)))
	}
	return []any{"baseline", base, "window_min", lo, "window_max", hi, "window_last", last,
		"window_mean", fmt.Sprintf("%.1f", mean), "periods_over", fmt.Sprintf("%.0f%%", 100*over), "over_by", strings.Join(by, " "),
		"round_trips", strings.Join(figs, " ")}
}
