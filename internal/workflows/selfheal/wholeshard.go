package selfheal

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/dayops/dayops/internal/activities/guardian"
	"github.com/dayops/dayops/internal/activities/kube"
	"github.com/dayops/dayops/internal/activities/redisops"
	"github.com/dayops/dayops/internal/guard"
	"github.com/dayops/dayops/internal/kube/render"
	"github.com/dayops/dayops/internal/topology"
	"github.com/dayops/dayops/internal/workflows/flow"
	"github.com/dayops/dayops/internal/workflows/selfheal/observed"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// changeRecoverRestartsShards marks histories in which recover brings a
// shard that lost every instance back on its volumes (restartLostShards)
// instead of waiting for a promotion that cannot come.
const changeRecoverRestartsShards = "recover-restarts-lost-shards"

// changeRecoverAwaitsLosingShards marks histories in which recover takes a
// shard for lost whole when one instance is lost and the others are going
// (guard.LosingWhole: their Pods terminating), waits for them and asks
// again, instead of taking it for one lost instance and waiting for a
// promotion that cannot come.
const changeRecoverAwaitsLosingShards = "recover-awaits-losing-shards"

// restartLostShards brings back, on their own volumes, the instances of
// every shard that lost all of them at once (guard.LostWhole: both Pods of
// a shard deleted, evicted or drained together), each once its Pods still
// terminating have gone (guard.LosingWhole finds the shards to wait for). Redis promotes nothing
// there and, with cluster-require-full-coverage, every shard refuses writes
// until the shard has a primary again; the shard's data is on the volumes.
// All of the shard's instances start together, each with its node ID
// (nodes.conf) and data: the former primary's instance manager decides,
// as after any restart, whether it serves or a replica that holds more
// takes over (it finds the replicas at their new addresses through the
// cluster bus). Without the former primary's data (its volume gone, or on a
// node that is not Ready) a replica's copy takes its place (observed.Restartable).
// Once the shard has a primary, each instance is met with the cluster, the
// replicas are in sync, and InstanceRecovered is recorded. A shard none of
// whose instances kept its data (no volume, persistence none) cannot be
// brought back: that is a non-retryable ErrTypeNoPrimary naming what is
// gone, for which the recover fails once it has repaired everything else
// (gone). It returns a fresh observation and how many instances came back.
func restartLostShards(ctx workflow.Context, r *flow.Run, in RecoverInput, obs guardian.Observation) (guardian.Observation, int, goneShards, error) {
	n, gone := 0, goneShards{}
	shards := slices.Sorted(maps.Keys(guard.LostWhole(obs.Assessment)))
	losing := workflow.GetVersion(ctx, changeRecoverAwaitsLosingShards, workflow.DefaultVersion, 1) != workflow.DefaultVersion
	if losing {
		shards = guard.LosingWhole(obs.Assessment, guard.GoingOrdinals(obs.Input.Pods))
	}
	recorded := append(slices.Clone(in.Lost), obs.Assessment.Lost...)
	last := map[int]int{} // shard: its last primary, as a going member names it
	for _, sh := range shards {
		if o, ok := guard.LastPrimary(obs.Assessment, obs.Input.Nodes, sh); ok && losing {
			last[sh] = o
		}
	}
	for _, sh := range shards {
		var err error
		if obs, err = awaitTerminated(ctx, r, obs, sh); err != nil {
			return obs, n, gone, err
		}
		lost, ok := guard.LostWhole(obs.Assessment)[sh]
		if !ok {
			continue // an instance of the shard is back meanwhile, or stays
		}
		if losing {
			// The ones that were going when the recover looked first are
			// lost now, and nobody recorded it (an operation runs).
			if err := recordUnreported(ctx, r, RecoverInput{Lost: recorded}, lost); err != nil {
				return obs, n, gone, err
			}
			recorded = append(recorded, lost...)
			if o, ok := last[sh]; ok {
				obs.Assessment.Known = guard.WithPrimary(obs.Assessment.Known, o)
			}
		}
		insts, stuck, takeover, why := observed.Restartable(*obs.Spec, obs, sh, lost)
		if why != "" {
			gone.add(sh, why)
			continue
		}
		r.Phase(ctx, "restarting-shard", fmt.Sprintf("shard-%d", sh))
		r.Progress.StepsTotal += 2 + 2*len(insts)
		if len(stuck) > 0 {
			if err := r.Exec(ctx, flow.LongOptions, fmt.Sprintf("force-delete %v (stuck on a node that is not Ready)", stuck), guardianActs.ForceDeletePods,
				guardian.ForceDeleteInput{Namespace: obs.Spec.Namespace, Pods: stuck}, nil); err != nil {
				return obs, n, gone, err
			}
		}
		if obs, err = restartShard(ctx, r, in, obs, lost, insts, takeover); err != nil {
			return obs, n, gone, err
		}
		n += len(insts)
	}
	if n == 0 {
		return obs, 0, gone, nil
	}
	obs, err := observeGuard(ctx, r, obs.Assessment.Known, "relabel roles after the shards came back")
	return obs, n, gone, err
}

// goneShards are the shards that lost every instance and their data with
// them, and why.
type goneShards struct {
	shards []int
	why    []string
}

func (g *goneShards) add(shard int, why string) {
	g.shards = append(g.shards, shard)
	g.why = append(g.why, fmt.Sprintf("shard-%d lost every instance and %s", shard, why))
}

// err is the recover's failure for them (nil for none): non-retryable,
// each with its way back.
func (g goneShards) err() error {
	if len(g.shards) == 0 {
		return nil
	}
	return temporal.NewNonRetryableApplicationError(strings.Join(g.why, "; "), ErrTypeNoPrimary, nil)
}

// terminateWait bounds the wait for a shard's Pods that are still shutting
// down on a live node (a graceful deletion: redis-server writes its AOF
// before it exits); past it they are force-deleted.
const terminateWait = 2 * time.Minute

// awaitTerminated waits until no instance of shard is a Pod still shutting
// down on a Ready node: the shard's data is whatever its redis-servers
// wrote on their way out, so they are let finish rather than killed.
func awaitTerminated(ctx workflow.Context, r *flow.Run, obs guardian.Observation, shard int) (guardian.Observation, error) {
	return awaitGone(ctx, r, obs, func(p guard.Pod) bool { return p.Shard == shard }, fmt.Sprintf("wait until shard-%d's Pods have shut down", shard))
}

// awaitGone waits, up to terminateWait, until no Pod that match selects is
// still shutting down on a Ready node, and returns the last observation.
func awaitGone(ctx workflow.Context, r *flow.Run, obs guardian.Observation, match func(guard.Pod) bool, what string) (guardian.Observation, error) {
	deadline := workflow.Now(ctx).Add(terminateWait)
	for {
		terminating := slices.ContainsFunc(obs.Input.Pods, func(p guard.Pod) bool { return match(p) && p.Going() })
		if !terminating || workflow.Now(ctx).After(deadline) {
			return obs, nil
		}
		if err := workflow.Sleep(ctx, time.Second); err != nil {
			return obs, err
		}
		var err error
		if obs, err = observeGuard(ctx, r, obs.Assessment.Known, what); err != nil {
			return obs, err
		}
	}
}

// changeRecoverNamesGoneReplicas: the instances a shard lost whole brings
// back on their volumes are told which of its members are gone with their
// data, so that a former primary's fence does not wait its whole
// --unreachable-timeout (60 s) for a replica that will never answer (seen:
// a primary handed the shard to its replica, whose Pod was deleted with
// it; the former primary's volume was deleted too, and the replica's
// restart waited 60 s for it: full redundancy 1m17s).
const changeRecoverNamesGoneReplicas = "recover-names-gone-replicas"

// restartShard creates the shard's instances on their volumes, waits for
// the shard's primary (takeover: has the replica furthest ahead take the
// lost primary's place first), then meets each instance with the cluster
// and has each replica in sync with the primary.
func restartShard(ctx workflow.Context, r *flow.Run, in RecoverInput, obs guardian.Observation, lost []guard.Lost, insts []topology.Instance,
	takeover bool) (guardian.Observation, error) {
	c := *obs.Spec
	shard := insts[0].Shard
	placement := render.Placement{RequireDistinctZones: len(obs.Zones) >= 1+c.ReplicasPerShard}
	create := kube.EnsureInstancesInput{Spec: c, Instances: insts, Placement: placement}
	if gone := observed.GoneWithData(obs, lost); len(gone) > 0 && workflow.GetVersion(ctx, changeRecoverNamesGoneReplicas, workflow.DefaultVersion, 1) == 1 {
		create.GoneReplicas = gone
	}
	if err := r.Exec(ctx, flow.LongOptions, fmt.Sprintf("create shard-%d's %d instances on their volumes", shard, len(insts)),
		flow.KubeActs.EnsureInstances, create, nil); err != nil {
		return obs, err
	}
	ready, err := flow.WaitReady(ctx, r, c, insts)
	if err != nil {
		return obs, err
	}
	r.Progress.StepsDone++
	// The instances know each other at their old addresses, which
	// Kubernetes may have given to other Pods (one of them, even): a MEET at
	// the new ones corrects them, so the former primary's fence finds its
	// replicas and a replica follows its primary where it is now. It waits
	// until a fenced instance serves.
	addrs, ids := obs.LiveAddrs(), map[string]string{}
	for _, i := range insts {
		addrs = append(addrs, ready[i.Ordinal].Addr())
		ids[ready[i.Ordinal].Addr()] = obs.Assessment.Known[i.Ordinal].NodeID
	}
	if err := r.Exec(ctx, flow.LongOptions, fmt.Sprintf("meet shard-%d's instances at their new addresses", shard), flow.RedisActs.Meet,
		redisops.MeetInput{Auth: flow.AuthOf(c), Addrs: addrs, NodeIDs: ids}, nil); err != nil {
		return obs, err
	}
	if takeover {
		if obs, err = takeOverLost(ctx, r, obs, insts, ready); err != nil {
			return obs, err
		}
	}
	if obs, err = waitPrimary(ctx, r, in, obs, lost[0]); err != nil {
		return obs, err
	}
	r.Progress.StepsDone++
	primary := obs.Assessment.Primaries[shard]
	for _, inst := range insts {
		l := lost[slices.IndexFunc(lost, func(l guard.Lost) bool { return l.Ordinal == inst.Ordinal })]
		rc := newRecovery(r, obs, l, true)
		if inst.Ordinal == primary {
			err = rc.meet(ctx, obs, ready)
			if err == nil {
				err = rc.recorded(ctx, ready)
			}
		} else {
			err = rc.join(ctx, obs, ready)
		}
		if err != nil {
			return obs, err
		}
		r.Progress.StepsDone += 2
	}
	return obs, nil
}

// takeOverLost has the restarted replica furthest ahead (replication
// offset, then the lowest ordinal) take the place of the shard's primary,
// lost with its data, and returns a fresh observation.
func takeOverLost(ctx workflow.Context, r *flow.Run, obs guardian.Observation, insts []topology.Instance, ready map[int]kube.InstanceStatus) (guardian.Observation, error) {
	shard := insts[0].Shard
	obs, err := observeGuard(ctx, r, obs.Assessment.Known, fmt.Sprintf("read shard-%d's replicas' positions", shard))
	if err != nil {
		return obs, err
	}
	ordinals := make([]int, len(insts))
	for i, inst := range insts {
		ordinals[i] = inst.Ordinal
	}
	best, _ := observed.Furthest(obs, ordinals)
	label := fmt.Sprintf("shard-%d ordinal %d", shard, best)
	err = r.Exec(ctx, flow.LongOptions, fmt.Sprintf("promote %s in place of its primary, lost with its data (CLUSTER FAILOVER TAKEOVER)", label),
		flow.RedisActs.TakeOverLost, redisops.TakeOverLostInput{Auth: flow.AuthOf(*obs.Spec), ReplicaAddr: ready[best].Addr(), Label: label}, nil)
	return obs, err
}
