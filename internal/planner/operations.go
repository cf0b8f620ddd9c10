package planner

import (
	"fmt"
	"slices"

	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/topology"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// CreateRequest asks for a new cluster. Spec must be defaulted.
type CreateRequest struct {
	Spec spec.Cluster
	// Zones with Ready, schedulable nodes.
	Zones []string
}

// PlanCreate plans a new cluster: per shard a primary and its replicas with
// consecutive ordinals, the even initial slot split, zone placement and hooks.
func PlanCreate(req CreateRequest, lim Limits) (Plan, error) {
	c := req.Spec
	errs := c.Validate(lim.Spec)
	errs = append(errs, execBeforePods(field.NewPath("hooks"), c.Hooks, spec.PreCreate, spec.PreShardAdd, spec.PostShardRemove, spec.PreReplicaAdd, spec.PostReplicaRemove)...)
	pl, ferr := placement(field.NewPath("zones", "allowSharedZones"), req.Zones, 1+c.ReplicasPerShard, c.Zones.AllowSharedZones)
	if ferr != nil {
		errs = append(errs, ferr)
	}
	if len(errs) > 0 {
		return Plan{}, &Rejection{Errs: errs}
	}
	p := Plan{Operation: "create", Placement: pl, Assign: map[int]topology.Ranges{}}
	ordinal := 0
	for s := range c.Shards {
		p.NewShards = append(p.NewShards, s)
		p.CreateInstances = append(p.CreateInstances, topology.Instance{Ordinal: ordinal, Shard: s, Role: topology.RolePrimary})
		ordinal++
		for range c.ReplicasPerShard {
			p.CreateInstances = append(p.CreateInstances, topology.Instance{Ordinal: ordinal, Shard: s, Role: topology.RoleReplica})
			ordinal++
		}
	}
	p.NextOrdinal = ordinal
	for s, r := range topology.EvenSplit(c.Shards) {
		p.Assign[s] = topology.Ranges{r}
	}
	p.Hooks = append(p.Hooks, hookRuns(c.Hooks, spec.PreCreate, p.NewShards, replicasOf(p.CreateInstances))...)
	p.Hooks = append(p.Hooks, hookRuns(c.Hooks, spec.PostCreate, p.NewShards, replicasOf(p.CreateInstances))...)
	p.Summary = fmt.Sprintf("create %s/%s: %d shards x %d replicas (%d instances), %s",
		c.Namespace, c.Name, c.Shards, c.ReplicasPerShard, len(p.CreateInstances), c.Image)
	p.Steps = []string{
		fmt.Sprintf("run %d pre-create hook(s)", countAt(p.Hooks, spec.PreCreate)),
		"write redis.conf ConfigMap and password Secret",
		fmt.Sprintf("create %d instances (ordinals 0-%d) across zones %v%s", len(p.CreateInstances), ordinal-1, pl.Zones, zoneNote(pl)),
		"wait until every instance is Ready",
		"CLUSTER MEET every node and wait until all agree",
	}
	for s := range c.Shards {
		p.Steps = append(p.Steps, fmt.Sprintf("assign slots %s to shard-%d", p.Assign[s], s))
	}
	if c.ReplicasPerShard > 0 {
		p.Steps = append(p.Steps, "attach replicas to their primaries and wait until in sync")
	}
	p.Steps = append(p.Steps, "label roles, create the headless and per-shard primary Services",
		fmt.Sprintf("run %d post-create hook(s)", countAt(p.Hooks, spec.PostCreate)))
	return p, nil
}

// ScaleShardsRequest asks for a new shard count.
type ScaleShardsRequest struct {
	State            State
	Shards           int
	Hooks            []spec.Hook
	AllowSharedZones bool
}

// PlanScaleShards plans a scale-out (new shards with their replicas, then the
// minimal slot moves to even out ownership) or a scale-in (the highest
// numbered shards drain to the others in proportion to free memory, then
// their instances are removed).
func PlanScaleShards(req ScaleShardsRequest, lim Limits) (Plan, error) {
	st := req.State
	cur := st.Shards()
	p := field.NewPath("shards")
	var errs field.ErrorList
	switch {
	case req.Shards < lim.Spec.MinShards || req.Shards > lim.Spec.MaxShards:
		errs = append(errs, field.Invalid(p, req.Shards, fmt.Sprintf("must be between %d and %d", lim.Spec.MinShards, lim.Spec.MaxShards)))
	case req.Shards == len(cur):
		errs = append(errs, field.Invalid(p, req.Shards, fmt.Sprintf("cluster %s already has %d shards", st.Spec.Name, len(cur))))
	}
	if r := admitScale(st, errs, req.Hooks, lim, spec.PreShardAdd, spec.PostShardRemove); r != nil {
		return Plan{}, r
	}
	hooks := append(slices.Clone(st.Spec.Hooks), req.Hooks...)
	layout := topology.Layout{}
	for _, s := range cur {
		layout[shardKey(s)] = st.Slots[s]
	}
	plan := Plan{Operation: "scale-shards", NextOrdinal: st.nextOrdinal()}
	var err error
	if req.Shards > len(cur) {
		err = planShardsOut(&plan, req, layout, hooks)
	} else {
		err = planShardsIn(&plan, req, lim, layout, hooks)
	}
	if err != nil {
		return Plan{}, err
	}
	involved := shardsInvolved(plan.Moves)
	plan.Hooks = append(plan.Hooks, hookRuns(hooks, spec.PreMigrate, involved, nil)...)
	plan.Hooks = append(plan.Hooks, hookRuns(hooks, spec.PostMigrate, involved, nil)...)
	if len(plan.RemoveShards) > 0 {
		plan.Hooks = append(plan.Hooks, hookRuns(hooks, spec.PostShardRemove, plan.RemoveShards, replicasOf(plan.DeleteInstances))...)
	}
	plan.Summary = fmt.Sprintf("scale-shards %s/%s %d -> %d: %d slots move in %d ranges",
		st.Spec.Namespace, st.Spec.Name, len(cur), req.Shards, plan.SlotsMoved, len(plan.Moves))
	plan.Steps = scaleShardsSteps(plan)
	return plan, nil
}

// planShardsOut adds the new shards with their replicas, then the minimal
// slot moves to even out ownership.
func planShardsOut(plan *Plan, req ScaleShardsRequest, layout topology.Layout, hooks []spec.Hook) error {
	st := req.State
	cur := st.Shards()
	pl, ferr := placement(field.NewPath("allowSharedZones"), st.Zones, 1+st.Spec.ReplicasPerShard,
		req.AllowSharedZones || st.Spec.Zones.AllowSharedZones)
	if ferr != nil {
		return &Rejection{Conflict: true, Errs: field.ErrorList{ferr}}
	}
	plan.Placement = pl
	next := slices.Max(cur) + 1
	for i := range req.Shards - len(cur) {
		s := next + i
		plan.NewShards = append(plan.NewShards, s)
		layout[shardKey(s)] = nil
		plan.CreateInstances = append(plan.CreateInstances, topology.Instance{Ordinal: plan.NextOrdinal, Shard: s, Role: topology.RolePrimary})
		plan.NextOrdinal++
		for range st.Spec.ReplicasPerShard {
			plan.CreateInstances = append(plan.CreateInstances, topology.Instance{Ordinal: plan.NextOrdinal, Shard: s, Role: topology.RoleReplica})
			plan.NextOrdinal++
		}
	}
	tp, err := topology.Rebalance(layout, nil)
	if err != nil {
		return &Rejection{Conflict: true, Errs: field.ErrorList{field.InternalError(field.NewPath("cluster", "slots"), err)}}
	}
	plan.Moves = shardMoves(tp)
	plan.SlotsMoved = tp.Slots()
	plan.Hooks = append(plan.Hooks, hookRuns(hooks, spec.PreShardAdd, plan.NewShards, replicasOf(plan.CreateInstances))...)
	plan.Hooks = append(plan.Hooks, hookRuns(hooks, spec.PostShardAdd, plan.NewShards, replicasOf(plan.CreateInstances))...)
	return nil
}

// planShardsIn drains the highest numbered shards to the others in
// proportion to free memory (refused without the headroom, or with a key
// over the migration limit), then removes their instances.
func planShardsIn(plan *Plan, req ScaleShardsRequest, lim Limits, layout topology.Layout, hooks []spec.Hook) error {
	st := req.State
	cur := st.Shards()
	p := field.NewPath("shards")
	plan.RemoveShards = cur[req.Shards:]
	rej := &Rejection{Conflict: true}
	var used, free int64
	freeBy := map[string]int64{}
	for _, s := range cur {
		pr, ok := st.primary(s)
		if !ok {
			rej.Errs = append(rej.Errs, field.Forbidden(field.NewPath("cluster"), fmt.Sprintf("shard-%d has no primary", s)))
			continue
		}
		if slices.Contains(plan.RemoveShards, s) {
			used += pr.UsedMemory
			if lim.MaxKeyBytes > 0 && pr.BiggestKeyBytes > lim.MaxKeyBytes {
				rej.Errs = append(rej.Errs, field.Forbidden(p, fmt.Sprintf(
					"shard-%d holds key %q of %d bytes, over the %d-byte migration limit", s, pr.BiggestKey, pr.BiggestKeyBytes, lim.MaxKeyBytes)))
			}
			continue
		}
		f := max(pr.MaxMemory-pr.UsedMemory, 0)
		freeBy[shardKey(s)] = f
		free += f
	}
	if need := int64(float64(used) * lim.HeadroomFactor); free < need {
		rej.Errs = append(rej.Errs, field.Forbidden(p, fmt.Sprintf(
			"the remaining shards have %d bytes free but need %.1fx the %d bytes used by the departing shards (%d)",
			free, lim.HeadroomFactor, used, need)))
	}
	if len(rej.Errs) > 0 {
		return rej
	}
	leaving := make([]string, len(plan.RemoveShards))
	for i, s := range plan.RemoveShards {
		leaving[i] = shardKey(s)
	}
	tp, err := topology.Drain(layout, leaving, freeBy)
	if err != nil {
		return &Rejection{Conflict: true, Errs: field.ErrorList{field.InternalError(field.NewPath("cluster", "slots"), err)}}
	}
	plan.Moves = shardMoves(tp)
	plan.SlotsMoved = tp.Slots()
	for _, in := range st.Instances {
		if slices.Contains(plan.RemoveShards, in.Shard) {
			plan.DeleteInstances = append(plan.DeleteInstances, in.Instance)
		}
	}
	plan.Hooks = append(plan.Hooks, hookRuns(hooks, spec.PreShardRemove, plan.RemoveShards, replicasOf(plan.DeleteInstances))...)
	return nil
}

// scaleShardsSteps describes a scale-shards plan: new shards, slot moves,
// removed shards.
func scaleShardsSteps(plan Plan) []string {
	var steps []string
	if len(plan.NewShards) > 0 {
		steps = append(steps,
			fmt.Sprintf("create shards %v: %d instances across zones %v%s", plan.NewShards, len(plan.CreateInstances), plan.Placement.Zones, zoneNote(plan.Placement)),
			"meet the new nodes, attach their replicas and wait until in sync, before any slot moves")
	}
	for _, m := range plan.Moves {
		steps = append(steps, m.String())
	}
	if len(plan.RemoveShards) > 0 {
		steps = append(steps,
			fmt.Sprintf("verify shards %v own 0 slots and hold 0 keys", plan.RemoveShards),
			fmt.Sprintf("forget their %d nodes on every node, then delete their pods and volumes", len(plan.DeleteInstances)))
	}
	return steps
}

func shardsInvolved(moves []ShardMove) []int {
	var out []int
	for _, m := range moves {
		for _, s := range []int{m.From, m.To} {
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	slices.Sort(out)
	return out
}

// ScaleReplicasRequest asks for a new replica count per shard.
type ScaleReplicasRequest struct {
	State            State
	ReplicasPerShard int
	Hooks            []spec.Hook
	AllowSharedZones bool
}

// PlanScaleReplicas plans adding replicas (new ordinals per shard) or removing
// them: out-of-sync replicas first, then the highest ordinals, never a
// primary and never a shard's last in-sync replica.
func PlanScaleReplicas(req ScaleReplicasRequest, lim Limits) (Plan, error) {
	st := req.State
	p := field.NewPath("replicasPerShard")
	var errs field.ErrorList
	if req.ReplicasPerShard < 0 || req.ReplicasPerShard > lim.Spec.MaxReplicasPerShard {
		errs = append(errs, field.Invalid(p, req.ReplicasPerShard, fmt.Sprintf("must be between 0 and %d", lim.Spec.MaxReplicasPerShard)))
	}
	if r := admitScale(st, errs, req.Hooks, lim, spec.PreReplicaAdd, spec.PostReplicaRemove); r != nil {
		return Plan{}, r
	}
	hooks := append(slices.Clone(st.Spec.Hooks), req.Hooks...)
	plan := Plan{Operation: "scale-replicas", NextOrdinal: st.nextOrdinal()}
	rej, changed := replicaChanges(&plan, st, req.ReplicasPerShard)
	if !changed {
		rej.Conflict = false
		rej.Errs = append(rej.Errs, field.Invalid(p, req.ReplicasPerShard,
			fmt.Sprintf("every shard of %s already has %d replicas", st.Spec.Name, req.ReplicasPerShard)))
	}
	if len(rej.Errs) > 0 {
		return Plan{}, rej
	}
	if len(plan.CreateInstances) > 0 {
		pl, ferr := placement(field.NewPath("allowSharedZones"), st.Zones, 1+req.ReplicasPerShard,
			req.AllowSharedZones || st.Spec.Zones.AllowSharedZones)
		if ferr != nil {
			return Plan{}, &Rejection{Conflict: true, Errs: field.ErrorList{ferr}}
		}
		plan.Placement = pl
		plan.Hooks = append(plan.Hooks, hookRuns(hooks, spec.PreReplicaAdd, shardsOf(plan.CreateInstances), plan.CreateInstances)...)
		plan.Hooks = append(plan.Hooks, hookRuns(hooks, spec.PostReplicaAdd, shardsOf(plan.CreateInstances), plan.CreateInstances)...)
		plan.Steps = append(plan.Steps,
			fmt.Sprintf("create %d replica(s) across zones %v%s", len(plan.CreateInstances), plan.Placement.Zones, zoneNote(plan.Placement)),
			"attach each to its shard's primary and wait until in sync")
	}
	if len(plan.DeleteInstances) > 0 {
		plan.Hooks = append(plan.Hooks, hookRuns(hooks, spec.PreReplicaRemove, shardsOf(plan.DeleteInstances), plan.DeleteInstances)...)
		plan.Hooks = append(plan.Hooks, hookRuns(hooks, spec.PostReplicaRemove, shardsOf(plan.DeleteInstances), plan.DeleteInstances)...)
		for _, in := range plan.DeleteInstances {
			plan.Steps = append(plan.Steps, fmt.Sprintf("remove replica ordinal %d of shard-%d: forget it everywhere, delete its pod and volume", in.Ordinal, in.Shard))
		}
	}
	plan.Summary = fmt.Sprintf("scale-replicas %s/%s %d -> %d per shard: +%d -%d instances",
		st.Spec.Namespace, st.Spec.Name, st.Spec.ReplicasPerShard, req.ReplicasPerShard, len(plan.CreateInstances), len(plan.DeleteInstances))
	return plan, nil
}

// replicaChanges adds the replicas each shard lacks and picks those to
// remove from each shard with too many: out-of-sync replicas first, then the
// newest, never the last in-sync one (that is refused in the Rejection).
// changed tells whether any shard differs from the request.
func replicaChanges(plan *Plan, st State, want int) (rej *Rejection, changed bool) {
	p := field.NewPath("replicasPerShard")
	rej = &Rejection{Conflict: true}
	for _, s := range st.Shards() {
		reps := st.replicas(s)
		switch {
		case len(reps) < want:
			changed = true
			for range want - len(reps) {
				plan.CreateInstances = append(plan.CreateInstances, topology.Instance{Ordinal: plan.NextOrdinal, Shard: s, Role: topology.RoleReplica})
				plan.NextOrdinal++
			}
		case len(reps) > want:
			changed = true
			// Remove out-of-sync replicas first, then the newest.
			slices.SortFunc(reps, func(a, b Instance) int {
				if a.InSync != b.InSync {
					if !a.InSync {
						return -1
					}
					return 1
				}
				return b.Ordinal - a.Ordinal
			})
			remove := reps[:len(reps)-want]
			keep := reps[len(reps)-want:]
			hadInSync := slices.ContainsFunc(reps, func(r Instance) bool { return r.InSync })
			keepsInSync := slices.ContainsFunc(keep, func(r Instance) bool { return r.InSync })
			if hadInSync && !keepsInSync {
				rej.Errs = append(rej.Errs, field.Forbidden(p, fmt.Sprintf(
					"would remove the last in-sync replica of shard-%d (%s)", s, remove[len(remove)-1].Pod)))
				continue
			}
			for _, r := range remove {
				plan.DeleteInstances = append(plan.DeleteInstances, r.Instance)
			}
		}
	}
	return rej, changed
}

// DeleteRequest asks to delete a cluster.
type DeleteRequest struct {
	State         State
	DeleteVolumes bool
	Hooks         []spec.Hook
}

// PlanDelete plans the removal of a cluster: pre-delete hooks, then every
// instance and object it owns; volumes only when asked.
func PlanDelete(req DeleteRequest, lim Limits) (Plan, error) {
	if errs := spec.ValidateHooks(field.NewPath("hooks"), req.Hooks, lim.Spec); len(errs) > 0 {
		return Plan{}, &Rejection{Errs: errs}
	}
	st := req.State
	hooks := append(slices.Clone(st.Spec.Hooks), req.Hooks...)
	plan := Plan{Operation: "delete", DeleteVolumes: req.DeleteVolumes, NextOrdinal: st.nextOrdinal(), RemoveShards: st.Shards()}
	for _, in := range st.Instances {
		plan.DeleteInstances = append(plan.DeleteInstances, in.Instance)
	}
	plan.Hooks = hookRuns(hooks, spec.PreDelete, plan.RemoveShards, replicasOf(plan.DeleteInstances))
	vol := "keep the data volumes"
	if req.DeleteVolumes {
		vol = "delete the data volumes"
	}
	plan.Summary = fmt.Sprintf("delete %s/%s: %d instances, %s", st.Spec.Namespace, st.Spec.Name, len(plan.DeleteInstances), vol)
	plan.Steps = []string{
		fmt.Sprintf("run %d pre-delete hook(s)", len(plan.Hooks)),
		fmt.Sprintf("delete %d pods, the Services, the ConfigMap and the generated Secret; %s", len(plan.DeleteInstances), vol),
	}
	return plan, nil
}

func countAt(runs []HookRun, p spec.HookPoint) int {
	n := 0
	for _, r := range runs {
		if r.Point == p {
			n++
		}
	}
	return n
}

func zoneNote(pl Placement) string {
	if pl.Warning != "" {
		return " (" + pl.Warning + ")"
	}
	if pl.RequireDistinctZones {
		return ", no two instances of a shard in one zone"
	}
	return ""
}
