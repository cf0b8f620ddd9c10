// Package stepaside hands a serving primary's shard to its replica before
// the primary stops: the in-Pod instance manager runs it on the first
// SIGTERM (a Pod deleted, a node drained, an eviction), before redis-server
// gets the signal.
//
// Without it a stopping primary saves and exits, and its shard refuses
// writes until Redis has flagged it failed and elected the replica:
// cluster-node-timeout and an election later (5-7 s with dayops' 5 s), for
// every primary a node drain moves. With it the replica furthest ahead takes
// the shard over the way dayops' planned failovers do (failover.Run): a
// coordinated CLUSTER FAILOVER, in which the primary pauses its writers until
// the replica has its whole stream and the replica takes the slots with a new
// epoch (the writers are sent there: MOVED), or a paused CLUSTER FAILOVER
// TAKEOVER for a replica that has asked for votes since it started (see
// electedBefore). No write the primary acknowledged is left behind, and the
// shard pauses for the handshake only (milliseconds).
//
// It steps aside only where that is safe and useful, and says why not
// otherwise (Result.Reason): the node must be a primary owning slots, with
// no slot open (a move's MIGRATING or IMPORTING state is the node's own and a
// manual failover drops it; the mover hands it over itself), and with a
// replica whose link is up and that no slot move holds from failover
// (cluster-replica-no-failover). A failover that is not done within Wait is
// left to Redis (the node stops anyway), and so is one whose replica stops
// answering (stopping too): the stop is delayed by Wait at the most, well
// inside the Pod's 30 s grace period with Redis' own shutdown-timeout after
// it. A force-deleted Pod on a real kubelet gets 2 s of SIGTERM: the handover
// usually fits, and a SIGKILL in the middle is a crash like any other (the
// replica has every acknowledged write).
package stepaside

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dayops/dayops/internal/redis/clusteradmin"
	"github.com/dayops/dayops/internal/redis/failover"
	"github.com/dayops/dayops/internal/topology"
)

// DefaultWait bounds the wait for the replica to take over (the CLI's
// default).
const DefaultWait = 5 * time.Second

// Options of Run.
type Options struct {
	// Addr is this node's redis-server; Password every node's.
	Addr, Password string
	// Wait bounds the failover; 0 turns stepping aside off.
	Wait time.Duration
	Log  *slog.Logger
}

// Result says what Run did.
type Result struct {
	// HandedOver: the replica To is the shard's primary and this node its
	// replica.
	HandedOver bool
	// To is the replica asked to take over ("" when none was).
	To string
	// Reason is why the node did not step aside, or how the failover
	// failed ("" when it handed over).
	Reason string
	// Took is how long the handover took, from the request to this node
	// seeing itself a replica.
	Took time.Duration
	// Attempts and Method are failover.Run's (a second attempt is a
	// paused takeover), when it completed.
	Attempts int
	Method   string
	// Stopped: this node's redis-server exited during the handover (it
	// got the SIGTERM too); HandedOver then says whether the replica owns
	// the shard's slots.
	Stopped bool
}

// Run steps the node at o.Addr aside (see the package doc).
func Run(ctx context.Context, o Options) Result {
	log := cmp.Or(o.Log, slog.Default())
	if o.Wait <= 0 {
		return Result{Reason: "turned off"}
	}
	ctx, cancel := context.WithTimeout(ctx, o.Wait+2*time.Second)
	defer cancel()
	pool := clusteradmin.NewClientPool(redis.Options{Password: o.Password, DialTimeout: time.Second,
		ReadTimeout: time.Second, WriteTimeout: time.Second, PoolSize: 4})
	defer pool.Close()
	a := clusteradmin.New(pool, log, clusteradmin.Limits{})
	held := holdStopping(ctx, a, o.Addr)
	to, v, why, err := pick(ctx, a, o.Addr)
	if err != nil || why != "" {
		res := Result{Reason: why}
		if err != nil {
			res.Reason = err.Error()
		}
		log.Info("stopping without a handover: "+res.Reason, "addr", o.Addr, "failover_hold", held)
		return res
	}
	res := Result{To: to.Addr}
	start := time.Now()
	log.Info("stepping aside: replica asked to take over (failover.Run)", "addr", o.Addr, "replica", to.Addr, "wait", o.Wait)
	fctx, stop := context.WithCancelCause(ctx)
	go endWhenGone(fctx, stop, a, o.Addr, to.Addr)
	// Half the wait per attempt: after an elected attempt Redis gave up,
	// the paused takeover fits in the wait.
	fr, ferr := failover.Run(fctx, a, failover.Input{ReplicaAddr: to.Addr, Timeout: o.Wait, AttemptTimeout: o.Wait / 2,
		Takeover: electedBefore(ctx, a, to.Addr)})
	gone := context.Cause(fctx)
	stop(nil)
	if ferr == nil {
		res.HandedOver, res.Attempts, res.Method = true, fr.Attempts, fr.Method
	} else if r, err := roleOnce(ctx, a, o.Addr); err == nil && r.Role == topology.RoleReplica && r.PrimaryID == to.NodeID {
		// Promoted, but Run's check after it was cut short.
		res.HandedOver = true
	} else if errors.Is(gone, errStopped) {
		// This node's redis-server exited: a replica once demoted, when
		// it got its SIGTERM too. Handed over if the replica owns slots.
		r, err := roleOnce(ctx, a, to.Addr)
		res.HandedOver, res.Stopped = err == nil && r.Role == topology.RolePrimary && len(r.Slots) > 0, true
	}
	if !res.HandedOver {
		res.Reason = fmt.Sprintf("%s did not take over within %s (left to Redis' failover): %v", to.Addr, time.Since(start).Round(time.Millisecond), ferr)
		if gone != nil && !errors.Is(gone, context.Canceled) && !errors.Is(gone, context.DeadlineExceeded) {
			res.Reason = gone.Error()
		}
		log.Warn("stopping without a handover: "+res.Reason, "addr", o.Addr)
		return res
	}
	res.Took = time.Since(start)
	if res.Stopped {
		log.Info("stepped aside: the replica is the shard's primary; this node's redis-server has exited", "addr", o.Addr, "primary", to.Addr,
			"took", res.Took)
		return res
	}
	until := time.Now().Add(2 * time.Second)
	if end := start.Add(o.Wait); end.Before(until) {
		until = end
	}
	left := announced(ctx, a, v, until)
	log.Info("stepped aside: the replica is the shard's primary", "addr", o.Addr, "primary", to.Addr, "took", res.Took,
		"attempts", res.Attempts, "method", res.Method, "nodes_still_seeing_a_primary", left, "announced_after", time.Since(start))
	return res
}

// settle is how long a stopping primary that may step aside waits,
// serving, before it picks the replica to hand over to: a moment for the
// SIGTERMs of Pods deleted together to arrive. Each node's kubelet stops
// its own Pod, tens of milliseconds apart, and a replica that gets its own
// holds itself (holdStopping) before its primary picks it; handed the
// shard, it would stop as the shard's primary. The node serves on
// meanwhile: its redis-server has not been signalled yet. Replicas and
// primaries without slots stop at once.
const settle = 300 * time.Millisecond

// errStopped: the stepping-aside node's own redis-server stopped
// answering during the handover.
var errStopped = errors.New("this node's redis-server stopped answering")

// endWhenGone cancels ctx once the replica at to, or this node's own
// redis-server at self, has not answered two looks in a row (250 ms
// apart). A replica stopping as well (the whole shard deleted, a node
// drained of both) is not taking over, and the node should not wait for
// it. A redis-server that got the SIGTERM along with its manager (a signal
// to the Pod's whole process group) exits as soon as it is a replica, or
// once its replicas have its stream: waiting for it to follow the new
// primary would wait out the whole attempt (errStopped).
func endWhenGone(ctx context.Context, cancel context.CancelCauseFunc, a *clusteradmin.Admin, self, to string) {
	missed := map[string]int{}
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, addr := range []string{to, self} {
			err := a.Client(addr).Ping(ctx).Err()
			if err == nil {
				missed[addr] = 0
				continue
			}
			if missed[addr]++; missed[addr] < 2 || ctx.Err() != nil {
				continue
			}
			if addr == self {
				cancel(errStopped)
			} else {
				cancel(fmt.Errorf("%s stopped answering (stopping too?): %w", addr, err))
			}
			return
		}
	}
}

// electedBefore says whether the replica at addr has asked for votes since
// it started (CLUSTER INFO cluster_stats_messages_auth-req_sent): one that
// won an election less than 4 x cluster-node-timeout before "wins" Redis
// 7.0's stale election at once when handed the shard and turns back with a
// new replication ID (valkey-io/valkey#782, docs/upgrade.md), and then
// resyncs in full (repl-diskless-sync-delay, 5 s by default) before a
// takeover can check it has the whole stream: longer than the stop can
// wait. Such a replica is handed the shard by a paused takeover at once; any
// other by the coordinated election, which a replica stopping at the same
// moment (the shard's Pods deleted together) loses more often than a
// takeover does.
func electedBefore(ctx context.Context, a *clusteradmin.Admin, addr string) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	info, err := a.ClusterInfo(ctx, addr)
	return err == nil && info["cluster_stats_messages_auth-req_sent"] != "" && info["cluster_stats_messages_auth-req_sent"] != "0"
}

// roleOnce reads a node's role, for a second at the most (a node that does
// not answer is not retried).
func roleOnce(ctx context.Context, a *clusteradmin.Admin, addr string) (clusteradmin.NodeRole, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return a.Role(ctx, addr)
}

// pick returns the replica to hand over to (its role, as it says) and the
// node's view, or why there is none.
// It checks the node before the settle and again after it (a failover or
// a slot move may have begun meanwhile).
func pick(ctx context.Context, a *clusteradmin.Admin, addr string) (to clusteradmin.NodeRole, v clusteradmin.ClusterView, why string, err error) {
	if _, why, err = eligible(ctx, a, addr); err != nil || why != "" {
		return to, v, why, err
	}
	select {
	case <-ctx.Done():
		return to, v, "", ctx.Err()
	case <-time.After(settle):
	}
	if v, why, err = eligible(ctx, a, addr); err != nil || why != "" {
		return to, v, why, err
	}
	to, why = candidate(ctx, a, v)
	return to, v, why, nil
}

// eligible reads the node's view and says why it may not step aside: not
// a primary, no slot, or a slot move open on it.
func eligible(ctx context.Context, a *clusteradmin.Admin, addr string) (v clusteradmin.ClusterView, why string, err error) {
	self, err := roleOnce(ctx, a, addr)
	if err != nil {
		return v, "", err
	}
	if self.Role != topology.RolePrimary {
		return v, "not a primary (" + string(self.Role) + ")", nil
	}
	if v, err = a.ViewOnce(ctx, addr); err != nil {
		return v, "", fmt.Errorf("CLUSTER NODES: %w", err)
	}
	if len(v.Myself.Slots) == 0 {
		return v, "owns no slot", nil
	}
	if len(v.Myself.Migrating)+len(v.Myself.Importing) > 0 {
		return v, "a slot move is open on this node (its mover hands it over)", nil
	}
	return v, "", nil
}

// candidate returns the replica of v's node furthest ahead that may take
// over, or why none may.
func candidate(ctx context.Context, a *clusteradmin.Admin, v clusteradmin.ClusterView) (clusteradmin.NodeRole, string) {
	var cands []clusteradmin.NodeRole
	var whys []string
	for _, n := range v.Nodes {
		// A slotless primary may be a replica this node has not heard of
		// yet: a node demoted a moment ago (a switchover back) tells the
		// cluster with its next pings. Its own ROLE says.
		stale := n.IsPrimary() && n.Slots.Count() == 0 && n.ID != v.Myself.ID
		if (n.PrimaryID != v.Myself.ID && !stale) || n.Has("fail") || n.Has("fail?") || n.Has("noaddr") {
			continue
		}
		r, why := look(ctx, a, n.Addr, v.Myself.ID)
		if why == "" {
			cands = append(cands, r)
		} else if !stale || r.PrimaryID == v.Myself.ID {
			whys = append(whys, n.Addr+": "+why) // a stale entry that is no replica of this node is no candidate
		}
	}
	if len(cands) == 0 {
		slices.Sort(whys)
		return clusteradmin.NodeRole{}, "no replica to hand over to" + strings.Join(append([]string{""}, whys...), "; ")
	}
	best := slices.MaxFunc(cands, func(a, b clusteradmin.NodeRole) int {
		if a.Offset != b.Offset {
			return cmp.Compare(a.Offset, b.Offset)
		}
		return strings.Compare(b.Addr, a.Addr) // the lowest address on a tie
	})
	return best, ""
}

// holdStopping holds the stopping node from failover first of all
// (cluster-replica-no-failover yes, not persisted: the restarted node reads
// its configuration again), and says so for the log. Pods stopping together
// (a shard's Pods deleted at once, a drain of a node holding both) each get
// their SIGTERM a moment apart: a primary stepping aside then passes over a
// replica that is stopping too, and a replica that was handed the shard a
// moment before its own SIGTERM does not hand it back to its stopping
// former primary. Redis does not fail over to a held replica either.
func holdStopping(ctx context.Context, a *clusteradmin.Admin, addr string) string {
	if err := a.Client(addr).ConfigSet(ctx, "cluster-replica-no-failover", "yes").Err(); err != nil {
		return "not held: " + err.Error()
	}
	return "held while it stops"
}

// look checks one replica: a replica of primaryID, linked to it, and not
// held from failover (by a slot move, or stopping itself).
func look(ctx context.Context, a *clusteradmin.Admin, addr, primaryID string) (clusteradmin.NodeRole, string) {
	r, err := roleOnce(ctx, a, addr)
	switch {
	case err != nil:
		return r, err.Error()
	case r.Role != topology.RoleReplica || r.PrimaryID != primaryID:
		return r, "not a replica of this node (" + string(r.Role) + ")"
	case !r.LinkUp:
		return r, "link to the primary down"
	}
	held, err := a.Client(addr).ConfigGet(ctx, "cluster-replica-no-failover").Result()
	if err != nil {
		return r, err.Error()
	}
	if held["cluster-replica-no-failover"] == "yes" {
		return r, "held from failover (a slot move, or stopping too)"
	}
	return r, ""
}

// announced waits until every other node of v that answers lists this
// node as a replica, or until: the cluster hears a node's role from the
// node's own pings, and one that stops right after the handover would stay
// a slotless "primary" in some views until Redis flags it failed
// (cluster-node-timeout later), which tools then wait on. It returns how
// many nodes still saw a primary.
func announced(ctx context.Context, a *clusteradmin.Admin, v clusteradmin.ClusterView, until time.Time) int {
	var pending []string
	for id, n := range v.Nodes {
		if id != v.Myself.ID && !n.Has("fail") && !n.Has("noaddr") && !n.Has("handshake") {
			pending = append(pending, n.Addr)
		}
	}
	ctx, cancel := context.WithDeadline(ctx, until)
	defer cancel()
	for len(pending) > 0 {
		next := pending[:0]
		for _, addr := range pending {
			pv, err := a.ViewOnce(ctx, addr)
			if err != nil && ctx.Err() == nil {
				continue // not answering: nothing to tell it
			}
			if n, ok := pv.Nodes[v.Myself.ID]; err == nil && (!ok || !n.IsPrimary()) {
				continue
			}
			next = append(next, addr)
		}
		pending = next
		if len(pending) == 0 || a.Client(v.Myself.Addr).Ping(ctx).Err() != nil {
			break // everyone knows, or this node's redis-server has stopped: it tells nobody now
		}
		select {
		case <-ctx.Done():
			return len(pending)
		case <-time.After(50 * time.Millisecond):
		}
	}
	return len(pending)
}
