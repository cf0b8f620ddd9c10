package slotmigrate

import (
	"context"
	"errors"
	"fmt"
	"github.com/dayops/dayops/internal/redis/clusteradmin"
	"github.com/dayops/dayops/internal/redis/slotmigrate/busykey"
	"github.com/dayops/dayops/internal/redis/slotmigrate/sourceguard"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/semaphore"

	"github.com/dayops/dayops/internal/redis/pace"
	"github.com/dayops/dayops/internal/redis/pipe"
	"github.com/dayops/dayops/internal/redis/slotcopy"
	"github.com/dayops/dayops/internal/topology"
)

// MigrateInput moves slot ranges between primaries.
type MigrateInput struct {
	// Moves are computed by topology.Rebalance or topology.Drain (node IDs).
	Moves []topology.Move `json:"moves"`
	// Seeds are addresses of any cluster nodes, used to find the node
	// addresses and every primary.
	Seeds []string `json:"seeds"`
	// Addrs overrides node ID -> host:port where the cluster's own view is not
	// reachable from here.
	Addrs map[string]string `json:"addrs,omitempty"`
	// Resume is the last progress reported by an earlier run of the same
	// moves.
	Resume *Progress `json:"resume,omitempty"`
	// OnProgress receives progress snapshots (the activity wrapper records
	// them as heartbeat details); it is never called concurrently.
	OnProgress func(Progress) `json:"-"`
	// ProgressEvery throttles OnProgress (default 1s); the last snapshot is
	// always delivered.
	ProgressEvery time.Duration `json:"progress_every,omitempty"`
	// Legacy forces the SETSLOT/MIGRATE path even when every node offers
	// atomic slot migration.
	Legacy bool `json:"legacy,omitempty"`
	// Timeout bounds the final wait for convergence (default 1 minute).
	Timeout time.Duration `json:"timeout,omitempty"`
}

// MigrateResult is the final progress and the method used.
type MigrateResult struct {
	Progress Progress `json:"progress"`
	// Method is "legacy", or the atomic migration used.
	Method string `json:"method"`
}

// wave is a group of slots moved together from one source to one target.
type wave struct {
	src, tgt string
	slots    []int
}

type migration struct {
	addrs     map[string]string // node ID -> addr
	primaryOf map[string]string // replica's node ID -> its primary's
	// adopted slots were being moved to the target from a node that is now
	// a replica of the wave's source (the source failed over mid-slot):
	// the target's keys of them were moved there, not left over, and are
	// kept (no DropBeforeOpen, no copy path).
	adopted   map[int]bool
	primaries []string
	live      []string // every node not failed, replicas included
	bySource  map[string][]wave
	total     int
	done      []int
	copy      bool                // use the copy path (clusteradmin.Limits.Copy, SizeSamplingOff)
	budget    *semaphore.Weighted // bytes of dumps held by copies
	mix       slotcopy.KeyMix     // what the copies found on each source
	pace      *pace.Pacer         // nil: clusteradmin.Limits.LatencyBudgetOff
}

// MigrateSlots moves every slot of in.Moves from its source to its target.
//
// Legacy path, per wave of slots of one source and one target, each step one
// pipeline: SETSLOT IMPORTING on the target, SETSLOT MIGRATING on the source,
// CLUSTER GETKEYSINSLOT, MEMORY USAGE of every key, MIGRATE ... KEYS batches
// (by count and bytes, a key bigger than the byte budget alone), repeat until
// the slots are empty, then SETSLOT NODE on the target, then the source (the
// other nodes learn from the target's broadcast). Sources run in parallel, each with several waves in
// flight, within clusteradmin.Limits.
//
// It is idempotent: it observes every slot first; slots already owned by the
// target are skipped, slots left half-open towards the target by an earlier
// run are finished, and slots left open towards another node (by another
// tool) are closed first with CloseOpenSlots. Finally it waits until every
// node (replicas included) agrees and reports cluster_state:ok.
func (a *Migrator) MigrateSlots(ctx context.Context, in MigrateInput) (MigrateResult, error) {
	every := in.ProgressEvery
	if every <= 0 {
		every = time.Second
	}
	tr := newTracker(in.Resume, in.OnProgress, every)
	t0 := time.Now()
	var m *migration
	var method string
	var t1 time.Time
	var err error
	for again := 0; ; again++ {
		m, method, t1, err = a.moveOnce(ctx, in, tr)
		var fo *failedOverError
		if !errors.As(err, &fo) || again == maxObserveAgain {
			break
		}
		a.Logger().WarnContext(ctx, "a node of the move failed over during the run: observing the cluster again", "node", fo.addr)
	}
	if m == nil {
		return MigrateResult{}, fmt.Errorf("migrate slots: %w", err)
	}
	if err != nil {
		tr.Emit(true)
		return MigrateResult{Progress: tr.Snapshot(), Method: method}, fmt.Errorf("migrate slots: %w", err)
	}
	timeout := in.Timeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	var all []string
	for _, id := range m.live {
		all = append(all, m.addrs[id])
	}
	t2 := time.Now()
	if _, err := a.WaitConverged(ctx, clusteradmin.WaitConvergedInput{Addrs: all, RequireStateOK: true, Timeout: timeout}); err != nil {
		return MigrateResult{Progress: tr.Snapshot(), Method: method}, fmt.Errorf("migrate slots: %w", err)
	}
	tr.Emit(true)
	p := tr.Snapshot()
	a.Logger().InfoContext(ctx, "slot migration finished", "method", method, "slots", p.SlotsTotal, "keys_moved", p.KeysMoved,
		"observe_ms", t1.Sub(t0).Milliseconds(), "move_ms", t2.Sub(t1).Milliseconds(), "converge_ms", time.Since(t2).Milliseconds())
	return MigrateResult{Progress: tr.Snapshot(), Method: method}, nil
}

// maxObserveAgain bounds how often one MigrateSlots observes the cluster
// again after a node of the move failed over during its run.
const maxObserveAgain = 5

// moveOnce observes the cluster and moves every pending slot; m is nil when
// the observation failed. t1 is when the observation ended.
func (a *Migrator) moveOnce(ctx context.Context, in MigrateInput, tr *tracker) (m *migration, method string, t1 time.Time, err error) {
	if m, err = a.prepare(ctx, in, true); err != nil {
		return nil, "", t1, err
	}
	// The copy path sizes keys with MEMORY USAGE; without sampling, MIGRATE.
	m.copy = a.Limits.WithDefaults().Copy != clusteradmin.CopyNever && !a.Limits.WithDefaults().SizeSamplingOff
	m.budget = semaphore.NewWeighted(max(a.Limits.WithDefaults().CopyBudget, a.Limits.WithDefaults().BatchBytes))
	tr.SetTotal(m.total)
	tr.Finished(m.done)
	method = "legacy"
	if !in.Legacy {
		kind, err := a.commonAtomic(ctx, m)
		if err != nil {
			return nil, "", t1, err
		}
		if kind != AtomicNone {
			method = string(kind)
		}
	}
	t1 = time.Now()
	if method != "legacy" {
		return m, method, t1, a.runAtomic(ctx, AtomicMigration(method), m, tr)
	}
	if !a.Limits.WithDefaults().LatencyBudgetOff {
		m.pace = a.startPacer(ctx, m)
	}
	held := m.sourceReplicas()
	sourceguard.Hold(ctx, a.Admin, held)
	err = a.runLegacy(ctx, m, tr)
	sourceguard.Release(context.WithoutCancel(ctx), a.Admin, held)
	if m.pace != nil {
		m.pace.Stop()
		a.logPacing(ctx, m)
	}
	return m, method, t1, err
}

// prepare resolves addresses and observes the state of every planned slot.
func (a *Migrator) prepare(ctx context.Context, in MigrateInput, closeForeign bool) (*migration, error) {
	seeds := slices.Clone(in.Seeds)
	for _, addr := range in.Addrs {
		seeds = append(seeds, addr)
	}
	m, views, err := a.primaryViews(ctx, seeds)
	if err != nil {
		return nil, err
	}
	if a.takeOverLost(ctx, m, in.Moves) {
		if m, views, err = a.primaryViews(ctx, seeds); err != nil {
			return nil, err
		}
	}
	m.bySource = map[string][]wave{}
	for id, addr := range in.Addrs {
		m.addrs[id] = addr
	}
	m.followLost(views, in.Moves)
	moves := m.followFailovers(in.Moves)
	for i, mv := range moves {
		if mv != in.Moves[i] {
			a.Logger().WarnContext(ctx, "a planned node is a replica now, or lost: its shard's new primary takes its part",
				"planned", in.Moves[i].String(), "now", mv.String())
		}
	}
	for _, mv := range moves {
		for _, id := range []string{mv.From, mv.To} {
			if _, ok := views[id]; !ok && m.addrs[id] != "" {
				// A drained source may have become a replica: its view
				// still tells whether its slots are gone.
				if v, err := a.View(ctx, m.addrs[id]); err == nil {
					views[id] = v
				}
			}
		}
	}
	pending, foreign, err := m.classify(views, moves)
	if err != nil {
		return nil, err
	}
	if len(foreign) > 0 {
		if !closeForeign {
			return nil, &clusteradmin.PlanConflictError{Slot: foreign[0], Reason: "still open towards another node"}
		}
		a.Logger().WarnContext(ctx, "slots open towards other nodes, closing them first", "slots", topology.RangesOf(foreign).String())
		if _, err := a.CloseOpenSlots(ctx, CloseOpenSlotsInput{Seeds: seeds, Slots: topology.RangesOf(foreign)}); err != nil {
			return nil, err
		}
		return a.prepare(ctx, in, false)
	}
	m.addWaves(pending, a.Limits.WithDefaults().SlotsPerWave)
	return m, nil
}

// followFailovers retargets a move whose source or target is now a
// replica of a node other than the move's other end: that node was its
// replica and was promoted (Redis' failover, or the instance manager's
// takeover of a restarted primary), and owns what the planned node owned. A
// source that replicates the move's target drained its last slot and
// stays as planned.
func (m *migration) followFailovers(moves []topology.Move) []topology.Move {
	out := slices.Clone(moves)
	for i, mv := range out {
		if p := m.primaryOf[mv.From]; p != "" && p != mv.To {
			out[i].From = p
		}
		if p := m.primaryOf[mv.To]; p != "" && p != mv.From {
			out[i].To = p
		}
	}
	return out
}

// takeOverLost runs sourceguard.TakeOver for each planned source that is
// not live (a run that starts after its worker died with failover held on
// a source that was lost meanwhile); took: one was taken over now.
func (a *Migrator) takeOverLost(ctx context.Context, m *migration, moves []topology.Move) (took bool) {
	seen := map[string]bool{}
	for _, mv := range moves {
		if seen[mv.From] || slices.Contains(m.live, mv.From) || m.addrs[mv.From] == "" || len(m.primaries) == 0 {
			continue
		}
		seen[mv.From] = true
		np, err := sourceguard.TakeOver(ctx, a.Admin, m.addrs[m.primaries[0]], mv.From)
		if err != nil {
			a.Logger().WarnContext(ctx, "a planned source is lost; taking it over failed", "source", m.addrs[mv.From], "err", err)
		}
		took = took || (np != "" && !slices.ContainsFunc(m.primaries, func(id string) bool { return m.addrs[id] == np }))
	}
	return took
}

// followLost takes, for a planned node that is no live primary and
// replicates no one (lost: its Pod gone, or dead past cluster-node-timeout,
// and failed over by Redis or sourceguard.TakeOver), the live primary that
// claims one of its planned slots in its own view for the holder of its
// part (m.primaryOf, as for a node that replicates it).
func (m *migration) followLost(views map[string]clusteradmin.ClusterView, moves []topology.Move) {
	for _, mv := range moves {
		for _, id := range []string{mv.From, mv.To} {
			if _, live := views[id]; live || m.primaryOf[id] != "" {
				continue
			}
			for p, v := range views {
				for s := mv.Range.Start; s <= mv.Range.End && p != mv.From && p != mv.To; s++ {
					if v.Myself.Slots.Contains(s) {
						m.primaryOf[id] = p
						break
					}
				}
			}
		}
	}
}

// now is the node that holds id's part today: id, or the primary it
// replicates.
func (m *migration) now(id string) string {
	if p := m.primaryOf[id]; p != "" {
		return p
	}
	return id
}

// learnRoles takes each viewed node's own word on its role over the seed's
// (which may not have heard of a failover yet).
func (m *migration) learnRoles(views map[string]clusteradmin.ClusterView) {
	for id, v := range views {
		if v.Myself.IsPrimary() {
			delete(m.primaryOf, id)
		} else if v.Myself.PrimaryID != "" {
			m.primaryOf[id] = v.Myself.PrimaryID
		}
	}
}

// classify counts the planned slots and sorts each into done (already on
// its target), pending (by source and target) or foreign (open towards a
// third node); a slot planned twice, or owned by neither end, is a
// clusteradmin.PlanConflictError.
func (m *migration) classify(views map[string]clusteradmin.ClusterView, moves []topology.Move) (pending map[[2]string][]int, foreign []int, err error) {
	pending = map[[2]string][]int{}
	seen := map[int]bool{}
	for _, mv := range moves {
		sv, ok1 := views[mv.From]
		tv, ok2 := views[mv.To]
		if !ok1 || !ok2 {
			return nil, nil, &clusteradmin.PlanConflictError{Slot: mv.Range.Start, Reason: fmt.Sprintf("move %s: source or target is not a live primary", mv)}
		}
		for s := mv.Range.Start; s <= mv.Range.End; s++ {
			if seen[s] {
				return nil, nil, &clusteradmin.PlanConflictError{Slot: s, Reason: "planned twice"}
			}
			seen[s] = true
			m.total++
			if m.isForeignOpen(views, s, mv.From, mv.To) {
				foreign = append(foreign, s)
				continue
			}
			if from := tv.Myself.Importing[s]; from != "" && from != mv.From && m.now(from) == mv.From {
				m.adopted[s] = true
			}
			// A node importing a slot keeps its old owner while the
			// owner fails over (Redis skips importing slots when it
			// takes a newer claim): the owner's new primary holds it.
			os, ot := m.now(sv.Owner(s)), m.now(tv.Owner(s))
			open := sv.Myself.Migrating[s] != "" || tv.Myself.Importing[s] != ""
			switch {
			case os == mv.To && ot == mv.To && !open:
				m.done = append(m.done, s)
			case (os == mv.From || os == mv.To) && (ot == mv.From || ot == mv.To):
				k := [2]string{mv.From, mv.To}
				pending[k] = append(pending[k], s)
			default:
				return nil, nil, &clusteradmin.PlanConflictError{Slot: s, Reason: fmt.Sprintf("owned by %s (source view) / %s (target view), plan moves it %s", os, ot, mv)}
			}
		}
	}
	return pending, foreign, nil
}

// addWaves cuts each source's pending slots (sorted) into waves of size,
// in a fixed order of source and target.
func (m *migration) addWaves(pending map[[2]string][]int, size int) {
	for _, k := range slices.SortedFunc(maps.Keys(pending), func(x, y [2]string) int {
		if c := strings.Compare(x[0], y[0]); c != 0 {
			return c
		}
		return strings.Compare(x[1], y[1])
	}) {
		slots := pending[k]
		slices.Sort(slots)
		for len(slots) > 0 {
			n := min(size, len(slots))
			m.bySource[k[0]] = append(m.bySource[k[0]], wave{src: k[0], tgt: k[1], slots: slots[:n]})
			slots = slots[n:]
		}
	}
}

// startPacer starts the latency budget's probes on every primary (see
// internal/redis/pace). The window's ceiling is the concurrency the other limits allow.
// Each primary's PINGs go on one connection the pacer holds from its first
// PING (taken from the pool before any work is admitted): never behind a
// pipeline of the mover, never waiting for a free connection of a pool the
// copies hold (the first version did, and throttled itself on its own pool
// wait), so the round trip is the event loop's queue and the host's CPU,
// what the primaries' clients see.
func (a *Migrator) startPacer(ctx context.Context, m *migration) *pace.Pacer {
	lim := a.Limits.WithDefaults()
	per := lim.WavesPerSource
	if m.copy {
		per = lim.CopyWavesPerSource * lim.CopiesPerWave
	}
	// The floor is one unit per source running at once: the window is
	// shared, and a source's event loop with one unit in flight queues its
	// clients behind at most one slot's dump.
	sources := max(1, min(lim.Sources, len(m.bySource)))
	ctl := pace.AIMD{Budget: lim.LatencyBudget, Min: sources, Max: sources * per}
	var pings []func(context.Context) error
	var conns []*redis.Conn
	for _, id := range m.primaries {
		c := a.Client(m.addrs[id]).Conn()
		conns = append(conns, c)
		pings = append(pings, func(ctx context.Context) error { return c.Ping(ctx).Err() })
	}
	p := pace.Start(ctx, ctl, pings)
	p.OnStop = func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}
	return p
}

// logPacing logs how the latency budget's window went (pace.Pacer.Summary).
func (a *Migrator) logPacing(ctx context.Context, m *migration) {
	attrs := m.pace.Summary(func(i int) string { return m.addrs[m.primaries[i]] })
	a.Logger().InfoContext(ctx, "latency budget pacing", append([]any{"budget", a.Limits.WithDefaults().LatencyBudget}, attrs...)...)
}

// isForeignOpen reports whether slot s is open in a way other than
// src -> tgt. A slot open towards or from a node that failed over to tgt or
// src (now its replica) is not: the move continues with its new primary.
func (m *migration) isForeignOpen(views map[string]clusteradmin.ClusterView, s int, src, tgt string) bool {
	for id, v := range views {
		if to, ok := v.Myself.Migrating[s]; ok && !(id == src && m.now(to) == tgt) {
			return true
		}
		if from, ok := v.Myself.Importing[s]; ok && !(id == tgt && m.now(from) == src) {
			return true
		}
	}
	return false
}

// runLegacy runs the waves of every source, clusteradmin.Limits.Sources sources and
// clusteradmin.Limits.WavesPerSource (CopyWavesPerSource on the copy path) waves per
// source at a time; the first error stops everything.
func (a *Migrator) runLegacy(ctx context.Context, m *migration, tr *tracker) error {
	lim := a.Limits.WithDefaults()
	inFlight := lim.WavesPerSource
	if m.copy {
		inFlight = lim.CopyWavesPerSource
	}
	return pipe.Parallel(ctx, lim.Sources, slices.Sorted(maps.Keys(m.bySource)), func(ctx context.Context, src string) error {
		return pipe.Parallel(ctx, inFlight, m.bySource[src], func(ctx context.Context, w wave) error {
			err := a.retryWave(ctx, "migrate wave", m, w, tr)
			if err != nil {
				return fmt.Errorf("slots %s from %s to %s: %w", topology.RangesOf(w.slots), m.addrs[w.src], m.addrs[w.tgt], err)
			}
			return nil
		})
	})
}

// retryWave runs w until it succeeds, as clusteradmin.Admin.Retry does with
// a transient error. A node that refuses the cluster's password counts as
// transient here: dayops' instance manager fences a restarted primary with
// a one-time password for the moment it decides how it rejoins (about 0.1
// s when it serves), and the wave, run again, starts from the state it
// finds (slots open, keys on either side). It failed the migration before
// (a permanent error), and the target-kill scenario's scale-out with it. A
// MIGRATE the fenced target refused (legacy path) is the same case. A
// target that answers CLUSTERDOWN gets the owners of its orphaned imports
// back first (clusteradmin.Admin.RepairImports).
func (a *Migrator) retryWave(ctx context.Context, what string, m *migration, w wave, tr *tracker) error {
	return a.Retry(ctx, what, func(ctx context.Context) error {
		wctx, stop := sourceguard.Watch(ctx, a.Admin, m.addrs[w.tgt], w.src)
		err := a.runWave(wctx, m, w, tr)
		stop()
		var fo *failedOverError
		if errors.As(err, &fo) {
			return err // sourceDrained saw it; not transient: the run ends, MigrateSlots observes again
		}
		if err != nil {
			if fo := a.failedOver(ctx, m, w, err); fo != nil {
				return fo // likewise
			}
			if errors.Is(context.Cause(wctx), sourceguard.ErrLost) {
				return clusteradmin.Transient(fmt.Sprintf("source %s: %v; waiting for its failover", m.addrs[w.src], sourceguard.ErrLost))
			}
		}
		if hasMsg(err, "CLUSTERDOWN") {
			// The target may have lost the owner of a slot it imports.
			if _, rerr := a.RepairImports(ctx, m.addrs[w.tgt], nil, m.now); rerr != nil {
				a.Logger().WarnContext(ctx, "checking the target's imports", "target", m.addrs[w.tgt], "err", rerr)
			}
		}
		// "Target node is not a master": the source has not heard yet that
		// a promoted replica (a lost target's successor) is a primary.
		if clusteradmin.IsAuthError(err) || targetRefusedAuth(err) || hasMsg(err, "is not a master") {
			return clusteradmin.Transient(err.Error())
		}
		return err
	})
}

// sourceDrained makes sure, in one transaction on the wave's source, that
// it is still a primary and holds no key of the wave's slots, before the
// target takes them (the step that cannot be undone: the target's claim
// makes the source's shard delete what it still holds of them). The
// emptiness the wave saw is the source's only while it is the primary: a
// source that failed over mid-run is a replica whose counts say nothing of
// its shard (it may even be empty, resyncing), and its promoted replica
// holds the keys. Seen without it: a source failed over during a scale-out,
// the run finished in 0.7 s and 3,335 of 40,000 keys were gone. A source
// that replicates the target gave its last slot away on an earlier run.
func (a *Migrator) sourceDrained(ctx context.Context, m *migration, w wave) error {
	var role *redis.Cmd
	cmds, err := a.txPipe(ctx, m.addrs[w.src], func(p redis.Pipeliner) {
		role = p.Do(ctx, "role")
		for _, s := range w.slots {
			p.ClusterCountKeysInSlot(ctx, s)
		}
	})
	if err != nil {
		return err
	}
	r, err := role.Slice()
	if err != nil {
		return fmt.Errorf("role of %s: %w", m.addrs[w.src], err)
	}
	if len(r) == 0 {
		return fmt.Errorf("role of %s: empty reply", m.addrs[w.src])
	}
	if r[0] != "master" {
		if len(r) >= 3 && net.JoinHostPort(fmt.Sprint(r[1]), fmt.Sprint(r[2])) == m.addrs[w.tgt] {
			return nil
		}
		return &failedOverError{addr: m.addrs[w.src], cause: "about to close its slots"}
	}
	for i, c := range cmds[1:] {
		if n, err := c.(*redis.IntCmd).Result(); err != nil || n > 0 {
			return clusteradmin.Transient(fmt.Sprintf("slot %d: source %s holds %d keys (err %v), emptying again",
				w.slots[i], m.addrs[w.src], n, err))
		}
	}
	return nil
}

// failedOverError: a node of a wave answers as a replica (a failover during
// the run: SETSLOT on it fails for good, RESTOREs and MIGRATEs to it are
// redirected). The run ends and MigrateSlots observes the cluster again,
// which follows the failover. It wraps no Redis error, so that
// clusteradmin.Classify takes it for transient where it surfaces.
type failedOverError struct{ addr, cause string }

func (e *failedOverError) Error() string {
	return fmt.Sprintf("%s is a replica now (a failover during the move): %s", e.addr, e.cause)
}

// failedOver returns a failedOverError when the wave's source or target
// answers ROLE as a replica, or the source does not answer and
// sourceguard.TakeOver failed it over (lost, with failover held); nil
// otherwise.
func (a *Migrator) failedOver(ctx context.Context, m *migration, w wave, cause error) error {
	for _, id := range []string{w.src, w.tgt} {
		role, err := a.Client(m.addrs[id]).Do(ctx, "role").Slice()
		if err == nil && len(role) > 0 && role[0] == "slave" {
			return &failedOverError{addr: m.addrs[id], cause: cause.Error()}
		}
		if err != nil && id == w.src {
			np, terr := sourceguard.TakeOver(ctx, a.Admin, m.addrs[w.tgt], w.src)
			if terr != nil && ctx.Err() == nil { // (a sibling wave's failover ends this one's context)
				a.Logger().WarnContext(ctx, "the source does not answer; taking it over failed", "source", m.addrs[id], "err", terr)
			} else if np != "" {
				return &failedOverError{addr: m.addrs[id], cause: "lost; " + np + " took over with its open slots"}
			}
		}
	}
	return nil
}

// sourceReplicas are the addresses of the replicas of the sources of the
// move's waves.
func (m *migration) sourceReplicas() []string {
	var out []string
	for id, p := range m.primaryOf {
		if _, ok := m.bySource[p]; ok && slices.Contains(m.live, id) {
			out = append(out, m.addrs[id])
		}
	}
	slices.Sort(out)
	return out
}

// pipe runs the commands built by build on addr as one pipeline (see
// internal/redis/pipe).
func (a *Migrator) pipe(ctx context.Context, addr string, build func(p redis.Pipeliner)) ([]redis.Cmder, error) {
	return pipe.Exec(ctx, a.Client(addr), addr, build)
}

// txPipe is pipe inside MULTI/EXEC.
func (a *Migrator) txPipe(ctx context.Context, addr string, build func(p redis.Pipeliner)) ([]redis.Cmder, error) {
	return pipe.Tx(ctx, a.Client(addr), addr, build)
}

// runWave opens, empties and closes the slots of one wave. Every step is
// idempotent, so a wave that fails with a transient error is simply run
// again.
func (a *Migrator) runWave(ctx context.Context, m *migration, w wave, tr *tracker) error {
	src, tgt := m.addrs[w.src], m.addrs[w.tgt]
	if err := a.migrateAdoptedFirst(ctx, m, w); err != nil {
		return err
	}
	cmds, err := a.pipe(ctx, tgt, func(p redis.Pipeliner) {
		for _, s := range w.slots {
			p.Do(ctx, "cluster", "setslot", s, "importing", w.src)
		}
	})
	if err != nil {
		return err
	}
	var importing []int
	for i, c := range cmds {
		switch err := c.Err(); {
		case err == nil:
			importing = append(importing, w.slots[i])
		case !hasMsg(err, "already the owner"):
			return fmt.Errorf("setslot %d importing on %s: %w", w.slots[i], tgt, err)
		}
	}
	var pending []int
	if !m.copy {
		pending, err = a.setMigrating(ctx, m, src, tgt, w.tgt, w.slots)
	} else {
		pending, err = a.copySlots(ctx, m, w, importing, tr)
	}
	if err != nil {
		return err
	}
	ip, port, err := a.Resolve(ctx, tgt)
	if err != nil {
		return err
	}
	for len(pending) > 0 {
		if pending, err = a.emptyRound(ctx, m.pace, src, ip, port, w.tgt, pending, tr); err != nil {
			return err
		}
	}
	return a.closeSlots(ctx, m, w, importing, tr)
}

// migrateAdoptedFirst opens the wave's adopted slots on the source before
// the target imports them from it: once the source migrates them, no later
// run takes the target's keys of them for leftovers (DropBeforeOpen spares
// a slot its source migrates), though the target then imports them from
// the new source and they no longer look adopted.
func (a *Migrator) migrateAdoptedFirst(ctx context.Context, m *migration, w wave) error {
	var slots []int
	for _, s := range w.slots {
		if m.adopted[s] {
			slots = append(slots, s)
		}
	}
	if len(slots) == 0 {
		return nil
	}
	cmds, err := a.pipe(ctx, m.addrs[w.src], func(p redis.Pipeliner) {
		for _, s := range slots {
			p.Do(ctx, "cluster", "setslot", s, "migrating", w.tgt)
		}
	})
	if err != nil {
		return err
	}
	for i, c := range cmds {
		if err := c.Err(); err != nil {
			return fmt.Errorf("setslot %d migrating on %s: %w", slots[i], m.addrs[w.src], err)
		}
	}
	return nil
}

// copySlots opens the wave's slots on the source by the copy path
// (internal/redis/slotcopy) where it can, the others with setMigrating, and
// returns the slots that are open (MIGRATING) there afterwards, for
// emptyRound to finish. importing lists the slots this run opened on the
// target.
func (a *Migrator) copySlots(ctx context.Context, m *migration, w wave, importing []int, tr *tracker) ([]int, error) {
	src, tgt := m.addrs[w.src], m.addrs[w.tgt]
	cp := &slotcopy.Copier{Admin: a.Admin, Budget: m.budget, Pace: m.pace, Mix: &m.mix, BeforeCommit: a.BeforeCommit,
		Copied: func(keys, bytes int64) {
			tr.Moved(keys, bytes, 1, 0)
			tr.Copied(1, 0)
			tr.Emit(false)
		},
		Conflict: func() { tr.Copied(0, 1) },
	}
	// An adopted slot's keys on the target were moved there: the copy path
	// (which starts by dropping them) is not for it.
	fresh := slices.DeleteFunc(slices.Clone(importing), func(s int) bool { return m.adopted[s] })
	open, legacy, err := cp.Open(ctx, src, tgt, w.tgt, w.slots, fresh)
	if err != nil {
		return nil, err
	}
	more, err := a.setMigrating(ctx, m, src, tgt, w.tgt, legacy)
	if err != nil {
		return nil, err
	}
	return append(open, more...), nil
}

// setMigrating opens slots on the source towards the target (tgt, tgtID)
// and returns those it still owns (a slot the source gave away already only
// needs closing).
//
// Before the source starts migrating a slot, the target must hold no key of
// it: such keys are leftovers no client can reach, and would bring back a
// key a client deletes on the source once the slot migrates; they are
// removed first (slotcopy.DropBeforeOpen), unless the slot is adopted (its
// old source failed over mid-slot: the keys were moved). A slot the source migrates
// already keeps the target's keys (clients may have written them); MIGRATE
// compares those it finds on both sides (clusteradmin.Limits.BusyKey).
func (a *Migrator) setMigrating(ctx context.Context, m *migration, src, tgt, tgtID string, slots []int) ([]int, error) {
	if len(slots) == 0 {
		return nil, nil
	}
	drop := slices.DeleteFunc(slices.Clone(slots), func(s int) bool { return m.adopted[s] })
	if err := slotcopy.DropBeforeOpen(ctx, a.Admin, src, tgt, drop); err != nil {
		return nil, err
	}
	cmds, err := a.pipe(ctx, src, func(p redis.Pipeliner) {
		for _, s := range slots {
			p.Do(ctx, "cluster", "setslot", s, "migrating", tgtID)
		}
	})
	if err != nil {
		return nil, err
	}
	var open []int
	for i, c := range cmds {
		switch err := c.Err(); {
		case err == nil:
			open = append(open, slots[i])
		case hasMsg(err, "not the owner"):
			// The source gave the slot away already (an earlier run got
			// past SETSLOT NODE on the source): only the closing remains.
		default:
			return nil, fmt.Errorf("setslot %d migrating on %s: %w", slots[i], src, err)
		}
	}
	return open, nil
}

// closeSlots assigns the wave's slots to the target: target first (it bumps
// its epoch, owns the slot from then on and broadcasts a PONG with its new
// slots and epoch to every node), then the source (which refuses if it still
// holds keys). No other node is told: they take the target's claim from its
// broadcast (its config epoch is now the greatest, so the claim wins), and a
// client that asks one of them before that is sent to the source, which sends
// it on to the target (MOVED). Telling every other primary cost a round trip
// per primary per wave, O(primaries) per wave, and the migration's closing
// WaitConverged is what makes sure every node agrees.
//
// On the target the whole wave is one MULTI/EXEC in which every slot but one
// is first made STABLE: SETSLOT NODE on a slot the node is importing bumps its
// config epoch and broadcasts a PONG to every node, which makes each of them
// walk all 16384 slots; once per wave (on the last slot still importing) is
// what the cluster needs, once per slot cost 15% of the redis-server CPU of a
// scale-in. The transaction leaves no moment in which the target neither
// imports nor owns a slot (clients sent there by ASK would bounce).
// importing lists the slots this run opened on the target.
func (a *Migrator) closeSlots(ctx context.Context, m *migration, w wave, importing []int, tr *tracker) error {
	if err := a.sourceDrained(ctx, m, w); err != nil {
		return err
	}
	bump := -1
	if len(importing) > 0 {
		bump = importing[len(importing)-1]
	}
	var slotOf []int // slot of each queued command on the target
	cmds, err := a.txPipe(ctx, m.addrs[w.tgt], func(p redis.Pipeliner) {
		for _, s := range w.slots {
			if s != bump {
				p.Do(ctx, "cluster", "setslot", s, "stable")
				slotOf = append(slotOf, s)
			}
			p.Do(ctx, "cluster", "setslot", s, "node", w.tgt)
			slotOf = append(slotOf, s)
		}
	})
	if err != nil {
		return err
	}
	for i, c := range cmds {
		if err := c.Err(); err != nil {
			return fmt.Errorf("setslot %d node on %s: %w", slotOf[i], m.addrs[w.tgt], err)
		}
	}
	set := func(addr string) ([]redis.Cmder, error) {
		return a.pipe(ctx, addr, func(p redis.Pipeliner) {
			for _, s := range w.slots {
				p.Do(ctx, "cluster", "setslot", s, "node", w.tgt)
			}
		})
	}
	cmds, err = set(m.addrs[w.src])
	if err != nil {
		return err
	}
	for i, c := range cmds {
		if err := c.Err(); err != nil {
			if hasMsg(err, "only with masters") {
				// The source gave its last slot away and, as Redis does
				// with cluster-allow-replica-migration, turned into a
				// replica: it owns nothing, which is what we want.
				break
			}
			if hasMsg(err, "still hold keys") {
				return clusteradmin.Transient(fmt.Sprintf("slot %d: source still holds keys, emptying again", w.slots[i]))
			}
			return fmt.Errorf("setslot %d node on %s: %w", w.slots[i], m.addrs[w.src], err)
		}
	}
	tr.Finished(w.slots)
	return nil
}

type batch struct {
	slot  int
	keys  []string
	bytes int64
	big   bool
}

// emptyRound moves up to clusteradmin.Limits.BatchKeys keys of each pending slot and
// returns the slots that may still hold keys.
func (a *Migrator) emptyRound(ctx context.Context, pace *pace.Pacer, src, ip string, port int, tgtID string, slots []int, tr *tracker) ([]int, error) {
	lim := a.Limits.WithDefaults()
	keys, sizes, err := a.slotKeys(ctx, src, slots)
	if err != nil {
		return nil, err
	}
	batches, again, err := packBatches(lim, slots, keys, sizes)
	if err != nil || len(batches) == 0 {
		return again, err
	}
	cmds, err := a.migrateBatches(ctx, pace, src, ip, port, batches)
	if err != nil {
		return nil, err
	}
	var moved, bytes, n, big int64
	retry := map[int]bool{}
	for i, c := range cmds {
		b := batches[i]
		switch err := c.Err(); {
		case err == nil:
			moved += int64(len(b.keys))
			bytes += b.bytes
			n++
			if b.big {
				big++
			}
		case isBusyKey(err):
			if err := a.resolveBusy(ctx, src, ip, port, b, tr); err != nil {
				return nil, err
			}
			retry[b.slot] = true
		case clusteradmin.IsTransient(err):
			return nil, fmt.Errorf("migrate %d keys of slot %d from %s: %w", len(b.keys), b.slot, src, err)
		default:
			return nil, fmt.Errorf("migrate %d keys of slot %d from %s to %s:%d: %w", len(b.keys), b.slot, src, ip, port, err)
		}
	}
	tr.Moved(moved, bytes, n, big)
	tr.Emit(false)
	for s := range retry {
		if !slices.Contains(again, s) {
			again = append(again, s)
		}
	}
	return again, nil
}

// slotKeys reads up to clusteradmin.Limits.BatchKeys keys of each slot on src and,
// unless size sampling is off, their MEMORY USAGE (in the order of the keys,
// slot after slot; nil when off).
func (a *Migrator) slotKeys(ctx context.Context, src string, slots []int) ([][]string, []int64, error) {
	lim := a.Limits.WithDefaults()
	cmds, err := a.pipe(ctx, src, func(p redis.Pipeliner) {
		for _, s := range slots {
			p.ClusterGetKeysInSlot(ctx, s, lim.BatchKeys)
		}
	})
	if err != nil {
		return nil, nil, err
	}
	keys := make([][]string, len(slots))
	var all []string
	for i, c := range cmds {
		ks, err := c.(*redis.StringSliceCmd).Result()
		if err != nil {
			return nil, nil, fmt.Errorf("getkeysinslot %d on %s: %w", slots[i], src, err)
		}
		keys[i] = ks
		all = append(all, ks...)
	}
	var sizes []int64
	if !lim.SizeSamplingOff {
		if sizes, err = a.memoryUsage(ctx, src, all); err != nil {
			return nil, nil, err
		}
	}
	return keys, sizes, nil
}

// packBatches packs the keys of each slot into MIGRATE batches within
// clusteradmin.Limits.BatchKeys and BatchBytes (a key bigger than BatchBytes goes alone,
// marked big; a gone key, size -1, is left out) and returns the slots that
// may hold more keys. A key over MaxKeyBytes is a clusteradmin.KeyTooBigError.
func packBatches(lim clusteradmin.Limits, slots []int, keys [][]string, sizes []int64) (batches []batch, again []int, err error) {
	k := 0
	for i, s := range slots {
		if len(keys[i]) >= lim.BatchKeys {
			again = append(again, s)
		}
		cur := batch{slot: s}
		flush := func() {
			if len(cur.keys) > 0 {
				batches = append(batches, cur)
			}
			cur = batch{slot: s}
		}
		for _, key := range keys[i] {
			var size int64
			if sizes != nil {
				size = sizes[k]
			}
			k++
			if size < 0 {
				continue
			}
			if size > lim.MaxKeyBytes {
				return nil, nil, &clusteradmin.KeyTooBigError{Key: key, Slot: s, Bytes: size, Limit: lim.MaxKeyBytes}
			}
			if size > lim.BatchBytes {
				batches = append(batches, batch{slot: s, keys: []string{key}, bytes: size, big: true})
				continue
			}
			if len(cur.keys) >= lim.BatchKeys || cur.bytes+size > lim.BatchBytes {
				flush()
			}
			cur.keys = append(cur.keys, key)
			cur.bytes += size
		}
		flush()
	}
	return batches, again, nil
}

// migrateBatches sends the batches' MIGRATEs from src, clusteradmin.Limits.MigratesPerPipeline
// per pipeline, each pipeline within the pacer's window, and returns their
// replies in order.
func (a *Migrator) migrateBatches(ctx context.Context, pace *pace.Pacer, src, ip string, port int, batches []batch) ([]redis.Cmder, error) {
	var cmds []redis.Cmder
	per := a.Limits.WithDefaults().MigratesPerPipeline
	if per <= 0 {
		per = len(batches)
	}
	for start := 0; start < len(batches); start += per {
		chunk := batches[start:min(start+per, len(batches))]
		if err := pace.Acquire(ctx); err != nil {
			return nil, err
		}
		got, err := a.pipe(ctx, src, func(p redis.Pipeliner) {
			for _, b := range chunk {
				p.Do(ctx, a.migrateArgs(ip, port, b, false)...)
			}
		})
		pace.Release()
		if err != nil {
			return nil, err
		}
		cmds = append(cmds, got...)
	}
	return cmds, nil
}

// memoryUsage returns MEMORY USAGE of each key on addr, -1 for a key that is
// gone (deleted, expired, or moved by ASK).
func (a *Migrator) memoryUsage(ctx context.Context, addr string, keys []string) ([]int64, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	cmds, err := a.pipe(ctx, addr, func(p redis.Pipeliner) {
		for _, k := range keys {
			p.MemoryUsage(ctx, k)
		}
	})
	if err != nil {
		return nil, err
	}
	sizes := make([]int64, len(keys))
	for i, c := range cmds {
		n, err := c.(*redis.IntCmd).Result()
		switch {
		case err == nil:
			sizes[i] = n
		case errors.Is(err, redis.Nil) || hasMsg(err, "ASK "):
			sizes[i] = -1
		default:
			return nil, fmt.Errorf("memory usage %q on %s: %w", keys[i], addr, err)
		}
	}
	return sizes, nil
}

// migrateArgs builds MIGRATE host port "" 0 timeout [REPLACE] [AUTH2 ...]
// KEYS k... with a timeout that grows with the batch's bytes.
func (a *Migrator) migrateArgs(ip string, port int, b batch, replace bool) []any {
	lim := a.Limits.WithDefaults()
	timeout := lim.MigrateTimeout
	if b.bytes > lim.BatchBytes {
		// MIGRATE's timeout bounds each I/O step; give big keys more, but
		// stay below the client's read timeout.
		timeout = min(50*time.Second, time.Duration(float64(timeout)*float64(b.bytes)/float64(lim.BatchBytes)))
	}
	args := []any{"migrate", ip, strconv.Itoa(port), "", 0, timeout.Milliseconds()}
	if replace {
		args = append(args, "replace")
	}
	switch {
	case a.MigrateUser != "":
		args = append(args, "auth2", a.MigrateUser, a.MigratePassword)
	case a.MigratePassword != "":
		args = append(args, "auth", a.MigratePassword)
	}
	args = append(args, "keys")
	for _, k := range b.keys {
		args = append(args, k)
	}
	return args
}

// resolveBusy handles keys of b that MIGRATE found on the target too
// (busykey.Resolve); a different source copy replaces the target's with
// MIGRATE ... REPLACE.
func (a *Migrator) resolveBusy(ctx context.Context, src, ip string, port int, b batch, tr *tracker) error {
	equal, replaced, err := busykey.Resolve(ctx, a.Admin, src, net.JoinHostPort(ip, strconv.Itoa(port)), b.slot, b.keys,
		func(key string) error {
			one := batch{slot: b.slot, keys: []string{key}, bytes: b.bytes / int64(len(b.keys))}
			return a.Client(src).Do(ctx, a.migrateArgs(ip, port, one, true)...).Err()
		})
	tr.Busy(equal, replaced)
	return err
}

func isBusyKey(err error) bool { return err != nil && strings.Contains(err.Error(), "BUSYKEY") }

// targetRefusedAuth: a MIGRATE whose target refused its AUTH (a fenced
// target), reported by the source as its own ERR; it deleted nothing.
func targetRefusedAuth(err error) bool {
	return hasMsg(err, "Target instance replied with error: WRONGPASS") || hasMsg(err, "Target instance replied with error: NOAUTH")
}

func hasMsg(err error, sub string) bool { return err != nil && strings.Contains(err.Error(), sub) }
