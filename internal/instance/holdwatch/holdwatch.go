// Package holdwatch keeps a slot move's hold on failover from outliving its
// mover: the in-Pod instance manager of a replica takes its failed primary
// over when nobody else does.
//
// A legacy slot move sets cluster-replica-no-failover on its sources'
// replicas for the length of its run, and its mover takes a source it sees
// lost over itself, with the source's open slots (slotmigrate/sourceguard).
// The hold outlives the mover when the run never ends: its workflow
// terminated while its worker was down, or the worker down for longer than
// a primary survives. A primary lost then is never failed over: Redis does
// not, the mover is not there, and the shard's slots stay down (the
// recovery workflow ends NoPrimary after its wait).
//
// Watch runs beside every redis-server the manager serves. When its node is
// a replica held this way and its primary has carried the cluster's fail
// flag for Grace (a running mover acts within seconds of the flag), it runs
// sourceguard.TakeOver, the mover's own: the held replica furthest ahead
// takes the primary over with MIGRATING for every slot a live primary
// imports from it, in one MULTI, so no moved key is served as absent. The
// managers of a primary's replicas may act at once: each picks the same
// replica (the highest offset, then the lowest address), the second's
// command fails on a node that is a primary already, and its next look
// finds the primary replaced.
//
// Watch never clears the hold: an open slot the takeover carried is still
// protected if the new primary is lost before the move runs again. The
// guardian clears a hold no move owns once no operation runs and no slot
// of the shard migrates (activities/guardian sweepHolds); until then a
// leftover hold adds Grace to a failover in that shard.
package holdwatch

import (
	"context"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dayops/dayops/internal/redis/clusteradmin"
	"github.com/dayops/dayops/internal/redis/slotmigrate/sourceguard"
)

// DefaultGrace is how long a held replica's primary stays failed before
// the manager takes it over.
const DefaultGrace = 20 * time.Second

// Options of Watch.
type Options struct {
	// Addr is this node's redis-server.
	Addr string
	// Password is every node's (requirepass and masterauth).
	Password string
	// Grace (default DefaultGrace) and Interval between looks (default 2 s).
	Grace, Interval time.Duration
	Log             *slog.Logger
}

// Watch looks at the node every Interval until ctx ends.
func Watch(ctx context.Context, o Options) {
	if o.Grace <= 0 {
		o.Grace = DefaultGrace
	}
	if o.Interval <= 0 {
		o.Interval = 2 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	pool := clusteradmin.NewClientPool(redis.Options{Password: o.Password, DialTimeout: time.Second,
		ReadTimeout: 3 * time.Second, WriteTimeout: 3 * time.Second})
	defer pool.Close()
	a := clusteradmin.New(pool, o.Log, clusteradmin.Limits{})
	w := watcher{o: o, a: a}
	t := time.NewTicker(o.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.look(ctx, time.Now())
		}
	}
}

// watcher remembers since when the node's primary has been seen failed.
type watcher struct {
	o       Options
	a       *clusteradmin.Admin
	primary string    // its node ID
	since   time.Time // zero: not failed at the last look
}

// look reads the node once and takes its primary over when it is due.
func (w *watcher) look(ctx context.Context, now time.Time) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	failed, primary := w.heldFailedPrimary(ctx)
	if !failed {
		w.since = time.Time{}
		return
	}
	if w.since.IsZero() || w.primary != primary {
		w.primary, w.since = primary, now
		w.o.Log.WarnContext(ctx, "the primary failed while a slot move's hold keeps its replicas from failing it over: "+
			"the manager takes it over unless the move's mover does first", "primary", primary, "within", w.o.Grace)
		return
	}
	if now.Sub(w.since) < w.o.Grace {
		return
	}
	np, err := sourceguard.TakeOver(ctx, w.a, w.o.Addr, primary)
	switch {
	case err != nil:
		w.o.Log.WarnContext(ctx, "take over a failed primary held from failover", "primary", primary, "err", err)
	case np != "":
		w.o.Log.WarnContext(ctx, "a failed primary held from failover was taken over by the manager",
			"primary", primary, "new_primary", np, "failed_for", now.Sub(w.since).Round(time.Second))
	}
}

// heldFailedPrimary tells whether the node is a replica held from failover
// (cluster-replica-no-failover yes) whose primary carries the fail flag in
// its own view, with that primary's node ID.
func (w *watcher) heldFailedPrimary(ctx context.Context) (bool, string) {
	c := w.a.Client(w.o.Addr)
	held, err := c.ConfigGet(ctx, "cluster-replica-no-failover").Result()
	if err != nil || held["cluster-replica-no-failover"] != "yes" {
		return false, ""
	}
	v, err := w.a.ViewOnce(ctx, w.o.Addr)
	if err != nil || v.Myself.IsPrimary() {
		return false, ""
	}
	p, ok := v.Nodes[v.Myself.PrimaryID]
	return ok && p.IsPrimary() && p.Has("fail"), v.Myself.PrimaryID
}
