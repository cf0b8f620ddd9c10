package chaosbench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/dayops/dayops/bench/benchkit"
	"github.com/dayops/dayops/internal/apiv1"
	"github.com/dayops/dayops/internal/testutil/redistest"
)

// Outager takes dayops' own database (the audit log) down for a while, as a
// long PostgreSQL restart or failover does (pgtest.Terminator: every
// connection ended, new ones refused), and returns how many connections it
// ended.
type Outager interface {
	Outage(ctx context.Context, d time.Duration) (int, error)
}

// AuditOutage is how long the audit-db-down scenario keeps the database
// down: long past what one audit append rides out (10 s), long enough for
// two failovers one after the other (about 10 s each with the 5 s
// cluster-node-timeout).
const AuditOutage = 45 * time.Second

// AuditDatabaseDown loses two primaries one after the other while dayops'
// own database is down: the database refuses every connection for outage,
// then first's primary Pod is force-deleted, and once its Service has
// followed the promoted replica, second's. The guardian relabels from what
// it watches, never waiting for the audit log, so both Services must follow
// while the database is still down (an error otherwise); its events wait
// (GuardianHealth.PendingEvents) and are recorded once the database is back,
// and the recoveries, whose steps are recorded, finish then. One figure per
// loss, each measured from its own fault.
func (b *Bench) AuditDatabaseDown(ctx context.Context, first, second int, outage time.Duration) ([]Figure, error) {
	if b.Database == nil {
		return nil, errors.New("audit-db-down: no database to take down (Env.Database)")
	}
	if _, err := b.Credentials(ctx); err != nil {
		return nil, err
	}
	span, err := b.Begin(ctx)
	if err != nil {
		return nil, err
	}
	keysBefore := span.keysBefore
	octx, cancel := context.WithCancel(ctx)
	defer cancel()
	down := make(chan outageEnd, 1)
	go func() {
		n, err := b.Database.Outage(octx, outage)
		down <- outageEnd{n, err, time.Now()}
	}()
	// The outage has begun (connections ended, new ones refused) well
	// within a second.
	if err := benchkit.Sleep(ctx, time.Second); err != nil {
		return nil, err
	}
	b.Log.Info("chaos: fault", "scenario", "audit-db-down", "outage", outage, "shards", []int{first, second})
	w := &outageWatch{stats: span.stats}
	figs := make([]Figure, 2)
	for i, shard := range []int{first, second} {
		label := fmt.Sprintf("audit database down %s: force-delete primary Pod %d of 2", outage, i+1)
		if figs[i], err = b.loseInOutage(ctx, label, shard, outage, w); err != nil {
			return nil, err
		}
	}
	var e outageEnd
	select {
	case e = <-down:
		return nil, fmt.Errorf("audit-db-down: the database was back (%s) before the second Service followed: the guardian waited for it (%v)",
			e.at.Format(time.TimeOnly), e.err)
	default:
	}
	followed := time.Now()
	if e = <-down; e.err != nil {
		return nil, fmt.Errorf("audit-db-down: outage: %w", e.err)
	}
	b.Log.Info("chaos: audit database back", "ended_connections", e.conns, "pending_events_max", w.pending,
		"outage_left_after_second_service", e.at.Sub(followed).Round(100*time.Millisecond))
	whole, err := b.WaitWhole(ctx, RepairLimit)
	if err != nil {
		return nil, fmt.Errorf("audit-db-down: %w", err)
	}
	if err := b.awaitRecorded(ctx, w.pending); err != nil {
		return nil, err
	}
	keysAfter, err := b.countFilled(ctx)
	if err != nil {
		return nil, err
	}
	// What the writer saw from the second loss's Service to the repair
	// counts with the second loss.
	w.add(&figs[1], b.writer.Stats(), b.gaps.Take())
	for i := range figs {
		figs[i].Redundancy = whole.Sub(w.faults[i])
		figs[i].KeysBefore, figs[i].KeysLost = keysBefore, max(0, keysBefore-keysAfter)
		figs[i].Note = join(figs[i].Note, fmt.Sprintf("Service followed %s before the database was back",
			e.at.Sub(w.faults[i].Add(figs[i].Service)).Round(100*time.Millisecond)))
	}
	figs[0].Note = join(figs[0].Note, fmt.Sprintf("%d connections ended, up to %d guardian events waited for the database", e.conns, w.pending))
	if w.apiErrs > 0 {
		figs[0].Note = join(figs[0].Note, fmt.Sprintf("%d cluster reads through the API failed during the outage (last: %v)", w.apiErrs, w.lastAPIErr))
	}
	b.Figures = append(b.Figures, figs...)
	b.Log.Info("chaos: repaired", "scenario", "audit-db-down", "service", []time.Duration{figs[0].Service, figs[1].Service},
		"redundancy", []time.Duration{figs[0].Redundancy, figs[1].Redundancy}, "pending_events_max", w.pending)
	return figs, nil
}

// outageEnd is how an outage ended: connections it ended, when.
type outageEnd struct {
	conns int
	err   error
	at    time.Time
}

// outageWatch is what AuditDatabaseDown sees across its two losses: the
// faults' times, the writer's counts at the last figure, the most guardian
// events seen waiting, and the API's failed reads.
type outageWatch struct {
	faults     []time.Time
	stats      redistest.WriterStats
	pending    int
	apiErrs    int
	lastAPIErr error
}

// add counts the writer's work since the last figure into f.
func (w *outageWatch) add(f *Figure, now redistest.WriterStats, gap time.Duration) {
	addWrites(f, w.stats, now)
	f.Gap = max(f.Gap, gap)
	w.stats = now
}

// loseInOutage force-deletes shard's primary Pod and waits until its
// Service follows the promoted replica (at most outage), reading the
// cluster through the API meanwhile as an operator would: its count of
// guardian events waiting for the database.
func (b *Bench) loseInOutage(ctx context.Context, label string, shard int, outage time.Duration, w *outageWatch) (Figure, error) {
	f := Figure{Scenario: label}
	_, ips, err := b.shardIPs(ctx, shard)
	if err != nil {
		return f, err
	}
	p, err := b.PrimaryOf(ctx, shard)
	if err != nil {
		return f, err
	}
	watch := b.watchPromotion(ctx, shard, ips)
	fault := time.Now()
	w.faults = append(w.faults, fault)
	if err := benchkit.ForceDeletePod(ctx, b.Kube, b.Namespace, p.Name); err != nil {
		watch.stop()
		return f, err
	}
	for wait := true; wait; {
		select {
		case <-watch.done:
			wait = false
		case <-ctx.Done():
			watch.stop()
			return f, ctx.Err()
		case <-time.After(500 * time.Millisecond):
			if c, err := b.cluster(ctx); err == nil {
				w.pending = max(w.pending, c.PendingAuditEvents)
			} else {
				w.apiErrs++
				w.lastAPIErr = err
			}
			wait = time.Since(fault) <= outage
		}
	}
	promotedAt, serviceAt := watch.stop()
	if promotedAt.IsZero() || serviceAt.IsZero() {
		return f, fmt.Errorf("%s: promoted %v, Service followed %v: want both", label, !promotedAt.IsZero(), !serviceAt.IsZero())
	}
	f.Promoted, f.Service, f.ServiceAfterPromotion = promotedAt.Sub(fault), serviceAt.Sub(fault), serviceAt.Sub(promotedAt)
	f.Note = "Pod " + p.Name
	w.add(&f, b.writer.Stats(), b.gaps.Take())
	return f, nil
}

// awaitRecorded waits (a minute at most) until the guardian has no event
// waiting for the database; some must have waited (pending, the most seen
// during the outage), or the outage did not hold a record.
func (b *Bench) awaitRecorded(ctx context.Context, pending int) error {
	left := -1
	for until := time.Now().Add(time.Minute); time.Now().Before(until); {
		if gh, err := b.Health(ctx); err == nil {
			if left = gh.PendingEvents; left == 0 {
				break
			}
		}
		if err := benchkit.Sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
	if left != 0 {
		return fmt.Errorf("audit-db-down: %d guardian events still wait for the database a minute after it was back", left)
	}
	if pending == 0 {
		return errors.New("audit-db-down: no guardian event waited for the database: the outage did not hold the failovers' records")
	}
	return nil
}

// cluster reads the cluster through the API.
func (b *Bench) cluster(ctx context.Context) (apiv1.ClusterDetail, error) {
	var c apiv1.ClusterDetail
	err := b.Auditor.Do(ctx, http.MethodGet, "/v1/clusters/"+b.Cluster, url.Values{"namespace": {b.Namespace}}, nil, &c)
	return c, err
}
