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
	if b.writer == nil {
		return nil, errors.New("start the writer first")
	}
	if _, err := b.Credentials(ctx); err != nil {
		return nil, err
	}
	keysBefore, err := b.countFilled(ctx)
	if err != nil {
		return nil, err
	}
	type ended struct {
		conns int
		err   error
		at    time.Time
	}
	octx, cancel := context.WithCancel(ctx)
	defer cancel()
	down := make(chan ended, 1)
	go func() {
		n, err := b.Database.Outage(octx, outage)
		down <- ended{n, err, time.Now()}
	}()
	// The outage has begun (connections ended, new ones refused) well
	// within a second.
	if err := benchkit.Sleep(ctx, time.Second); err != nil {
		return nil, err
	}
	b.Log.Info("chaos: fault", "scenario", "audit-db-down", "outage", outage, "shards", []int{first, second})

	figs := make([]Figure, 2)
	faults := make([]time.Time, 2)
	pending, apiErrs := 0, 0
	var lastAPIErr error
	b.gaps.Take()
	stats := b.writer.Stats()
	for i, shard := range []int{first, second} {
		f := &figs[i]
		f.Scenario = fmt.Sprintf("audit database down %s: force-delete primary Pod %d of 2", outage, i+1)
		_, ips, err := b.shardIPs(ctx, shard)
		if err != nil {
			return nil, err
		}
		p, err := b.PrimaryOf(ctx, shard)
		if err != nil {
			return nil, err
		}
		watch := b.watchPromotion(ctx, shard, ips)
		faults[i] = time.Now()
		if err := benchkit.ForceDeletePod(ctx, b.Kube, b.Namespace, p.Name); err != nil {
			watch.stop()
			return nil, err
		}
		// Until the Service follows (the watch ends), counting the
		// guardian's events that wait for the database meanwhile.
		for wait := true; wait; {
			select {
			case <-watch.done:
				wait = false
			case <-ctx.Done():
				watch.stop()
				return nil, ctx.Err()
			case <-time.After(500 * time.Millisecond):
				// As an operator sees it: the API's cluster view.
				if c, err := b.cluster(ctx); err == nil {
					pending = max(pending, c.PendingAuditEvents)
				} else {
					apiErrs++
					lastAPIErr = err
				}
				if time.Since(faults[i]) > outage {
					wait = false
				}
			}
		}
		promotedAt, serviceAt := watch.stop()
		if promotedAt.IsZero() || serviceAt.IsZero() {
			return nil, fmt.Errorf("%s: promoted %v, Service followed %v: want both", f.Scenario, !promotedAt.IsZero(), !serviceAt.IsZero())
		}
		f.Promoted, f.Service, f.ServiceAfterPromotion = promotedAt.Sub(faults[i]), serviceAt.Sub(faults[i]), serviceAt.Sub(promotedAt)
		f.Note = "Pod " + p.Name
		f.Gap = b.gaps.Take()
		now := b.writer.Stats()
		f.Acked, f.Failed, f.AckedLost = now.Acked-stats.Acked, now.Failed-stats.Failed, now.Lost-stats.Lost
		stats = now
	}
	var e ended
	select {
	case e = <-down:
		return nil, fmt.Errorf("audit-db-down: the database was back (%s) before the second Service followed: the guardian waited for it (%v)",
			e.at.Format(time.TimeOnly), e.err)
	default:
	}
	followed := time.Now()
	e = <-down
	if e.err != nil {
		return nil, fmt.Errorf("audit-db-down: outage: %w", e.err)
	}
	for i := range figs {
		figs[i].Note = join(figs[i].Note, fmt.Sprintf("Service followed %s before the database was back", e.at.Sub(faults[i].Add(figs[i].Service)).Round(100*time.Millisecond)))
	}
	b.Log.Info("chaos: audit database back", "ended_connections", e.conns, "pending_events_max", pending, "outage_left_after_second_service", e.at.Sub(followed).Round(100*time.Millisecond))
	whole, err := b.WaitWhole(ctx, RepairLimit)
	if err != nil {
		return nil, fmt.Errorf("audit-db-down: %w", err)
	}
	// The guardian's events are written once the database answers.
	left := -1
	for until := time.Now().Add(time.Minute); time.Now().Before(until); {
		gh, err := b.Health(ctx)
		if err == nil {
			if left = gh.PendingEvents; left == 0 {
				break
			}
		}
		if err := benchkit.Sleep(ctx, 200*time.Millisecond); err != nil {
			return nil, err
		}
	}
	if left != 0 {
		return nil, fmt.Errorf("audit-db-down: %d guardian events still wait for the database a minute after it was back", left)
	}
	if apiErrs > 0 {
		figs[0].Note = join(figs[0].Note, fmt.Sprintf("%d cluster reads through the API failed during the outage (last: %v)", apiErrs, lastAPIErr))
	}
	if pending == 0 {
		return nil, errors.New("audit-db-down: no guardian event waited for the database: the outage did not hold the failovers' records")
	}
	keysAfter, err := b.countFilled(ctx)
	if err != nil {
		return nil, err
	}
	last := &figs[1]
	now := b.writer.Stats()
	last.Acked, last.Failed, last.AckedLost = last.Acked+now.Acked-stats.Acked, last.Failed+now.Failed-stats.Failed, last.AckedLost+now.Lost-stats.Lost
	last.Gap = max(last.Gap, b.gaps.Take())
	if now.Lost > 0 {
		last.Note = join(last.Note, fmt.Sprintf("lost: %v", now.LostErr))
	}
	for i := range figs {
		figs[i].Redundancy = whole.Sub(faults[i])
		figs[i].KeysBefore, figs[i].KeysLost = keysBefore, max(0, keysBefore-keysAfter)
	}
	figs[0].Note = join(figs[0].Note, fmt.Sprintf("%d connections ended, up to %d guardian events waited for the database", e.conns, pending))
	b.Figures = append(b.Figures, figs...)
	b.Log.Info("chaos: repaired", "scenario", "audit-db-down", "service", []time.Duration{figs[0].Service, figs[1].Service},
		"redundancy", []time.Duration{figs[0].Redundancy, figs[1].Redundancy}, "pending_events_max", pending)
	return figs, nil
}

// cluster reads the cluster through the API.
func (b *Bench) cluster(ctx context.Context) (apiv1.ClusterDetail, error) {
	var c apiv1.ClusterDetail
	err := b.Auditor.Do(ctx, http.MethodGet, "/v1/clusters/"+b.Cluster, url.Values{"namespace": {b.Namespace}}, nil, &c)
	return c, err
}
