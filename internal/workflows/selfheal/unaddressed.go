package selfheal

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/dayops/dayops/internal/activities/guardian"
	"github.com/dayops/dayops/internal/activities/redisops"
	"github.com/dayops/dayops/internal/topology"
	"github.com/dayops/dayops/internal/workflows/flow"
)

// changeRecoverUnaddressed marks recovers whose wait for a live primary
// has a replica take over a lost primary the cluster names without an
// address (unaddressed); runs before it only waited for Redis.
const changeRecoverUnaddressed = "recover-takes-over-unaddressed"

// A lost primary whose IP Kubernetes gave to another Pod of the cluster
// before Redis failed it over is flagged noaddr by the nodes that heard
// another node ID there, and Redis' failure detection pings no node without
// an address: it is never flagged failed and its replica never promoted.
// After unaddressedAfter without a primary (Redis promotes within
// cluster-node-timeout and an election, 5-9 s), and every unaddressedEvery
// after, the replica furthest ahead is asked to take over if its own view
// names its primary noaddr (failover.TakeOverUnaddressed); otherwise it is
// left to Redis.
const (
	unaddressedAfter = 10 * time.Second
	unaddressedEvery = 20 * time.Second
)

type unaddressed struct {
	on   bool
	next time.Time
}

func newUnaddressed(ctx workflow.Context) *unaddressed {
	return &unaddressed{on: workflow.GetVersion(ctx, changeRecoverUnaddressed, workflow.DefaultVersion, 1) != workflow.DefaultVersion,
		next: workflow.Now(ctx).Add(unaddressedAfter)}
}

// takeOver asks shard's replica furthest ahead to take over when it is due.
func (u *unaddressed) takeOver(ctx workflow.Context, r *flow.Run, obs guardian.Observation, shard int) error {
	if !u.on || obs.Spec == nil || workflow.Now(ctx).Before(u.next) {
		return nil
	}
	u.next = workflow.Now(ctx).Add(unaddressedEvery)
	best, ok := furthestReplica(obs, shard)
	if !ok {
		return nil
	}
	label := fmt.Sprintf("shard-%d ordinal %d", shard, best)
	return r.Exec(ctx, flow.LongOptions, fmt.Sprintf("promote %s if it names its lost primary without an address, which Redis never fails over (CLUSTER FAILOVER TAKEOVER)", label),
		flow.RedisActs.TakeOverLost, redisops.TakeOverLostInput{Auth: flow.AuthOf(*obs.Spec), ReplicaAddr: obs.Addr(best), Label: label, OnlyUnaddressed: true}, nil)
}

// furthestReplica is the reachable replica of shard with the highest
// replication offset (the lowest ordinal of equals).
func furthestReplica(obs guardian.Observation, shard int) (int, bool) {
	best, offset, found := 0, int64(0), false
	for _, p := range obs.Input.Pods {
		n, ok := obs.Input.Nodes[p.Ordinal]
		if p.Shard != shard || p.Addr == "" || !ok || !n.Reachable || n.Role != topology.RoleReplica {
			continue
		}
		if !found || n.Offset > offset || (n.Offset == offset && p.Ordinal < best) {
			best, offset, found = p.Ordinal, n.Offset, true
		}
	}
	return best, found
}
