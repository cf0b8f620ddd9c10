package selfheal

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/workflow"

	"github.com/dayops/dayops/internal/activities/guardian"
	"github.com/dayops/dayops/internal/guard"
	"github.com/dayops/dayops/internal/kube/render"
	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/topology"
	"github.com/dayops/dayops/internal/workflows/flow"
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

// nodeTimeout is c's cluster-node-timeout (the default dayops renders when
// its config does not set one; admission checks the value).
func nodeTimeout(c *spec.Cluster) time.Duration {
	ms := render.DefaultNodeTimeoutMillis
	if c != nil {
		if v, err := strconv.Atoi(c.Config["cluster-node-timeout"]); err == nil && v > 0 {
			ms = v
		}
	}
	return time.Duration(ms) * time.Millisecond
}

// changeRecoverRestartsPastStaleReplicas: the lost primary comes back on
// its volume as soon as every replica of its shard is one Redis will never
// elect (tooOldToElect), not restartPrimaryAfter into the wait: the shard
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
		why, stale := tooOldToElect(obs, shard)
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

// stillLost says whether l is still lost in obs (recoverOne: a lost primary
// restartPrimary brought back is not recovered again).
func stillLost(obs guardian.Observation, l guard.Lost) bool {
	return slices.ContainsFunc(obs.Assessment.Lost, func(x guard.Lost) bool { return x.Ordinal == l.Ordinal })
}

// staleMargin is added to Redis' bound on a replica's data age: INFO
// counts whole seconds, and Redis reads its clock once per cron tick.
const staleMargin = 2 * time.Second

// tooOldToElect says whether every replica of shard (at least one) is one
// Redis will never elect, and why: reachable, its link down for longer
// than Redis allows a candidate (cluster.c: the data age, less
// cluster-node-timeout, over repl-ping-replica-period + cluster-node-timeout
// x cluster-replica-validity-factor; 65 s with dayops' defaults) with
// staleMargin. The age only grows while the link is down, and the link
// cannot come up while the primary is gone: the primary's volume holds the
// shard's data, and waiting longer only keeps the shard without writes. A
// factor of 0 (Redis never ages a replica out), a replica that does not
// answer, or one whose link never came up (-1: not told apart here) is
// left to the usual wait.
func tooOldToElect(obs guardian.Observation, shard int) (string, bool) {
	c := obs.Spec
	factor, ping := configInt(c, "cluster-replica-validity-factor", 10), configInt(c, "repl-ping-replica-period", 10)
	if factor <= 0 {
		return "", false
	}
	timeout := nodeTimeout(c)
	limit := timeout + time.Duration(ping)*time.Second + time.Duration(factor)*timeout + staleMargin
	var old []string
	for _, p := range obs.Input.Pods {
		if p.Shard != shard || obs.Assessment.Known[p.Ordinal].Role == topology.RolePrimary {
			continue
		}
		n := obs.Input.Nodes[p.Ordinal]
		down := time.Duration(n.LinkDownSeconds) * time.Second
		if !n.Reachable || n.Role != topology.RoleReplica || n.LinkUp || down < limit {
			return "", false
		}
		old = append(old, fmt.Sprintf("%s's link down %s", p.Name, down))
	}
	if len(old) == 0 {
		return "", false
	}
	return fmt.Sprintf("its replicas are too old for Redis to elect (%s; Redis elects none past %s)", strings.Join(old, ", "), limit-staleMargin), true
}

// configInt is c's integer setting key, or def when it sets none.
func configInt(c *spec.Cluster, key string, def int) int {
	if c != nil {
		if v, err := strconv.Atoi(c.Config[key]); err == nil {
			return v
		}
	}
	return def
}
