package selfheal

import (
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/dayops/dayops/internal/activities/guardian"
	"github.com/dayops/dayops/internal/guard"
	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/topology"
	"github.com/dayops/dayops/internal/workflows/flow"
	"github.com/dayops/dayops/internal/workflows/selfheal/observed"
)

// changeRecoverRestartsLostPrimary marks histories in which the wait for a
// live primary brings a lost primary back on its volume when Redis has
// promoted no replica (restartPrimaryAfter), and in which a lost instance
// that is back by then is not recovered again.
const changeRecoverRestartsLostPrimary = "recover-restarts-lost-primary"

// restartPrimaryAfter is how long the wait for a live primary leaves Redis
// (and the takeovers of unelectable) before it brings the lost primary back
// on its volume: Redis promotes within cluster-node-timeout and an election
// (5-9 s), a held replica's instance manager takes over 20 s after the fail
// flag (25-30 s after the loss). A replica not promoted by then, with its
// primary's volume there, is one Redis finds too old (its link down for
// longer than cluster-replica-validity-factor allows before the loss: it
// may hold nothing at all). The lost primary's volume holds the shard's
// data; a replica promoted after all meanwhile keeps the shard (its newer
// epoch wins) and the restarted primary follows it.
const restartPrimaryAfter = 45 * time.Second

// changeRecoverNodeTimeout marks histories whose wait for a live primary
// lasts at least as long as Redis needs to promote a replica with the
// cluster's cluster-node-timeout (primaryWait): before, it gave up after
// PrimaryWait (2 minutes) whatever the timeout, so with a timeout of two
// minutes or more a recover without a volume to restart the primary on
// failed ShardHasNoPrimary ("restore from a backup") before Redis had even
// flagged the primary failed.
const changeRecoverNodeTimeout = "recover-waits-scale-with-node-timeout"

// primaryWait is how long the wait for a live primary lasts for a cluster
// whose cluster-node-timeout is nodeTimeout: at least wait, and 3 node
// timeouts + 30 s (Redis flags a primary failed one to one and a half node
// timeouts after its last answer; an election that gets no majority is
// tried again after two more). The restart on the primary's volume does
// not wait for Redis (restartPrimaryAfter): with a timeout over half a
// minute it comes first, and the restarted primary's fence lets a replica
// that is ahead take over, as after a container restart.
func primaryWait(nodeTimeout, wait time.Duration) time.Duration {
	return max(wait, 3*nodeTimeout+30*time.Second)
}

// changeRecoverRestartsPastStaleReplicas: the lost primary comes back on
// its volume as soon as every replica of its shard is one Redis will never
// elect (observed.TooOldToElect), not restartPrimaryAfter into the wait: the shard
// took no write for those 45 s (stale-replica: a write gap of 37 s and full
// redundancy after 50.6 s, 2026-12-08).
const changeRecoverRestartsPastStaleReplicas = "recover-restarts-past-stale-replicas"

type primaryRestart struct {
	on, early bool
	at        time.Time
	// why says why the restart came (a log line and the progress).
	why string
}

func newPrimaryRestart(ctx workflow.Context) *primaryRestart {
	return &primaryRestart{on: workflow.GetVersion(ctx, changeRecoverRestartsLostPrimary, workflow.DefaultVersion, 1) != workflow.DefaultVersion,
		early: workflow.GetVersion(ctx, changeRecoverRestartsPastStaleReplicas, workflow.DefaultVersion, 1) != workflow.DefaultVersion,
		at:    workflow.Now(ctx).Add(restartPrimaryAfter)}
}

// due returns the shard's lost primary when it is to be brought back on its
// volume now: the wait is long enough (or every replica of the shard is
// too old for Redis to elect), persistence is on, its Pod is gone (not
// stuck on a node that is not Ready) and it has a volume. Where the volume
// is, the observation does not say: one pinned to a node that is not Ready
// leaves the restarted Pod Pending until the node is back.
func (p *primaryRestart) due(ctx workflow.Context, obs guardian.Observation, shard int) (guard.Lost, bool) {
	if !p.on || obs.Spec == nil || obs.Spec.Persistence.Mode == spec.PersistenceNone {
		return guard.Lost{}, false
	}
	p.why = fmt.Sprintf("no replica was promoted in %s", restartPrimaryAfter)
	if workflow.Now(ctx).Before(p.at) {
		why, stale := observed.TooOldToElect(obs, shard)
		if !p.early || !stale {
			return guard.Lost{}, false
		}
		p.why = why
	}
	i := slices.IndexFunc(obs.Assessment.Lost, func(l guard.Lost) bool {
		return l.Shard == shard && obs.Assessment.Known[l.Ordinal].Role == topology.RolePrimary
	})
	if i < 0 {
		return guard.Lost{}, false
	}
	l := obs.Assessment.Lost[i]
	hasPod := slices.ContainsFunc(obs.Input.Pods, func(p guard.Pod) bool { return p.Ordinal == l.Ordinal })
	if l.ForceDelete || l.Rejoin || hasPod || !slices.Contains(obs.Volumes, l.Ordinal) {
		return guard.Lost{}, false
	}
	p.on = false
	return l, true
}

// restartPrimary brings shard's lost primary l back on its volume, with its
// node ID and data, and returns once the shard has a live primary (it, or a
// replica its fence found ahead of it) and l is back in the cluster.
func restartPrimary(ctx workflow.Context, r *flow.Run, in RecoverInput, obs guardian.Observation, l guard.Lost, why string) (guardian.Observation, error) {
	r.Phase(ctx, "restarting-primary", fmt.Sprintf("shard-%d ordinal %d: %s", l.Shard, l.Ordinal, why))
	r.Progress.StepsTotal += 4
	workflow.GetLogger(ctx).Warn("the lost primary comes back on its volume: "+why, "shard", l.Shard, "ordinal", l.Ordinal)
	return restartShard(ctx, r, in, obs, []guard.Lost{l}, []topology.Instance{{Ordinal: l.Ordinal, Shard: l.Shard, Role: topology.RolePrimary}}, false)
}
