// Package failover promotes a replica of a Redis Cluster shard in a planned
// way, losing no acknowledged write: an elected CLUSTER FAILOVER first, a
// paused takeover when Redis gives that up (see Run). It has no Temporal
// import; redisops.Handover is its activity adapter.
package failover

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/dayops/dayops/internal/redis/clusteradmin"
	"github.com/dayops/dayops/internal/topology"
)

// Input promotes a replica in a planned way.
type Input struct {
	ReplicaAddr string
	// MaxLagBytes: the replica must be this close to its primary first.
	MaxLagBytes int64
	// Timeout bounds the whole failover, every attempt included.
	Timeout time.Duration
	// AttemptTimeout bounds one attempt (default DefaultAttempt).
	AttemptTimeout time.Duration
	// Takeover makes every attempt a paused takeover, the first too: for
	// a primary about to stop (stepaside) whose replica has asked for
	// votes before, so that an elected attempt may "win" Redis 7.0's stale
	// election and turn back (see Run). Such a replica has a new
	// replication ID its primary does not know, and resyncs in full
	// (repl-diskless-sync-delay, 5 s by default, and the transfer) before
	// any takeover can check it has the primary's whole stream: longer
	// than a stopping primary can wait.
	Takeover bool
}

// DefaultAttempt is how long one attempt may take before the next
// one. Redis gives up a manual failover the replica has not completed within
// 5 seconds (CLUSTER_MF_TIMEOUT: the primary's paused offset not reached, or
// no majority of votes) and tells nobody, so waiting longer for it is waiting
// for nothing; 15 s leaves the election after the catch-up its time on a
// loaded machine.
const DefaultAttempt = 15 * time.Second

// manualFailoverGivenUp is when a replica that a default-mode CLUSTER
// FAILOVER has not promoted will not be promoted by it any more: Redis ends
// the manual failover 5 s after accepting the command (CLUSTER_MF_TIMEOUT),
// and a replica not in one starts no election while its primary is up; the
// rest is slack for a busy event loop. It is also what a replica that
// "won" a stale election (see Run) and turned back, too fast for the
// poll to see, costs.
const manualFailoverGivenUp = 7 * time.Second

// Failover methods, in Result.Method.
const (
	// Elected is CLUSTER FAILOVER's default mode: the primary pauses
	// writes, the replica catches up and wins an election.
	Elected = "elected"
	// PausedTakeover is the fallback: dayops pauses the primary's
	// writes (CLIENT PAUSE WRITE), waits until the replica has every byte
	// of the primary's replication stream, then runs CLUSTER FAILOVER
	// TAKEOVER (a new config epoch without a vote) and unpauses.
	PausedTakeover = "paused-takeover"
)

// Result names the old and the new primary.
type Result struct {
	NewPrimaryID string
	OldPrimaryID string
	// AlreadyPrimary is true when the replica had already been promoted.
	AlreadyPrimary bool
	// Attempts is how many attempts were made; Method is the last one's.
	Attempts int
	Method   string
	// Why is why Redis would not have elected the replica, for a takeover
	// TakeOverUnelectable made (Unaddressed, NoMajority).
	Why string
}

// Run promotes a replica in a planned way and loses no acknowledged
// write: after checking the replica is connected and in sync and the cluster
// is ok, it runs a default-mode CLUSTER FAILOVER (the primary pauses writes
// until the replica has caught up, then the replica wins an election), and
// waits until the replica is primary, the old primary follows it and
// cluster_state is ok on both. A replica that is already primary is success.
//
// The first attempt can fail without an error from Redis: the manual
// failover times out (votes refused, primary too slow), or, in Redis 7.0, a
// replica that won an election less than 4 x cluster-node-timeout ago reuses
// that election's votes and epoch, "wins" at once with an epoch lower than
// the shard's owner and turns back into a replica a moment later (Valkey
// fixed the stale state: valkey-io/valkey#782 and #1274; see docs/upgrade.md).
// The later attempts are
// paused takeovers (PausedTakeover), which need no election; each
// failed attempt is logged with both nodes' replication state.
func Run(ctx context.Context, a *clusteradmin.Admin, in Input) (Result, error) {
	if in.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, in.Timeout)
		defer cancel()
	}
	if in.AttemptTimeout <= 0 {
		in.AttemptTimeout = DefaultAttempt
	}
	v, err := a.View(ctx, in.ReplicaAddr)
	if err != nil {
		return Result{}, fmt.Errorf("failover: %w", err)
	}
	res := Result{NewPrimaryID: v.Myself.ID}
	if v.Myself.IsPrimary() {
		res.AlreadyPrimary = true
		return res, nil
	}
	res.OldPrimaryID = v.Myself.PrimaryID
	old, ok := v.Nodes[res.OldPrimaryID]
	if !ok || old.Has("fail") {
		return Result{}, &clusteradmin.PreconditionError{Addr: in.ReplicaAddr, Reason: "primary unknown or failed: a planned failover needs it alive"}
	}
	var primaryAddr string
	for {
		if res.Attempts > 0 {
			// A promotion that completed just after the attempt's bound.
			if done, _ := handedOver(ctx, a, in.ReplicaAddr, primaryAddr, res.NewPrimaryID, res.OldPrimaryID); done {
				break
			}
		}
		sync, err := a.WaitInSync(ctx, clusteradmin.WaitInSyncInput{ReplicaAddr: in.ReplicaAddr, MaxLagBytes: in.MaxLagBytes})
		if err != nil {
			return Result{}, fmt.Errorf("failover: check before (attempt %d): %w", res.Attempts+1, err)
		}
		primaryAddr = sync.PrimaryAddr
		if info, err := a.ClusterInfo(ctx, in.ReplicaAddr); err != nil || info["cluster_state"] != "ok" {
			return Result{}, &clusteradmin.PreconditionError{Addr: in.ReplicaAddr, Reason: fmt.Sprintf("cluster_state not ok before failover (%v)", err)}
		}
		res.Attempts++
		res.Method = Elected
		if res.Attempts > 1 || in.Takeover {
			res.Method = PausedTakeover
		}
		began := time.Now()
		why, err := attempt(ctx, a, in, primaryAddr, res)
		if err != nil {
			return Result{}, err
		}
		if why == "" {
			a.Logger().Info("failover: replica promoted", "replica", in.ReplicaAddr, "attempt", res.Attempts, "method", res.Method,
				"took", time.Since(began).Round(time.Millisecond))
			break
		}
		a.Logger().Warn("failover: attempt failed, trying again", "replica", in.ReplicaAddr, "primary", primaryAddr,
			"attempt", res.Attempts, "method", res.Method, "reason", why, "took", time.Since(began).Round(time.Millisecond),
			"replica_state", replicationSummary(ctx, a, in.ReplicaAddr), "primary_state", replicationSummary(ctx, a, primaryAddr))
	}
	err = a.Poll(ctx, 0, "wait for cluster_state ok", func(ctx context.Context) (bool, string, error) {
		for _, addr := range []string{in.ReplicaAddr, primaryAddr} {
			info, err := a.ClusterInfo(ctx, addr)
			if err != nil && addr == primaryAddr && oldFailed(ctx, a, in.ReplicaAddr, res.OldPrimaryID) {
				continue // died after the promotion (handedOver)
			}
			if err != nil {
				return false, err.Error(), nil
			}
			if info["cluster_state"] != "ok" {
				return false, addr + " cluster_state:" + info["cluster_state"], nil
			}
		}
		return true, "", nil
	})
	if err != nil {
		return Result{}, fmt.Errorf("failover %s: check after: %w", in.ReplicaAddr, err)
	}
	return res, nil
}

// attempt runs one attempt of res.Method and waits, at most
// in.AttemptTimeout, until the replica is primary and the old primary
// follows it. It returns why the attempt failed ("" if it did not), or an
// error that ends the failover.
func attempt(ctx context.Context, a *clusteradmin.Admin, in Input, primaryAddr string, res Result) (string, error) {
	actx, cancel := context.WithTimeout(ctx, in.AttemptTimeout)
	defer cancel()
	if res.Method == PausedTakeover {
		unpause, err := pauseUntilCaughtUp(actx, a, in.ReplicaAddr, primaryAddr, in.AttemptTimeout)
		defer unpause()
		if err != nil {
			if ctx.Err() != nil {
				return "", fmt.Errorf("failover %s: %w", in.ReplicaAddr, err)
			}
			return err.Error(), nil
		}
	}
	args := []any{"cluster", "failover"}
	if res.Method == PausedTakeover {
		args = append(args, "takeover")
	}
	if err := a.Client(in.ReplicaAddr).Do(actx, args...).Err(); err != nil {
		return "", fmt.Errorf("CLUSTER FAILOVER (%s) on %s: %w", res.Method, in.ReplicaAddr, err)
	}
	sent := time.Now()
	promoted, reverted, givenUp := false, false, false
	err := a.Poll(actx, 0, "wait for promotion", func(ctx context.Context) (bool, string, error) {
		done, state := handedOver(ctx, a, in.ReplicaAddr, primaryAddr, res.NewPrimaryID, res.OldPrimaryID)
		switch {
		case done:
			return true, "", nil
		case state == topology.RolePrimary:
			promoted = true
		case state == topology.RoleReplica && promoted:
			reverted = true
			return true, "", nil
		case !promoted && res.Method == Elected && time.Since(sent) > manualFailoverGivenUp:
			givenUp = true
			return true, "", nil
		}
		return false, "replica promoted, old primary does not follow it yet", nil
	})
	switch {
	case err == nil && reverted:
		return "the replica was promoted and turned back into a replica (a stale election: see Run)", nil
	case err == nil && givenUp:
		return "replica not promoted within " + manualFailoverGivenUp.String() + ": Redis has given the manual failover up", nil
	case err == nil:
		return "", nil
	case ctx.Err() != nil:
		return "", fmt.Errorf("failover %s (attempt %d): %w", in.ReplicaAddr, res.Attempts, err)
	case promoted:
		return "replica promoted, but the old primary did not follow it within " + in.AttemptTimeout.String(), nil
	}
	return "replica not promoted within " + in.AttemptTimeout.String() + " (Redis gave the manual failover up)", nil
}

// handedOver says whether the replica is primary and the old primary follows
// it, and the replica's role as far as it is known. An old primary that does
// not answer counts as handed over once the new primary, owning slots, flags
// it failed: it died after the promotion (a primary whose volume is full
// stops on the first write it must replicate and cannot persist), cannot
// claim its slots back before it restarts, and then the newer epoch demotes
// it. Each node is asked for at most roleWait: a dead node is not retried
// for the Admin's RetryFor (2 minutes, which spent the whole failover's
// time on the next attempt's first look).
func handedOver(ctx context.Context, a *clusteradmin.Admin, replicaAddr, primaryAddr, newID, oldID string) (bool, topology.Role) {
	role := func(addr string) (clusteradmin.NodeRole, error) {
		rctx, cancel := context.WithTimeout(ctx, roleWait)
		defer cancel()
		return a.Role(rctx, addr)
	}
	nr, err := role(replicaAddr)
	if err != nil {
		return false, ""
	}
	if nr.Role != topology.RolePrimary {
		return false, nr.Role
	}
	or, err := role(primaryAddr)
	if err == nil {
		return or.Role == topology.RoleReplica && or.PrimaryID == newID, nr.Role
	}
	if !oldFailed(ctx, a, replicaAddr, oldID) {
		return false, nr.Role
	}
	a.Logger().Warn("failover: the old primary does not answer and the new primary flags it failed: handed over",
		"replica", replicaAddr, "old_primary", primaryAddr, "err", err)
	return true, nr.Role
}

// oldFailed: the node at replicaAddr is a primary that owns slots and
// flags the old primary (oldID) failed.
func oldFailed(ctx context.Context, a *clusteradmin.Admin, replicaAddr, oldID string) bool {
	rctx, cancel := context.WithTimeout(ctx, roleWait)
	defer cancel()
	v, err := a.ViewOnce(rctx, replicaAddr)
	return err == nil && v.Myself.IsPrimary() && v.Myself.Slots.Count() > 0 && v.Nodes[oldID].Has("fail")
}

// roleWait bounds one look at a node's role in handedOver.
const roleWait = 3 * time.Second

// pauseUntilCaughtUp pauses the primary's writes (CLIENT PAUSE WRITE, ending
// by itself after bound) and waits until the replica has processed the
// primary's whole replication stream, so that a takeover loses no
// acknowledged write. It waits at most half the bound: the takeover must
// reach the old primary while its writes are still paused, or writes it
// acknowledged after the pause ran out and before it heard of the new
// epoch would be lost. The returned function unpauses; call it in any case.
func pauseUntilCaughtUp(ctx context.Context, a *clusteradmin.Admin, replicaAddr, primaryAddr string, bound time.Duration) (func(), error) {
	pc := a.Client(primaryAddr)
	if err := pc.Do(ctx, "client", "pause", bound.Milliseconds(), "write").Err(); err != nil {
		return func() {}, fmt.Errorf("client pause on %s: %w", primaryAddr, err)
	}
	unpause := func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if err := pc.Do(uctx, "client", "unpause").Err(); err != nil {
			a.Logger().Warn("failover: CLIENT UNPAUSE failed; the pause ends by itself", "primary", primaryAddr, "bound", bound, "err", err)
		}
	}
	text, err := pc.Info(ctx, "replication").Result()
	if err != nil {
		return unpause, fmt.Errorf("info replication of %s: %w", primaryAddr, err)
	}
	target, _ := strconv.ParseInt(clusteradmin.ParseInfo(text)["master_repl_offset"], 10, 64)
	err = a.Poll(ctx, bound/2, "wait for the replica to reach the paused primary's offset", func(ctx context.Context) (bool, string, error) {
		rt, err := a.Client(replicaAddr).Info(ctx, "replication").Result()
		if err != nil {
			return false, "", err
		}
		info := clusteradmin.ParseInfo(rt)
		off, _ := strconv.ParseInt(info["slave_repl_offset"], 10, 64)
		if info["master_link_status"] == "up" && off >= target {
			return true, "", nil
		}
		return false, fmt.Sprintf("replica offset %d, link %s, paused primary's offset %d", off, info["master_link_status"], target), nil
	})
	return unpause, err
}

// replicationSummary is the part of a node's INFO replication that says why
// a manual failover stalled (role, link, offsets), for a log line.
func replicationSummary(ctx context.Context, a *clusteradmin.Admin, addr string) string {
	if addr == "" {
		return "unknown address"
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	text, err := a.Client(addr).Info(ctx, "replication").Result()
	if err != nil {
		return err.Error()
	}
	info := clusteradmin.ParseInfo(text)
	var b strings.Builder
	for _, k := range []string{"role", "master_link_status", "master_sync_in_progress", "slave_repl_offset", "master_repl_offset", "connected_slaves", "slave0"} {
		if v, ok := info[k]; ok {
			fmt.Fprintf(&b, "%s=%s ", k, v)
		}
	}
	return strings.TrimSpace(b.String())
}
