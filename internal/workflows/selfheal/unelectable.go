package selfheal

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/dayops/dayops/internal/activities/guardian"
	"github.com/dayops/dayops/internal/activities/redisops"
	"github.com/dayops/dayops/internal/workflows/flow"
	"github.com/dayops/dayops/internal/workflows/selfheal/observed"
)

// changeRecoverUnaddressed marks recovers whose wait for a live primary
// has a replica take over a lost primary Redis will never fail over.
// Version 1 asked the replica furthest ahead every time it was due (the
// activity decided: a primary named noaddr only); version 2 asks only when
// the observation shows Redis cannot elect it (observed.Unelectable: its lost
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
	best, ok := observed.FurthestReplica(obs, shard)
	if !ok {
		return nil
	}
	label := fmt.Sprintf("shard-%d ordinal %d", shard, best)
	if u.version == 1 {
		return r.Exec(ctx, flow.LongOptions, fmt.Sprintf("promote %s if it names its lost primary without an address, which Redis never fails over (CLUSTER FAILOVER TAKEOVER)", label),
			flow.RedisActs.TakeOverLost, redisops.TakeOverLostInput{Auth: flow.AuthOf(*obs.Spec), ReplicaAddr: obs.Addr(best), Label: label, OnlyUnelectable: true}, nil)
	}
	noMajority, why := observed.Unelectable(obs, best)
	if why == "" {
		return nil
	}
	shards := []int{shard}
	if noMajority {
		shards = observed.Primaryless(obs)
	}
	for _, sh := range shards {
		if best, ok = observed.FurthestReplica(obs, sh); !ok {
			continue
		}
		label = fmt.Sprintf("shard-%d ordinal %d", sh, best)
		in := redisops.TakeOverLostInput{Auth: flow.AuthOf(*obs.Spec), ReplicaAddr: obs.Addr(best), Label: label, OnlyUnelectable: true}
		if u.version >= 3 {
			in.WaitUnelectable = observed.NodeTimeout(obs.Spec) + 5*time.Second
		}
		if err := r.Exec(ctx, flow.LongOptions, fmt.Sprintf("promote %s unless Redis can elect it by then: %s (CLUSTER FAILOVER TAKEOVER)", label, why),
			flow.RedisActs.TakeOverLost, in, nil); err != nil {
			return err
		}
	}
	return nil
}
