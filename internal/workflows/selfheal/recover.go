package selfheal

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/dayops/dayops/internal/activities/guardian"
	"github.com/dayops/dayops/internal/activities/kube"
	"github.com/dayops/dayops/internal/activities/redisops"
	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/guard"
	"github.com/dayops/dayops/internal/kube/render"
	"github.com/dayops/dayops/internal/operation"
	"github.com/dayops/dayops/internal/planner"
	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/topology"
	"github.com/dayops/dayops/internal/workflows/flow"
	"github.com/dayops/dayops/internal/workflows/selfheal/observed"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// guardianActs names the guardian's activities recover observes with.
var guardianActs *guardian.Activities

// OpRecover and OpSwitchover are the self-healing operation types.
const (
	OpRecover    = operation.Recover
	OpSwitchover = operation.Switchover
)

// ErrTypeNoPrimary: a shard lost every copy of its data (no primary came
// back and no replica was promoted); recover cannot invent it.
const ErrTypeNoPrimary = "ShardHasNoPrimary"

// RecoverInput replaces lost instances.
type RecoverInput struct {
	Meta flow.Meta `json:"meta"`
	// Lost is what the guardian found (informative: the workflow observes
	// again and recovers what is still lost).
	Lost []guard.Lost `json:"lost,omitempty"`
	// Known is the guardian's memory of the cluster's instances, so a Pod
	// that vanished is still known by ordinal.
	Known map[int]guard.Member `json:"known,omitempty"`
	// PrimaryWait bounds the wait for Redis to promote a replica of a shard
	// whose primary was lost (default 2m; at least 3 x cluster-node-timeout
	// + 30 s, so that Redis can flag the primary failed first).
	PrimaryWait time.Duration `json:"primaryWait,omitempty"`
	// Plan is the plan the API admitted (nil when the guardian started the
	// recovery, or in inputs recorded before it was carried): the workflow
	// reports it, and records PlanDiverged when what is lost changed.
	Plan *planner.Plan `json:"plan,omitempty"`
}

// Recover replaces lost instances shard by shard: each comes back with its
// ordinal, on its volume when the volume still exists (keeping its node ID)
// or on a new one (its dead node ID is then forgotten on every node first),
// joins as a replica of the shard's current primary and is in sync before
// the next; roles are relabelled and a shard whose primary then shares a
// zone with a replica is switched over to one that keeps the zone rule.
func Recover(ctx workflow.Context, in RecoverInput) (flow.Result, error) {
	return flow.Operate(ctx, in.Meta, func(ctx workflow.Context, r *flow.Run) (string, error) { return recoverInstances(ctx, r, in) })
}

func observeGuard(ctx workflow.Context, r *flow.Run, known map[int]guard.Member, summary string) (guardian.Observation, error) {
	var obs guardian.Observation
	err := r.Exec(ctx, flow.QuickOptions, summary, guardianActs.ObserveGuard, guardian.ObserveInput{
		Namespace: r.Meta.Namespace, Cluster: r.Meta.Cluster, Known: known, Relabel: true, IgnoreOperation: true}, &obs)
	if err == nil && obs.Gone {
		err = temporal.NewNonRetryableApplicationError(fmt.Sprintf("cluster %s does not exist", r.Meta.ClusterKey()), kube.ErrTypeNotFound, nil)
	}
	return obs, err
}

// changeRecoverPlan marks histories in which recover compares the admitted
// plan's lost instances with the ones it observes.
const changeRecoverPlan = "recover-admitted-plan"

// checkRecoverPlan records a PlanDiverged event when the instances lost now
// are not the ones the admitted plan listed (the guardian's view at
// admission). Recover repairs what is lost now, so the difference is a
// detail: the operation goes on. Without the guardian's view at admission
// (no Lost, no Known) the plan listed nothing to compare.
func checkRecoverPlan(ctx workflow.Context, r *flow.Run, in RecoverInput, lostNow []guard.Lost) error {
	if in.Lost == nil && in.Known == nil {
		return nil
	}
	ordinals := func(ls []guard.Lost) []int {
		out := make([]int, 0, len(ls))
		for _, l := range ls {
			out = append(out, l.Ordinal)
		}
		slices.Sort(out)
		return out
	}
	was, now := ordinals(in.Lost), ordinals(lostNow)
	if slices.Equal(was, now) {
		return nil
	}
	return r.Diverged(ctx, "recovering", []string{"lost"}, false, in.Plan.Summary,
		fmt.Sprintf("lost now: ordinals %v (admitted: %v); recover repairs what is lost now", now, was))
}

// changeRecoverRecordsLoss marks histories in which recover records the
// losses it repairs that its input did not list (recordUnreported).
const changeRecoverRecordsLoss = "recover-records-unreported-loss"

// recordUnreported records InstanceLost for each instance lost now that the
// recover's input did not list. The guardian records a loss only while no
// operation runs (a Pod missing during an operation may be the operation's
// own doing), so an instance lost after a recover was started, while it
// holds the cluster, is repaired by that recover without the guardian ever
// recording its loss (seen in the audit-db-down scenario: two primaries
// lost, one InstanceLost, two InstanceRecovered). The ones listed were
// recorded by whoever saw them (the guardian, before it started the
// recover or before the request was admitted).
func recordUnreported(ctx workflow.Context, r *flow.Run, in RecoverInput, lostNow []guard.Lost) error {
	var events []audit.Payload
	for _, l := range lostNow {
		if slices.ContainsFunc(in.Lost, func(x guard.Lost) bool { return x.Ordinal == l.Ordinal }) {
			continue
		}
		events = append(events, &audit.InstanceLost{Cluster: r.Meta.ClusterKey(), Shard: l.Shard, Ordinal: l.Ordinal, NodeID: l.NodeID,
			Reason: l.Reason + " (found by the recover operation)"})
	}
	return r.Record(ctx, events...)
}

func recoverInstances(ctx workflow.Context, r *flow.Run, in RecoverInput) (string, error) {
	if in.PrimaryWait <= 0 {
		in.PrimaryWait = 2 * time.Minute
	}
	if err := r.Started(ctx); err != nil {
		return "", err
	}
	if in.Plan != nil {
		r.Plan = in.Plan
	}
	r.Phase(ctx, "observing", "")
	obs, err := observeGuard(ctx, r, in.Known, "observe pods, volumes and redis")
	if err != nil {
		return "", err
	}
	if in.Plan != nil && workflow.GetVersion(ctx, changeRecoverPlan, workflow.DefaultVersion, 1) != workflow.DefaultVersion {
		if err := checkRecoverPlan(ctx, r, in, obs.Assessment.Lost); err != nil {
			return "", err
		}
	}
	if workflow.GetVersion(ctx, changeRecoverRecordsLoss, workflow.DefaultVersion, 1) != workflow.DefaultVersion {
		if err := recordUnreported(ctx, r, in, obs.Assessment.Lost); err != nil {
			return "", err
		}
	}
	restarted, gone := 0, goneShards{}
	if workflow.GetVersion(ctx, changeRecoverRestartsShards, workflow.DefaultVersion, 1) != workflow.DefaultVersion {
		if obs, restarted, gone, err = restartLostShards(ctx, r, in, obs); err != nil {
			return "", err
		}
	}
	known := obs.Assessment.Known
	byShard := map[int][]guard.Lost{}
	for _, l := range obs.Assessment.Lost {
		if !slices.Contains(gone.shards, l.Shard) {
			byShard[l.Shard] = append(byShard[l.Shard], l)
		}
	}
	closed := ""
	if workflow.GetVersion(ctx, changeRecoverClosesSlots, workflow.DefaultVersion, 1) != workflow.DefaultVersion {
		if obs, closed, err = closeLeftOpen(ctx, r, in, obs, byShard); err != nil {
			return "", err
		}
	}
	if len(byShard) == 0 && len(obs.Assessment.ZoneConflicts) == 0 && restarted == 0 {
		if err := gone.err(); err != nil || closed != "" {
			return closed, err
		}
		return "nothing to recover: every instance is in the cluster", nil
	}
	n := restarted
	for _, sh := range slices.Sorted(maps.Keys(byShard)) {
		for _, l := range byShard[sh] {
			r.Progress.StepsTotal += 6
			if obs, err = recoverOne(ctx, r, in, obs, l); err != nil {
				return "", err
			}
			known = obs.Assessment.Known
			n++
		}
	}
	moved, err := restoreZoneRule(ctx, r, known)
	if err != nil {
		return "", err
	}
	if closed != "" {
		closed = "; " + closed
	}
	return fmt.Sprintf("recovered %d instance(s), %d switchover(s) for the zone rule%s", n, moved, closed), gone.err()
}

// restoreZoneRule relabels the roles and switches over every shard whose
// primary shares a zone with a replica; it returns how many it switched.
func restoreZoneRule(ctx workflow.Context, r *flow.Run, known map[int]guard.Member) (int, error) {
	r.Phase(ctx, "zone-rule", "")
	obs, err := observeGuard(ctx, r, known, "relabel roles and check the zone rule")
	if err != nil {
		return 0, err
	}
	moved := 0
	for _, sh := range obs.Assessment.ZoneConflicts {
		ok, err := fixZone(ctx, r, obs, sh)
		if err != nil {
			return moved, err
		}
		if ok {
			moved++
		}
	}
	if moved > 0 {
		if _, err := observeGuard(ctx, r, known, "relabel roles after the zone fix"); err != nil {
			return moved, err
		}
	}
	return moved, nil
}

// changeRecoverClosesSlots marks histories in which recover closes the
// slots a slot move cut short left open (closeLeftOpen).
const changeRecoverClosesSlots = "recover-closes-open-slots"

// closeLeftOpen closes the slots a slot move cut short left open (its
// workflow terminated while its worker was down; the guardian starts a
// recover when it finds one): each is finished towards the node that holds
// keys of it, else left with its owner (slotmigrate.CloseOpenSlots). It
// runs before any lost instance is brought back: every shard with a loss
// first has its live primary, which takes the place of its lost nodes in
// the slots open towards them. A lost node's ID may be forgotten by the
// recovery, and a node that forgets a node drops the slots it had open
// towards it, which would leave the keys moved there in a slot their node
// does not own. It returns the last observation and what it closed ("" for
// nothing).
func closeLeftOpen(ctx workflow.Context, r *flow.Run, in RecoverInput, obs guardian.Observation, byShard map[int][]guard.Lost) (guardian.Observation, string, error) {
	replaced := map[string]string{}
	for _, sh := range slices.Sorted(maps.Keys(byShard)) {
		var err error
		if obs, err = waitPrimary(ctx, r, in, obs, byShard[sh][0]); err != nil {
			return obs, "", err
		}
		succ := obs.Input.Nodes[obs.Assessment.Primaries[sh]].NodeID
		for _, l := range byShard[sh] {
			if l.NodeID != "" && succ != "" {
				replaced[l.NodeID] = succ
			}
		}
	}
	r.Phase(ctx, "closing-slots", "")
	var res redisops.CloseOpenSlotsResult
	if err := r.Exec(ctx, flow.LongOptions, "close slots a cut-short slot move left open", flow.RedisActs.CloseOpenSlots,
		redisops.CloseOpenSlotsInput{Auth: flow.AuthOf(*obs.Spec), Seeds: obs.LiveAddrs(), Replaced: replaced}, &res); err != nil {
		return obs, "", err
	}
	if len(res.Forward) == 0 && len(res.RolledBack) == 0 {
		return obs, "", nil
	}
	err := r.Record(ctx, &audit.OpenSlotsClosed{OperationID: r.Meta.OperationID, Cluster: r.Meta.ClusterKey(),
		Forward: res.Forward.String(), RolledBack: res.RolledBack.String()})
	return obs, fmt.Sprintf("closed slots left open (forward: %s; rolled back: %s)", orNone(res.Forward), orNone(res.RolledBack)), err
}

func orNone(rs topology.Ranges) string {
	if len(rs) == 0 {
		return "none"
	}
	return rs.String()
}

// changeRecoverAwaitsGoingPod marks histories in which recover lets a lost
// instance's Pod that is shutting down on a Ready node (its redis-server
// already stopped: a graceful deletion, after stepping aside) go first and
// brings the instance back on its volume, instead of force-deleting it
// mid-shutdown and starting it on a new volume, which costs a full resync
// (chaos delete-primary, the recover started 1.5 s after the deletion: full
// redundancy 12.7-13.6 s, the replica's full sync 5.2 s of it).
const changeRecoverAwaitsGoingPod = "recover-awaits-going-pod"

// going says whether ordinal's Pod is being deleted on a Ready node.
func going(obs guardian.Observation, ordinal int) bool {
	return slices.ContainsFunc(obs.Input.Pods, func(p guard.Pod) bool { return p.Ordinal == ordinal && p.Going() })
}

// recoverOne brings one lost instance back and returns a fresh observation:
// find the shard's live primary, free the old identity (volume, node ID)
// when it cannot be reused, recreate the instance, join it as a replica.
func recoverOne(ctx workflow.Context, r *flow.Run, in RecoverInput, obs guardian.Observation, l guard.Lost) (guardian.Observation, error) {
	if workflow.GetVersion(ctx, changeRecoverRestartsLostPrimary, workflow.DefaultVersion, 1) != workflow.DefaultVersion && !observed.StillLost(obs, l) {
		return obs, nil // a lost primary restartPrimary brought back
	}
	c := *obs.Spec
	label := recoveryLabel(l)
	r.Phase(ctx, "recovering", label)
	if l.Rejoin {
		return rejoin(ctx, r, in, obs, l, label)
	}
	if l.ForceDelete && going(obs, l.Ordinal) && workflow.GetVersion(ctx, changeRecoverAwaitsGoingPod, workflow.DefaultVersion, 1) != workflow.DefaultVersion {
		var err error
		if obs, err = awaitGone(ctx, r, obs, func(p guard.Pod) bool { return p.Ordinal == l.Ordinal },
			fmt.Sprintf("wait until %s has shut down", l.Pod)); err != nil {
			return obs, err
		}
		i := slices.IndexFunc(obs.Assessment.Lost, func(x guard.Lost) bool { return x.Ordinal == l.Ordinal })
		if i < 0 {
			return obs, nil // back meanwhile
		}
		l = obs.Assessment.Lost[i]
	}
	if l.ForceDelete {
		if err := r.Exec(ctx, flow.LongOptions, "force-delete "+l.Pod+" (stuck on a node that is not Ready)", guardianActs.ForceDeletePods,
			guardian.ForceDeleteInput{Namespace: c.Namespace, Pods: []string{l.Pod}}, nil); err != nil {
			return obs, err
		}
	}
	obs, err := waitPrimary(ctx, r, in, obs, l)
	if err != nil {
		return obs, err
	}
	// A missing Pod whose volume is there comes back on it, with its node
	// ID (nodes.conf); a Pod stuck on a dead node loses its volume with it;
	// a Pod that came back empty keeps its (empty) volume but not its ID.
	persistent := c.Persistence.Mode != spec.PersistenceNone
	hasVolume := slices.Contains(obs.Volumes, l.Ordinal)
	rc := newRecovery(r, obs, l, persistent && hasVolume && !l.PodExists)
	if err := rc.freeOld(ctx, obs, persistent && (l.ForceDelete || (!l.PodExists && !hasVolume))); err != nil {
		return obs, err
	}
	ready, err := rc.create(ctx, obs)
	if err != nil {
		return obs, err
	}
	if err := rc.join(ctx, obs, ready); err != nil {
		return obs, err
	}
	r.Progress.StepsDone++
	return observeGuard(ctx, r, obs.Assessment.Known, "relabel roles")
}

// rejoin makes a Pod that runs as a primary owning no slot, while its
// shard has a live primary (guard.Lost.Rejoin: a former primary back with
// old keys), that primary's replica again, in place: no Pod or volume is
// touched and its node ID stays. Its keys, every one of a slot another
// primary owns (the copies a full resync would replace), are discarded
// first; a key of a slot no other primary owns stops it.
func rejoin(ctx workflow.Context, r *flow.Run, in RecoverInput, obs guardian.Observation, l guard.Lost, label string) (guardian.Observation, error) {
	obs, err := waitPrimary(ctx, r, in, obs, l)
	if err != nil {
		return obs, err
	}
	var res redisops.AttachReplicasResult
	if err := r.Exec(ctx, flow.LongOptions, fmt.Sprintf("%s, a primary owning no slot, drops its old keys and replicates shard-%d's primary; wait until in sync", label, l.Shard),
		flow.RedisActs.AttachReplicas, redisops.AttachReplicasInput{Auth: flow.AuthOf(*obs.Spec), StepDown: true,
			Pairs: []redisops.ReplicaPair{{Replica: obs.Addr(l.Ordinal), Primary: obs.Addr(obs.Assessment.Primaries[l.Shard])}}}, &res); err != nil {
		return obs, err
	}
	pod, _ := obs.Pod(l.Ordinal)
	if err := recordRecovered(ctx, r, l, pod.Zone, false, ""); err != nil {
		return obs, err
	}
	r.Progress.StepsDone++
	return observeGuard(ctx, r, obs.Assessment.Known, "relabel roles")
}

// waitPrimary waits until the shard of l has a live primary: Redis promotes
// a replica of a lost primary by itself after cluster-node-timeout, except
// one the cluster names without an address or one lost with most of the
// primaries: those are taken over (unelectable). A lost primary no replica
// took the place of within restartPrimaryAfter comes back on its volume
// when it has one (restartPrimary). The wait gives up after PrimaryWait, or
// longer with a long cluster-node-timeout (primaryWait). It returns the last
// observation.
func waitPrimary(ctx workflow.Context, r *flow.Run, in RecoverInput, obs guardian.Observation, l guard.Lost) (guardian.Observation, error) {
	wait := in.PrimaryWait
	if workflow.GetVersion(ctx, changeRecoverNodeTimeout, workflow.DefaultVersion, 1) != workflow.DefaultVersion {
		wait = primaryWait(observed.NodeTimeout(obs.Spec), wait)
	}
	deadline := workflow.Now(ctx).Add(wait)
	ue := newUnelectable(ctx)
	pr := newPrimaryRestart(ctx)
	tg := newGoneTeller(ctx)
	rf := newReplicaFirst(ctx)
	for {
		var err error
		if obs, err = observeGuard(ctx, r, obs.Assessment.Known, fmt.Sprintf("find shard-%d's live primary", l.Shard)); err != nil {
			return obs, err
		}
		if _, ok := obs.Assessment.Primaries[l.Shard]; ok {
			return obs, nil
		}
		if workflow.Now(ctx).After(deadline) {
			return obs, temporal.NewNonRetryableApplicationError(fmt.Sprintf(
				"shard-%d has no live primary after %s: no replica could take over, its data must be restored from a backup", l.Shard, wait), ErrTypeNoPrimary, nil)
		}
		if err := ue.takeOver(ctx, r, obs, l.Shard); err != nil {
			return obs, err
		}
		if err := tg.tell(ctx, r, obs, l.Shard); err != nil {
			return obs, err
		}
		if err := rf.start(ctx, r, obs, l.Shard); err != nil {
			return obs, err
		}
		if lp, ok := pr.due(ctx, obs, l.Shard); ok {
			return restartPrimary(ctx, r, in, obs, lp, pr.why)
		}
		if err := workflow.Sleep(ctx, time.Second); err != nil {
			return obs, err
		}
	}
}

// recovery is the recovery of one lost instance once its shard has a
// primary: volume says whether it comes back on its old volume, forgotten
// is the dead node ID forgotten on the way ("" if none).
type recovery struct {
	r         *flow.Run
	c         spec.Cluster
	auth      redisops.Auth
	l         guard.Lost
	label     string
	inst      topology.Instance
	placement render.Placement
	volume    bool
	forgotten string
}

// newRecovery starts the recovery of l's instance as a replica of its
// shard, on its old volume or not.
func newRecovery(r *flow.Run, obs guardian.Observation, l guard.Lost, volume bool) *recovery {
	c := *obs.Spec
	return &recovery{r: r, c: c, auth: flow.AuthOf(c), l: l, label: recoveryLabel(l), volume: volume,
		inst:      topology.Instance{Ordinal: l.Ordinal, Shard: l.Shard, Role: topology.RoleReplica},
		placement: render.Placement{RequireDistinctZones: len(obs.Zones) >= 1+c.ReplicasPerShard}}
}

// recoveryLabel names l's instance in steps and progress.
func recoveryLabel(l guard.Lost) string {
	return fmt.Sprintf("shard-%d ordinal %d", l.Shard, l.Ordinal)
}

// freeOld drops the old volume (drop) and, when the instance does not come
// back on its volume, forgets its dead node ID on every other node.
func (rc *recovery) freeOld(ctx workflow.Context, obs guardian.Observation, drop bool) error {
	r, c, l := rc.r, rc.c, rc.l
	if drop {
		// A volume on a dead node (or one being deleted) is not reused: the
		// instance comes back as a replica and resyncs from its primary, so
		// its old data is not needed.
		if err := r.Exec(ctx, flow.LongOptions, "drop the old volume of "+rc.label, guardianActs.DropVolume,
			guardian.DropVolumeInput{Namespace: c.Namespace, Cluster: c.Name, Ordinal: l.Ordinal}, nil); err != nil {
			return err
		}
	}
	if !rc.volume && l.NodeID != "" {
		// A new volume means a new node ID: the dead one must go from
		// every node's table before the new node joins.
		var addrs []string
		for _, a := range obs.LiveAddrs() {
			if a != obs.Addr(l.Ordinal) {
				addrs = append(addrs, a)
			}
		}
		if err := r.Exec(ctx, flow.LongOptions, fmt.Sprintf("forget dead node %s on %d nodes", shortID(l.NodeID), len(addrs)), flow.RedisActs.ForgetNodes,
			redisops.ForgetInput{Auth: rc.auth, NodeIDs: []string{l.NodeID}, Addrs: addrs}, nil); err != nil {
			return err
		}
		rc.forgotten = l.NodeID
	}
	return nil
}

// create creates the instance and waits until it is Ready. A kept volume
// that pins the Pod to a node it cannot run on (a local volume on a lost
// node) is given up: the instance starts again on a new volume, which means
// a new node ID, so the old one is forgotten first.
func (rc *recovery) create(ctx workflow.Context, obs guardian.Observation) (map[int]kube.InstanceStatus, error) {
	r, c, l, label := rc.r, rc.c, rc.l, rc.label
	if err := r.Exec(ctx, flow.LongOptions, fmt.Sprintf("create %s (pod %s, %s volume)", label, render.PodName(c.Name, l.Ordinal), volumeWord(rc.volume)),
		flow.KubeActs.EnsureInstances, kube.EnsureInstancesInput{Spec: c, Instances: []topology.Instance{rc.inst}, Placement: rc.placement}, nil); err != nil {
		return nil, err
	}
	ready, err := flow.WaitReady(ctx, r, c, []topology.Instance{rc.inst})
	var app *temporal.ApplicationError
	if err == nil || !rc.volume || !errors.As(err, &app) || app.Type() != kube.ErrTypeUnschedulable {
		return ready, err
	}
	if err := r.Exec(ctx, flow.LongOptions, "delete "+label+" and its volume: the volume cannot be scheduled", flow.KubeActs.DeleteInstances,
		kube.DeleteInstancesInput{Namespace: c.Namespace, Cluster: c.Name, Ordinals: []int{l.Ordinal}, DeleteVolumes: true}, nil); err != nil {
		return nil, err
	}
	if err := r.Exec(ctx, flow.LongOptions, "wait until the old volume of "+label+" is gone", guardianActs.DropVolume,
		guardian.DropVolumeInput{Namespace: c.Namespace, Cluster: c.Name, Ordinal: l.Ordinal}, nil); err != nil {
		return nil, err
	}
	rc.volume = false
	if l.NodeID != "" {
		if err := r.Exec(ctx, flow.LongOptions, fmt.Sprintf("forget dead node %s", shortID(l.NodeID)), flow.RedisActs.ForgetNodes,
			redisops.ForgetInput{Auth: rc.auth, NodeIDs: []string{l.NodeID}, Addrs: obs.LiveAddrs()}, nil); err != nil {
			return nil, err
		}
		rc.forgotten = l.NodeID
	}
	if err := r.Exec(ctx, flow.LongOptions, fmt.Sprintf("create %s again on a new volume", label), flow.KubeActs.EnsureInstances,
		kube.EnsureInstancesInput{Spec: c, Instances: []topology.Instance{rc.inst}, Placement: rc.placement}, nil); err != nil {
		return nil, err
	}
	return flow.WaitReady(ctx, r, c, []topology.Instance{rc.inst})
}

// join meets the new instance with the cluster, makes it replicate the
// shard's primary until in sync, and records InstanceRecovered.
func (rc *recovery) join(ctx workflow.Context, obs guardian.Observation, ready map[int]kube.InstanceStatus) error {
	r, l, label := rc.r, rc.l, rc.label
	if err := rc.meet(ctx, obs, ready); err != nil {
		return err
	}
	primaryAddr := obs.Addr(obs.Assessment.Primaries[l.Shard])
	if err := r.Exec(ctx, flow.LongOptions, fmt.Sprintf("%s replicates shard-%d's primary; wait until in sync", label, l.Shard), flow.RedisActs.AttachReplicas,
		redisops.AttachReplicasInput{Auth: rc.auth, StepDown: true, Pairs: []redisops.ReplicaPair{{Replica: ready[l.Ordinal].Addr(), Primary: primaryAddr}}}, nil); err != nil {
		return err
	}
	return rc.recorded(ctx, ready)
}

// meet meets the new instance with the cluster (CLUSTER MEET from every
// live node: a node that comes back with its ID at a new address is known
// there at once).
func (rc *recovery) meet(ctx workflow.Context, obs guardian.Observation, ready map[int]kube.InstanceStatus) error {
	addrs := append(obs.LiveAddrs(), ready[rc.l.Ordinal].Addr())
	slices.Sort(addrs)
	addrs = slices.Compact(addrs)
	return rc.r.Exec(ctx, flow.LongOptions, fmt.Sprintf("CLUSTER MEET %s with the cluster", rc.label), flow.RedisActs.Meet,
		redisops.MeetInput{Auth: rc.auth, Addrs: addrs}, nil)
}

// recorded records InstanceRecovered.
func (rc *recovery) recorded(ctx workflow.Context, ready map[int]kube.InstanceStatus) error {
	return recordRecovered(ctx, rc.r, rc.l, ready[rc.l.Ordinal].Zone, !rc.volume, rc.forgotten)
}

// recordRecovered records InstanceRecovered for l's instance, now in zone.
func recordRecovered(ctx workflow.Context, r *flow.Run, l guard.Lost, zone string, newVolume bool, forgotten string) error {
	return r.Record(ctx, &audit.InstanceRecovered{OperationID: r.Meta.OperationID, Cluster: r.Meta.ClusterKey(), Shard: l.Shard,
		Ordinal: l.Ordinal, NewVolume: newVolume, ForgottenNodeID: forgotten, Zone: zone})
}

// fixZone switches shard over to a replica that keeps the zone rule, when
// one is in sync; it reports whether it did.
func fixZone(ctx workflow.Context, r *flow.Run, obs guardian.Observation, shard int) (bool, error) {
	po, ok := obs.Assessment.Primaries[shard]
	if !ok {
		return false, nil
	}
	zones := map[int]string{}
	for _, p := range obs.Input.Pods {
		if p.Shard == shard {
			zones[p.Ordinal] = p.Zone
		}
	}
	primary := obs.Input.Nodes[po]
	for _, o := range slices.Sorted(maps.Keys(zones)) {
		n := obs.Input.Nodes[o]
		if o == po || n.Role != topology.RoleReplica || !n.LinkUp || primary.Offset-n.Offset > redisops.DefaultMaxLagBytes {
			continue
		}
		unique := true
		for _, other := range slices.Sorted(maps.Keys(zones)) {
			if other != o && zones[other] == zones[o] {
				unique = false
			}
		}
		if !unique {
			continue
		}
		label := fmt.Sprintf("shard-%d to ordinal %d (zone %s)", shard, o, zones[o])
		if err := r.Exec(ctx, flow.LongOptions, "switch over "+label+" to keep the zone rule", flow.RedisActs.Handover,
			redisops.HandoverInput{Auth: flow.AuthOf(*obs.Spec), ReplicaAddr: obs.Addr(o), Label: label}, nil); err != nil {
			return false, err
		}
		return true, r.Record(ctx, &audit.SwitchedOver{OperationID: r.Meta.OperationID, Cluster: r.Meta.ClusterKey(), Shard: shard, FromOrdinal: po, ToOrdinal: o},
			&audit.RoleChanged{Cluster: r.Meta.ClusterKey(), Ordinal: o, Role: audit.RolePrimary, PreviousRole: audit.RoleReplica},
			&audit.RoleChanged{Cluster: r.Meta.ClusterKey(), Ordinal: po, Role: audit.RoleReplica, PreviousRole: audit.RolePrimary})
	}
	return false, nil
}

func volumeWord(kept bool) string {
	if kept {
		return "its own"
	}
	return "a new"
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
