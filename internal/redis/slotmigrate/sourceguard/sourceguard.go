// Package sourceguard keeps Redis from failing a slot move's source over by
// itself, and fails a lost source over with its slot moves when the mover
// sees it lost.
//
// MIGRATING is the source's own state and does not pass to its replica.
// When Redis promotes the replica of a source that died mid-move (its
// restart slower than cluster-node-timeout, or its Pod gone), the new
// primary serves the slot as if no key had moved: a read of a moved key
// finds nothing, a write makes a second copy that the move later settles
// one way or the other. Seen in the source-kill scenario: for the 5 s until
// the migration's retry saw the failover, the new primary took writes to
// keys already moved (1 acknowledged write lost). Setting MIGRATING on the
// new primary a moment after its promotion narrows the window but cannot
// close it: clients find the new primary as soon as it claims the slots.
//
// So, while a source migrates, its replicas do not fail it over
// (cluster-replica-no-failover yes: Hold; Release when the move is over),
// and the mover does it when it sees the source lost (TakeOver): once the
// cluster agrees the source failed (its fail flag, after
// cluster-node-timeout), the replica furthest ahead runs, in one MULTI,
// CLUSTER FAILOVER TAKEOVER (Redis promotes it inside the command) and
// CLUSTER SETSLOT <slot> MIGRATING <target> for every slot a live primary
// imports from the lost source. No command runs between them: the new
// primary's first client already gets ASK for a moved key.
//
// TakeOver also gives the new primary, as owner, to every primary that
// imports from the lost source: Redis takes no newer claim of a slot a
// node imports, and the importer answered CLUSTERDOWN to every key.
//
// What it costs: while the mover is not running (its worker down, or its
// workflow terminated and the hold left behind), a source lost mid-move is
// failed over only when the move runs again or, after
// holdwatch.DefaultGrace (20 s) with the source failed, when the instance
// manager of one of its replicas runs TakeOver itself (instance/holdwatch);
// the shard's slots are unavailable meanwhile instead of inconsistent. The
// guardian clears a hold left behind once no operation runs and the
// source has no slot migrating (activities/guardian, sweepHolds).
package sourceguard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dayops/dayops/internal/redis/clusteradmin"
)

const param = "cluster-replica-no-failover"

// takeovers holds a mutex per source node ID (TakeOver).
var takeovers sync.Map

// Hold sets cluster-replica-no-failover on each replica (addresses). A
// replica that does not answer is skipped (logged): it cannot take part in
// a failover it does not hear of either, and one that comes back later
// without the setting only restores Redis' own behaviour.
func Hold(ctx context.Context, a *clusteradmin.Admin, replicas []string) {
	set(ctx, a, replicas, "yes")
}

// Release clears cluster-replica-no-failover on each replica.
func Release(ctx context.Context, a *clusteradmin.Admin, replicas []string) {
	set(ctx, a, replicas, "no")
}

func set(ctx context.Context, a *clusteradmin.Admin, replicas []string, v string) {
	for _, addr := range replicas {
		if err := a.Client(addr).ConfigSet(ctx, param, v).Err(); err != nil {
			a.Logger().WarnContext(ctx, "could not set "+param, "replica", addr, "value", v, "err", err)
		}
	}
}

// TakeOver fails over the primary src (node ID), lost, when the cluster
// agrees it failed (fail flag in the view of the node at seen, a live
// node) and Hold kept its replicas from doing it: the reachable replica
// furthest ahead takes it over with MIGRATING for every slot a live
// primary imports from src. It returns the new primary's address: the
// replica it promoted, or the live primary that claims src's slots already
// (Redis failed it over, or an earlier TakeOver did); "" when src is not
// failed, or a replica of it is not held (Redis will fail it over).
//
// Calls for one source are serialized (the waves of a move fail together
// when their source dies): a second call finds the first one's new primary
// claiming the slots; without it a second replica took over too.
func TakeOver(ctx context.Context, a *clusteradmin.Admin, seen, src string) (string, error) {
	mu, _ := takeovers.LoadOrStore(src, &sync.Mutex{})
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	v, err := a.View(ctx, seen)
	if err != nil {
		return "", err
	}
	lost, ok := v.Nodes[src]
	if !ok || !lost.Has("fail") || !lost.IsPrimary() || len(lost.Slots) == 0 {
		return "", nil // alive, or its slots claimed by a new primary already
	}
	own, err := primaryViews(ctx, a, v, src)
	if err != nil {
		return "", err
	}
	migrating := map[int]string{}
	for id, pv := range own {
		for s, from := range pv.Myself.Importing {
			if from == src {
				migrating[s] = id
			}
		}
		for _, r := range lost.Slots {
			for s := r.Start; s <= r.End; s++ {
				if pv.Myself.Slots.Contains(s) {
					return pv.Myself.Addr, nil // replaced already
				}
			}
		}
	}
	bestNode, err := furthestHeld(ctx, a, v, src)
	best := bestNode.Addr
	if best == "" || err != nil {
		return "", err
	}
	slots := slices.Sorted(maps.Keys(migrating))
	cmds, err := a.Client(best).TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Do(ctx, "cluster", "failover", "takeover")
		for _, s := range slots {
			p.Do(ctx, "cluster", "setslot", s, "migrating", migrating[s])
		}
		return nil
	})
	if len(cmds) == 0 || cmds[0].Err() != nil {
		return "", fmt.Errorf("take over lost source %s on %s: %w", lost.Addr, best, err)
	}
	for i, c := range cmds[1:] {
		if c.Err() != nil { // the move's next run finds the slot's state and settles it
			a.Logger().WarnContext(ctx, "the new primary of a lost source refused a slot's migration",
				"new_primary", best, "slot", slots[i], "err", c.Err())
		}
	}
	a.Logger().WarnContext(ctx, "a primary held from failover is lost: its replica furthest ahead took over, with the slot moves it had open",
		slog.String("source", lost.Addr), slog.String("new_primary", best), slog.Int("migrating", len(migrating)))
	repointImports(ctx, a, own, migrating, src, bestNode.ID)
	return best, nil
}

// repointImports gives each primary that imports slots from the lost
// source src the new primary (node ID np) for their owner: Redis takes
// no newer claim of a slot a node imports, so the importer keeps the lost
// source as its owner and answers CLUSTERDOWN for every key until someone
// sets it (the mover's next attempt does; when the manager took the source
// over, instance/holdwatch, nobody would). The import stays open. An
// importer that has not heard of the takeover yet refuses the new owner
// ("Target node is not a master"): it is asked again until repointWait; an
// importer that does not answer is not.
func repointImports(ctx context.Context, a *clusteradmin.Admin, own map[string]clusteradmin.ClusterView,
	migrating map[int]string, src, np string) {
	now := func(id string) string {
		if id == src {
			return np
		}
		return id
	}
	done := map[string]bool{}
	for _, id := range migrating {
		if done[id] {
			continue
		}
		done[id] = true
		addr := own[id].Myself.Addr
		var last error
		err := a.Poll(ctx, repointWait, "give a lost source's imports their new owner on "+addr, func(ctx context.Context) (bool, string, error) {
			_, last = a.RepairImports(ctx, addr, nil, now)
			if last != nil && notPrimaryYet(last) {
				return false, last.Error(), nil
			}
			return true, "", nil
		})
		if err == nil {
			err = last
		}
		if err != nil {
			a.Logger().WarnContext(ctx, "give a lost source's imports their new owner", "node", addr, "err", err)
		}
	}
}

// notPrimaryYet says whether err is an importer's refusal of a new owner
// it does not know as a primary yet (CLUSTER SETSLOT NODE): gossip
// corrects that within a second or two. Any other error (the importer does
// not answer: it may be lost as well) is not asked again.
func notPrimaryYet(err error) bool {
	return strings.Contains(err.Error(), "Target node is not a master")
}

// repointWait bounds repointImports' tries on one importer: gossip brings
// a takeover to every node within a second or two.
const repointWait = 10 * time.Second

// furthestHeld is the reachable replica of src with the highest
// replication offset (then the lowest address); none (a zero NodeInfo)
// when one of them is not held (Redis will fail src over by itself) or
// none answers.
func furthestHeld(ctx context.Context, a *clusteradmin.Admin, v clusteradmin.ClusterView, src string) (clusteradmin.NodeInfo, error) {
	var best clusteradmin.NodeInfo
	bestOff := int64(-1)
	for _, n := range v.Nodes {
		if n.PrimaryID != src || n.Has("fail") {
			continue
		}
		c := a.Client(n.Addr)
		held, err := c.ConfigGet(ctx, param).Result()
		if err != nil {
			continue
		}
		if held[param] != "yes" {
			return clusteradmin.NodeInfo{}, nil
		}
		// Its own word: it still replicates src (a view may lag a
		// takeover done already; its replicas follow the new primary).
		// ROLE says offset -1 while the link is down; INFO keeps it.
		text, err := c.Info(ctx, "replication").Result()
		if err != nil {
			continue
		}
		info := clusteradmin.ParseInfo(text)
		if info["role"] != "slave" || net.JoinHostPort(info["master_host"], info["master_port"]) != v.Nodes[src].Addr {
			continue
		}
		off, err := strconv.ParseInt(info["slave_repl_offset"], 10, 64)
		// Ties go to the lowest address: the managers of a source's
		// replicas (instance/holdwatch) each pick the same one.
		if err == nil && (off > bestOff || off == bestOff && n.Addr < best.Addr) {
			best, bestOff = n, off
		}
	}
	if best.Addr == "" {
		return best, errors.New("no replica of the lost source answers")
	}
	return best, nil
}

// primaryViews reads every live primary's own view but src's (by node ID).
func primaryViews(ctx context.Context, a *clusteradmin.Admin, v clusteradmin.ClusterView, src string) (map[string]clusteradmin.ClusterView, error) {
	out := map[string]clusteradmin.ClusterView{}
	for id, n := range v.Nodes {
		if id == src || !n.IsPrimary() || n.Has("fail") {
			continue
		}
		pv, err := a.View(ctx, n.Addr)
		if err != nil {
			return nil, err
		}
		out[id] = pv
	}
	return out, nil
}

// ErrLost is the cause of a Watch context's end: the cluster agrees the
// source failed.
var ErrLost = errors.New("the source failed (cluster-node-timeout passed without an answer)")

// Watch returns a context derived from ctx that ends with cause ErrLost
// once the node at seen flags src failed (checked every WatchEvery): a step
// against a dead source otherwise retries its reads for minutes before its
// wave fails and TakeOver runs. stop ends the watch.
func Watch(ctx context.Context, a *clusteradmin.Admin, seen, src string) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	go func() {
		t := time.NewTicker(WatchEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done(): // stop, or ctx's own end
				return
			case <-t.C:
			}
			if v, err := a.ViewOnce(ctx, seen); err == nil && v.Nodes[src].Has("fail") {
				cancel(ErrLost)
				return
			}
		}
	}()
	return ctx, func() { cancel(nil) } // a cause set first (ErrLost) stays
}

// WatchEvery is how often Watch looks.
const WatchEvery = time.Second
