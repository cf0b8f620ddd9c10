package selfheal

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/dayops/dayops/internal/activities/guardian"
	"github.com/dayops/dayops/internal/activities/redisops"
	"github.com/dayops/dayops/internal/topology"
	"github.com/dayops/dayops/internal/workflows/flow"
)

// changeRecoverUnaddressed marks recovers whose wait for a live primary
// has a replica take over a lost primary Redis will never fail over.
// Version 1 asked the replica furthest ahead every time it was due (the
// activity decided: a primary named noaddr only); version 2 asks only when
// the observation shows Redis cannot elect it (unelectableWhy: its lost
// primary named noaddr, or no majority of the slot owners live), so a
// shard that waits for Redis records no empty takeover steps. Version 3
// has the takeover wait up to cluster-node-timeout + 5 s for the replica's
// own view to show the reason (failover.TakeOverUnelectable): dayops knows
// the primaries lost when their Pods are gone, the replica only once they
// missed a node timeout's pings, so with a timeout over 10 s version 2's
// first takeover found nothing to act on and the next came 20 s later
// (lose-majority with 15 s: taken over 31.9 s after the fault). Version 3
// also asks 2 s into the wait instead of 10 s (unelectableWaitFrom). Runs
// before version 1 only waited for Redis.
const changeRecoverUnaddressed = "recover-takes-over-unaddressed"

// A lost primary whose IP Kubernetes gave to another Pod of the cluster
// before Redis failed it over is flagged noaddr by the nodes that heard
// another node ID there, and Redis' failure detection pings no node without
// an address: it is never flagged failed. Lost primaries that were a
// majority of the primaries owning slots (a Kubernetes node that held two of
// three) are never flagged failed either: Redis needs a majority's reports,
// and a majority's votes to elect. After unelectableAfter without a primary
// (Redis promotes within cluster-node-timeout and an election, 5-9 s), and
// every unelectableEvery after, the replica furthest ahead takes over in
// either case (failover.TakeOverUnelectable, which checks its own view
// again); otherwise it is left to Redis.
const (
	unelectableAfter = 10 * time.Second
	unelectableEvery = 20 * time.Second
	// unelectableWaitFrom replaces unelectableAfter in version 3: the
	// takeover waits for the replica's own view, whose fail? flags come
	// from Redis' own failure detection (a node timeout without an
	// answer), so it need not leave Redis a head start of its own.
	unelectableWaitFrom = 2 * time.Second
)

type unelectable struct {
	version workflow.Version
	next    time.Time
}

func newUnelectable(ctx workflow.Context) *unelectable {
	version := workflow.GetVersion(ctx, changeRecoverUnaddressed, workflow.DefaultVersion, 3)
	first := unelectableAfter
	if version >= 3 {
		first = unelectableWaitFrom
	}
	return &unelectable{version: version, next: workflow.Now(ctx).Add(first)}
}

// takeOver asks shard's replica furthest ahead to take over when it is due.
// Without a majority (version 2), every shard without a live primary is
// taken over, in shard order, by its replica furthest ahead: one takeover
// may not be enough to give Redis its majority back, and a replica left
// waiting while the shards are recovered one by one may grow older than
// Redis elects (cluster-replica-validity-factor).
func (u *unelectable) takeOver(ctx workflow.Context, r *flow.Run, obs guardian.Observation, shard int) error {
	if u.version == workflow.DefaultVersion || obs.Spec == nil || workflow.Now(ctx).Before(u.next) {
		return nil
	}
	u.next = workflow.Now(ctx).Add(unelectableEvery)
	best, ok := furthestReplica(obs, shard)
	if !ok {
		return nil
	}
	label := fmt.Sprintf("shard-%d ordinal %d", shard, best)
	if u.version == 1 {
		return r.Exec(ctx, flow.LongOptions, fmt.Sprintf("promote %s if it names its lost primary without an address, which Redis never fails over (CLUSTER FAILOVER TAKEOVER)", label),
			flow.RedisActs.TakeOverLost, redisops.TakeOverLostInput{Auth: flow.AuthOf(*obs.Spec), ReplicaAddr: obs.Addr(best), Label: label, OnlyUnelectable: true}, nil)
	}
	noMajority, why := unelectableWhy(obs, best)
	if why == "" {
		return nil
	}
	shards := []int{shard}
	if noMajority {
		shards = primaryless(obs)
	}
	for _, sh := range shards {
		if best, ok = furthestReplica(obs, sh); !ok {
			continue
		}
		label = fmt.Sprintf("shard-%d ordinal %d", sh, best)
		in := redisops.TakeOverLostInput{Auth: flow.AuthOf(*obs.Spec), ReplicaAddr: obs.Addr(best), Label: label, OnlyUnelectable: true}
		if u.version >= 3 {
			in.WaitUnelectable = nodeTimeout(obs.Spec) + 5*time.Second
		}
		if err := r.Exec(ctx, flow.LongOptions, fmt.Sprintf("promote %s unless Redis can elect it by then: %s (CLUSTER FAILOVER TAKEOVER)", label, why),
			flow.RedisActs.TakeOverLost, in, nil); err != nil {
			return err
		}
	}
	return nil
}

// unelectableWhy says why, as far as the observation shows, Redis will
// never elect replica, a replica of a lost primary ("" when it may): a view
// read names that primary without an address, or the live primaries that
// own slots are no majority of the shards' primaries (noMajority).
func unelectableWhy(obs guardian.Observation, replica int) (noMajority bool, why string) {
	lost := obs.Input.Nodes[replica].PrimaryID
	ordinals := slices.Sorted(maps.Keys(obs.Input.Nodes))
	for _, o := range ordinals {
		if lost != "" && slices.Contains(obs.Input.Nodes[o].Unaddressed, lost) {
			return false, "the cluster names its lost primary without an address"
		}
	}
	live := 0
	for _, s := range slices.Sorted(maps.Keys(obs.Assessment.Primaries)) {
		if obs.Input.Nodes[obs.Assessment.Primaries[s]].Slots > 0 {
			live++
		}
	}
	owners := live + len(primaryless(obs))
	if live < owners/2+1 {
		return true, fmt.Sprintf("%d of the %d primaries owning slots are live, no majority", live, owners)
	}
	return false, ""
}

// primaryless lists the shards without a live primary, in order.
func primaryless(obs guardian.Observation) []int {
	var out []int
	for s := range obs.Input.Shards {
		if _, ok := obs.Assessment.Primaries[s]; !ok {
			out = append(out, s)
		}
	}
	return out
}

// furthestReplica is the reachable replica of shard with the highest
// replication offset (the lowest ordinal of equals).
func furthestReplica(obs guardian.Observation, shard int) (int, bool) {
	var cands []int
	for _, p := range obs.Input.Pods {
		n, ok := obs.Input.Nodes[p.Ordinal]
		if p.Shard == shard && p.Addr != "" && ok && n.Reachable && n.Role == topology.RoleReplica {
			cands = append(cands, p.Ordinal)
		}
	}
	return furthest(obs, cands)
}

// furthest is the ordinal of ordinals with the highest replication offset
// in the observation (the lowest ordinal of equals); false when there is
// none.
func furthest(obs guardian.Observation, ordinals []int) (int, bool) {
	if len(ordinals) == 0 {
		return 0, false
	}
	best := slices.Min(ordinals)
	for _, o := range ordinals {
		if n := obs.Input.Nodes[o].Offset; n > obs.Input.Nodes[best].Offset || (n == obs.Input.Nodes[best].Offset && o < best) {
			best = o
		}
	}
	return best, true
}
