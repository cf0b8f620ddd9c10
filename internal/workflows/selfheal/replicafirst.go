package selfheal

import (
	"go.temporal.io/sdk/workflow"

	"github.com/dayops/dayops/internal/activities/guardian"
	"github.com/dayops/dayops/internal/workflows/flow"
	"github.com/dayops/dayops/internal/workflows/selfheal/observed"
)

// changeRecoverReplicaFirst: a lost replica that comes back on its volume
// is created before the recover waits for its shard's primary, when that
// primary is restarting in place (its Pod there, its redis-server not
// answering). The restarted primary runs fenced and waits for the replicas
// its nodes.conf names (up to --unreachable-timeout, 60 s) before it
// serves; the recover waited for the primary before it brought the replica
// back: each waited for the other, and the fence's timeout broke the tie
// after 60 s without writes to the shard, then served unverified.
const changeRecoverReplicaFirst = "recover-replica-first"

// replicaStarter brings a waiting shard's lost replicas back on their
// volumes first (observed.ReplicaFirst), each once.
type replicaStarter struct {
	on      bool
	started map[int]bool
}

func newReplicaFirst(ctx workflow.Context) *replicaStarter {
	return &replicaStarter{on: workflow.GetVersion(ctx, changeRecoverReplicaFirst, workflow.DefaultVersion, 1) != workflow.DefaultVersion,
		started: map[int]bool{}}
}

// start creates each of shard's lost replicas that observed.ReplicaFirst allows,
// waits until it runs and meets it with the live nodes at its new address,
// which gossip then gives the restarting primary (a node it flags failing
// takes another's word for its address): its fence finds the replica
// there. It records InstanceRecovered then: the replica is back in the
// cluster on its volume, with its node ID, and resyncs from its primary
// once the primary serves (the recover's own join of it is skipped, as
// it is no longer lost). The steps are the recovery's own (create, meet,
// recorded): a volume that cannot be scheduled is given up there, and the
// replica comes back on a new one, which the fence does not wait for.
func (s *replicaStarter) start(ctx workflow.Context, r *flow.Run, obs guardian.Observation, shard int) error {
	if !s.on {
		return nil
	}
	for _, l := range obs.Assessment.Lost {
		if l.Shard != shard || s.started[l.Ordinal] || !observed.ReplicaFirst(obs, l) {
			continue
		}
		s.started[l.Ordinal] = true
		rc := newRecovery(r, obs, l, true)
		r.Phase(ctx, "recovering", rc.label+" first, on its volume: its shard's primary restarts in place and waits for it")
		ready, err := rc.create(ctx, obs)
		if err != nil {
			return err
		}
		if err := rc.meet(ctx, obs, ready); err != nil {
			return err
		}
		if err := rc.recorded(ctx, ready); err != nil {
			return err
		}
	}
	return nil
}
