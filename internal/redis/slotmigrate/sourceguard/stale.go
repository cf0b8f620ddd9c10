package sourceguard

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dayops/dayops/internal/redis/clusteradmin"
)

// A move's hold outlives it when its run never ends (its workflow
// terminated while its worker was down): every later loss of that shard's
// primary then waits for the instance manager's takeover (instance/
// holdwatch) instead of Redis' own failover. Sweep finds such holds and
// clears them, for a caller that knows no operation runs (the guardian).

// Clients gives a Redis client per address (clusteradmin's Admin and
// ClientPool do).
type Clients interface {
	Client(addr string) *redis.Client
}

// Instance is one instance a sweep asks: its address, node ID and its
// primary's address (its own for a primary; "" unknown: its hold stays).
type Instance struct {
	Addr, NodeID, PrimaryAddr string
	index                     int
}

func (t Instance) key() string { return t.Addr + "/" + t.NodeID }

// Sweep is the memory of a hold sweep: the holds its last look found. A
// hold is cleared when two looks in a row find it, so a hold set a moment
// before a look (a move starting, or a test) is not.
type Sweep struct {
	held map[string]bool
}

// askTimeout bounds one instance's answer to a sweep.
const askTimeout = time.Second

// ReleaseStale asks every instance whether it is held, clears the holds
// that the sweep's last look found too and whose primary has no slot
// migrating, and then asks started whether an operation started
// meanwhile: if one did (or the question fails), the holds it cleared are
// set again, since the operation's move may have set them a moment before
// (it releases them itself when it ends). Call it only while no operation
// runs. It returns the indexes of the instances it cleared and the
// commands it sent; the sweep keeps the holds found for its next look.
func (s *Sweep) ReleaseStale(ctx context.Context, cl Clients, targets []Instance, started func(context.Context) (string, error), log *slog.Logger) ([]int, int) {
	held := make([]bool, len(targets))
	var wg sync.WaitGroup
	for i := range targets {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, askTimeout)
			defer cancel()
			v, err := cl.Client(targets[i].Addr).ConfigGet(ctx, param).Result()
			held[i] = err == nil && v[param] == "yes"
		})
	}
	wg.Wait()
	n := len(targets)
	seen, last := map[string]bool{}, s.held
	var stale []Instance
	for i, t := range targets {
		if !held[i] {
			continue
		}
		seen[t.key()] = true
		if last[t.key()] {
			t.index = i
			stale = append(stale, t)
		}
	}
	s.held = seen
	if len(stale) == 0 {
		return nil, n
	}
	open := map[string]bool{} // primary address -> has a slot migrating (or did not say)
	for _, t := range stale {
		if _, ok := open[t.PrimaryAddr]; ok || t.PrimaryAddr == "" {
			continue
		}
		n++
		open[t.PrimaryAddr] = migrating(ctx, cl, t.PrimaryAddr)
	}
	var cleared []Instance
	for _, t := range stale {
		if t.PrimaryAddr == "" || open[t.PrimaryAddr] {
			continue
		}
		n++
		if err := cl.Client(t.Addr).ConfigSet(ctx, param, "no").Err(); err != nil {
			log.WarnContext(ctx, "could not clear a failover hold left behind", "addr", t.Addr, "err", err)
			continue
		}
		cleared = append(cleared, t)
	}
	if len(cleared) == 0 {
		return nil, n
	}
	if op, err := started(ctx); op != "" || err != nil {
		for _, t := range cleared {
			n++
			if err := cl.Client(t.Addr).ConfigSet(context.WithoutCancel(ctx), param, "yes").Err(); err != nil {
				log.WarnContext(ctx, "could not set a failover hold again", "addr", t.Addr, "err", err)
			}
		}
		log.InfoContext(ctx, "an operation started while failover holds were cleared: held again", "operation", op, "err", err)
		return nil, n
	}
	var out []int
	for _, t := range cleared {
		delete(s.held, t.key())
		out = append(out, t.index)
	}
	return out, n
}

// migrating tells whether the primary at addr has a slot migrating (true
// too when it does not say: its hold stays).
func migrating(ctx context.Context, cl Clients, addr string) bool {
	ctx, cancel := context.WithTimeout(ctx, askTimeout)
	defer cancel()
	text, err := cl.Client(addr).ClusterNodes(ctx).Result()
	if err != nil {
		return true
	}
	v, err := clusteradmin.ParseClusterNodes(text)
	return err != nil || len(v.Myself.Migrating) > 0
}
