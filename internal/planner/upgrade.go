package planner

import (
	"fmt"
	"slices"
	"strings"

	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/topology"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// UpgradeRequest asks to change the image and/or redis.conf of every instance
// of an observed cluster.
type UpgradeRequest struct {
	State State
	// Upgrade must be defaulted (spec.Upgrade.Default).
	Upgrade spec.Upgrade
	// Hooks are the request's hooks, run in addition to the cluster's (user
	// gates are hooks at point upgrade-gate).
	Hooks []spec.Hook
	// UpToDate tells, by ordinal, which instances already run the target
	// (their Pod's spec hash is the target's). The caller computes it: the
	// hash belongs to the Kubernetes object builders, not to planning.
	UpToDate map[int]bool
}

// UpgradePlan is the upgrade-specific part of a plan, carried into the
// workflow.
type UpgradePlan struct {
	// Target is the spec every instance ends up with; Previous is the spec
	// a rollback returns to.
	Target   spec.Cluster `json:"target"`
	Previous spec.Cluster `json:"previous"`
	// Canary shards go first, alone; Batches follow in order, the shards of
	// one batch at once (Upgrade.Concurrency per batch).
	Canary  []int   `json:"canary"`
	Batches [][]int `json:"batches,omitempty"`
	// Downtime lists the shards without a replica whose primary restarts in
	// place (the request accepted it).
	Downtime  []int     `json:"downtime,omitempty"`
	Placement Placement `json:"placement"`
	// Instances is the number of instances that change.
	Instances int `json:"instances"`
}

// Shards returns every shard of the plan in upgrade order.
func (p UpgradePlan) Shards() []int {
	out := slices.Clone(p.Canary)
	for _, b := range p.Batches {
		out = append(out, b...)
	}
	return out
}

// PlanUpgrade plans a canary rolling upgrade: per shard the replicas one at a
// time, a graceful handover (CLUSTER FAILOVER) to an upgraded in-sync
// replica, then the old primary; canary shards first, the rest in batches of
// Concurrency shards. A shard without a replica is refused unless the request
// accepts downtime.
func PlanUpgrade(req UpgradeRequest, lim Limits) (Plan, UpgradePlan, error) {
	st, u := req.State, req.Upgrade
	prev := st.Spec
	target, err := validateUpgrade(req, lim)
	if err != nil {
		return Plan{}, UpgradePlan{}, err
	}
	stale := 0
	for _, in := range st.Instances {
		if !req.UpToDate[in.Ordinal] {
			stale++
		}
	}
	if stale == 0 && target.Image == prev.Image && equalConfig(target.Config, prev.Config) {
		p := field.NewPath("image")
		if u.Image == "" {
			p = field.NewPath("config")
		}
		return Plan{}, UpgradePlan{}, &Rejection{Errs: field.ErrorList{field.Invalid(p, u.Image,
			fmt.Sprintf("every instance of %s already runs %s with this configuration", prev.Name, prev.Image))}}
	}
	if r := healthRejection(st.Health, st.Spec.Name); r != nil {
		return Plan{}, UpgradePlan{}, r
	}
	shards := st.Shards()
	maxPerShard := 1
	for _, s := range shards {
		maxPerShard = max(maxPerShard, 1+len(st.replicas(s)))
	}
	pl, ferr := placement(field.NewPath("zones", "allowSharedZones"), st.Zones, maxPerShard, prev.Zones.AllowSharedZones)
	if ferr != nil {
		return Plan{}, UpgradePlan{}, &Rejection{Conflict: true, Errs: field.ErrorList{ferr}}
	}
	up := UpgradePlan{Target: target, Previous: prev, Placement: pl, Instances: stale}
	if err := up.order(st, u); err != nil {
		return Plan{}, UpgradePlan{}, err
	}
	hooks := append(slices.Clone(st.Spec.Hooks), req.Hooks...)
	plan := Plan{Operation: "upgrade", Placement: pl, NextOrdinal: st.nextOrdinal()}
	plan.Hooks = hookRuns(hooks, spec.UpgradeGate, shards, nil)
	plan.Summary = fmt.Sprintf("upgrade %s/%s: %s; %d of %d instances change; canary %s", prev.Namespace, prev.Name, describeChange(prev, target),
		stale, len(st.Instances), shardList(up.Canary))
	if len(up.Downtime) > 0 {
		plan.Summary += fmt.Sprintf("; DOWNTIME accepted for %s (no replica)", shardList(up.Downtime))
	}
	plan.Steps = upgradeSteps(req, up, len(plan.Hooks))
	return plan, up, nil
}

// validateUpgrade checks the request and returns the target spec.
func validateUpgrade(req UpgradeRequest, lim Limits) (spec.Cluster, error) {
	st, u := req.State, req.Upgrade
	errs := u.Validate()
	errs = append(errs, spec.ValidateHooks(field.NewPath("hooks"), req.Hooks, lim.Spec)...)
	if len(errs) > 0 {
		return spec.Cluster{}, &Rejection{Errs: errs}
	}
	prev := st.Spec
	target := u.Apply(prev)
	// Only the fields the request changes can be wrong in the target; report
	// them under the request's names (image, config[...]).
	for _, e := range target.Validate(lim.Spec) {
		if strings.HasPrefix(e.Field, "image") || strings.HasPrefix(e.Field, "config") {
			errs = append(errs, e)
		}
	}
	if prev.Persistence.Mode == spec.PersistenceNone {
		errs = append(errs, field.Forbidden(field.NewPath("persistence", "mode"),
			"the cluster keeps no data on volumes (persistence none): a recreated instance would come back empty; it cannot be upgraded in place"))
	}
	shards := st.Shards()
	for i, s := range u.Canary.Shards {
		if !slices.Contains(shards, s) {
			errs = append(errs, field.Invalid(field.NewPath("canary", "shards").Index(i), s,
				fmt.Sprintf("shard-%d does not exist (shards: %v)", s, shards)))
		}
	}
	if len(errs) > 0 {
		return spec.Cluster{}, &Rejection{Errs: errs}
	}
	return target, nil
}

// order fills the shards that go down without a handover (refusing them
// unless the request accepts downtime), the canary shards and the batches of
// the rest.
func (up *UpgradePlan) order(st State, u spec.Upgrade) error {
	shards := st.Shards()
	var downtime field.ErrorList
	for _, s := range shards {
		if len(st.replicas(s)) > 0 {
			continue
		}
		if !u.AcceptDowntime {
			downtime = append(downtime, field.Forbidden(field.NewPath("acceptDowntime"), fmt.Sprintf(
				"shard-%d has no replica: its primary would restart without a handover and its slots %s would be unavailable meanwhile; add a replica first or set acceptDowntime",
				s, st.Slots[s])))
			continue
		}
		up.Downtime = append(up.Downtime, s)
	}
	if len(downtime) > 0 {
		return &Rejection{Conflict: true, Errs: downtime}
	}
	up.Canary = slices.Clone(u.Canary.Shards)
	if len(up.Canary) == 0 && len(shards) > 0 {
		up.Canary = []int{shards[0]}
	}
	var rest []int
	for _, s := range shards {
		if !slices.Contains(up.Canary, s) {
			rest = append(rest, s)
		}
	}
	for len(rest) > 0 {
		n := min(u.Concurrency, len(rest))
		up.Batches = append(up.Batches, rest[:n])
		rest = rest[n:]
	}
	return nil
}

// upgradeSteps describes the upgrade's steps in order: canary shards, bake,
// approval, the batches, the end; hooks is the number of user gates.
func upgradeSteps(req UpgradeRequest, up UpgradePlan, hooks int) []string {
	st, u := req.State, req.Upgrade
	describe := func(s int) string {
		steps, err := ShardSteps(st.shardInstances(s), req.UpToDate, up.Placement.RequireDistinctZones, slices.Contains(up.Downtime, s))
		if err != nil {
			return fmt.Sprintf("shard-%d: %v", s, err)
		}
		if len(steps) == 0 {
			return fmt.Sprintf("shard-%d: already up to date", s)
		}
		parts := make([]string, len(steps))
		for i, st := range steps {
			parts[i] = st.String()
		}
		return fmt.Sprintf("shard-%d: %s", s, strings.Join(parts, "; then "))
	}
	gate := fmt.Sprintf("health gate: cluster_state ok, all nodes connected, replica links up and lag <= %d bytes, no pod restart, probe errors <= %.2f%% and p99 <= %s",
		*u.Gate.MaxLagBytes, *u.Gate.MaxErrorRate*100, u.Gate.MaxLatency.Duration)
	if hooks > 0 {
		gate += fmt.Sprintf(", %d user gate(s)", hooks)
	}
	steps := []string{"record the target and previous spec on the cluster's ConfigMap (for rollback)"}
	for _, s := range up.Canary {
		steps = append(steps, "canary "+describe(s))
	}
	steps = append(steps, fmt.Sprintf("bake %s, evaluating the %s every %s", u.Bake.Duration, gate, u.Gate.Interval.Duration))
	if u.AutoApprove {
		steps = append(steps, "continue without waiting for approval (autoApprove)")
	} else {
		steps = append(steps, "wait for approval (update approve) or abort (update abort)")
	}
	for _, b := range up.Batches {
		for _, s := range b {
			steps = append(steps, describe(s))
		}
		if len(b) > 1 {
			steps[len(steps)-1] += fmt.Sprintf(" (with %s at once)", shardList(b[:len(b)-1]))
		}
		steps = append(steps, "evaluate the health gate once")
	}
	return append(steps, "record the target spec as the cluster's spec",
		"on a failed gate or an abort: return every changed instance to the previous spec the same way, last shard first, and end rolled back")
}

// UpgradeStepKind names one step of a shard's upgrade.
type UpgradeStepKind string

// Upgrade step kinds.
const (
	// StepRecreate recreates an instance's Pod on its volume with the target
	// spec (a replica, or an old primary after its handover).
	StepRecreate UpgradeStepKind = "recreate"
	// StepHandover is a graceful CLUSTER FAILOVER to an upgraded replica.
	StepHandover UpgradeStepKind = "handover"
	// StepRestartPrimary recreates a primary that has no replica (downtime).
	StepRestartPrimary UpgradeStepKind = "restart-primary"
)

// UpgradeStep is one step on one instance.
type UpgradeStep struct {
	Kind    UpgradeStepKind `json:"kind"`
	Ordinal int             `json:"ordinal"`
	// To is the replica a handover promotes; -1 when it is not known yet
	// (no replica is upgraded yet).
	To int `json:"to,omitempty"`
	// Role is the role the instance has when it is recreated.
	Role topology.Role `json:"role,omitempty"`
}

func (s UpgradeStep) String() string {
	switch s.Kind {
	case StepHandover:
		if s.To < 0 {
			return fmt.Sprintf("hand primary ordinal %d over (CLUSTER FAILOVER) to an upgraded in-sync replica", s.Ordinal)
		}
		return fmt.Sprintf("hand primary ordinal %d over (CLUSTER FAILOVER) to ordinal %d", s.Ordinal, s.To)
	case StepRestartPrimary:
		return fmt.Sprintf("restart primary ordinal %d in place (no replica: downtime)", s.Ordinal)
	default:
		return fmt.Sprintf("recreate %s ordinal %d on its volume and wait until in sync", s.Role, s.Ordinal)
	}
}

// ShardSteps is what remains to bring one shard to the target, from its live
// instances (roles as Redis says, zones, readiness, sync) and which of them
// already run the target. Replicas go first, one at a time; then a handover
// to an upgraded replica in a zone no other instance of the shard uses (when
// requireDistinctZones, no other replica is acceptable), preferring one in
// sync; then the old primary. A shard whose primary has no replica gets a
// restart in place only when downtime is accepted. Workflows call it again
// after every step, so each decision uses the live state.
func ShardSteps(instances []Instance, upToDate map[int]bool, requireDistinctZones, acceptDowntime bool) ([]UpgradeStep, error) {
	var primary *Instance
	var replicas []Instance
	for i := range instances {
		switch instances[i].Role {
		case topology.RolePrimary:
			if primary != nil {
				return nil, fmt.Errorf("two primaries (ordinals %d and %d): roles are changing, observe again", primary.Ordinal, instances[i].Ordinal)
			}
			primary = &instances[i]
		default:
			replicas = append(replicas, instances[i])
		}
	}
	if primary == nil {
		return nil, fmt.Errorf("no primary: the shard must have one before it is upgraded")
	}
	slices.SortFunc(replicas, func(a, b Instance) int { return a.Ordinal - b.Ordinal })
	var steps []UpgradeStep
	for _, r := range replicas {
		if !upToDate[r.Ordinal] {
			steps = append(steps, UpgradeStep{Kind: StepRecreate, Ordinal: r.Ordinal, Role: topology.RoleReplica})
		}
	}
	if upToDate[primary.Ordinal] {
		return steps, nil
	}
	if len(replicas) == 0 {
		if !acceptDowntime {
			return nil, fmt.Errorf("primary ordinal %d has no replica to hand over to (downtime not accepted)", primary.Ordinal)
		}
		return append(steps, UpgradeStep{Kind: StepRestartPrimary, Ordinal: primary.Ordinal, Role: topology.RolePrimary}), nil
	}
	to := -1
	if len(steps) == 0 {
		c, err := handoverTarget(*primary, replicas, upToDate, requireDistinctZones)
		if err != nil {
			return nil, err
		}
		to = c.Ordinal
	}
	return append(steps,
		UpgradeStep{Kind: StepHandover, Ordinal: primary.Ordinal, To: to},
		UpgradeStep{Kind: StepRecreate, Ordinal: primary.Ordinal, Role: topology.RoleReplica}), nil
}

// handoverTarget picks the replica to promote among upgraded, Ready replicas.
func handoverTarget(primary Instance, replicas []Instance, upToDate map[int]bool, requireDistinctZones bool) (Instance, error) {
	zoneCount := map[string]int{primary.Zone: 1}
	for _, r := range replicas {
		zoneCount[r.Zone]++
	}
	type cand struct {
		Instance
		ownZone bool
	}
	var cands []cand
	for _, r := range replicas {
		if !upToDate[r.Ordinal] || !r.Ready {
			continue
		}
		own := r.Zone != "" && zoneCount[r.Zone] == 1
		if requireDistinctZones && !own {
			continue
		}
		cands = append(cands, cand{r, own})
	}
	if len(cands) == 0 {
		if requireDistinctZones {
			return Instance{}, fmt.Errorf("no upgraded, ready replica of primary ordinal %d is alone in its zone: a handover would break the zone rule", primary.Ordinal)
		}
		return Instance{}, fmt.Errorf("no upgraded, ready replica of primary ordinal %d", primary.Ordinal)
	}
	slices.SortStableFunc(cands, func(a, b cand) int {
		switch {
		case a.ownZone != b.ownZone:
			return boolOrder(a.ownZone)
		case a.InSync != b.InSync:
			return boolOrder(a.InSync)
		}
		return a.Ordinal - b.Ordinal
	})
	return cands[0].Instance, nil
}

func boolOrder(first bool) int {
	if first {
		return -1
	}
	return 1
}

func (s State) shardInstances(shard int) []Instance {
	var out []Instance
	for _, in := range s.Instances {
		if in.Shard == shard {
			out = append(out, in)
		}
	}
	return out
}

// ShardInstances returns the instances of one shard.
func (s State) ShardInstances(shard int) []Instance { return s.shardInstances(shard) }

func equalConfig(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func describeChange(prev, target spec.Cluster) string {
	var parts []string
	if prev.Image != target.Image {
		parts = append(parts, fmt.Sprintf("image %s -> %s", prev.Image, target.Image))
	}
	keys := map[string]bool{}
	for k := range prev.Config {
		keys[k] = true
	}
	for k := range target.Config {
		keys[k] = true
	}
	var names []string
	for k := range keys {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		o, hadO := prev.Config[k]
		n, hasN := target.Config[k]
		switch {
		case hadO && !hasN:
			parts = append(parts, fmt.Sprintf("config %s removed", k))
		case !hadO && hasN:
			parts = append(parts, fmt.Sprintf("config %s=%s", k, n))
		case o != n:
			parts = append(parts, fmt.Sprintf("config %s %s -> %s", k, o, n))
		}
	}
	if len(parts) == 0 {
		return fmt.Sprintf("resume: %s", target.Image)
	}
	return strings.Join(parts, ", ")
}

func shardList(shards []int) string {
	parts := make([]string, len(shards))
	for i, s := range shards {
		parts[i] = fmt.Sprintf("shard-%d", s)
	}
	return strings.Join(parts, ", ")
}
