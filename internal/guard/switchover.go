package guard

import (
	"fmt"
	"slices"

	"github.com/dayops/dayops/internal/planner"
	"github.com/dayops/dayops/internal/topology"
)

// SwitchoverPlan is a planned handover of one shard's primary role.
type SwitchoverPlan struct {
	Shard       int    `json:"shard"`
	FromOrdinal int    `json:"fromOrdinal"`
	FromPod     string `json:"fromPod"`
	ToOrdinal   int    `json:"toOrdinal"`
	ToPod       string `json:"toPod"`
	ToAddr      string `json:"toAddr"`
	// ZoneRuleKept is false when no in-sync replica keeps the zone rule and
	// the caller allowed that.
	ZoneRuleKept bool     `json:"zoneRuleKept"`
	Steps        []string `json:"steps"`
	Summary      string   `json:"summary"`
}

// PlanSwitchover picks the replica of shard that becomes primary: to when it
// is >= 0 (it must be an in-sync replica of the shard), else the in-sync
// replica that keeps the zone rule (its zone differs from every other
// instance of the shard), lowest ordinal first. A replica that breaks the
// zone rule is refused unless allowSharedZones.
func PlanSwitchover(st planner.State, shard, to int, allowSharedZones bool) (SwitchoverPlan, error) {
	var primary *planner.Instance
	var members []planner.Instance
	for i, in := range st.Instances {
		if in.Shard != shard {
			continue
		}
		members = append(members, in)
		if in.Role == topology.RolePrimary {
			primary = &st.Instances[i]
		}
	}
	if len(members) == 0 {
		return SwitchoverPlan{}, fmt.Errorf("shard-%d does not exist", shard)
	}
	if primary == nil {
		return SwitchoverPlan{}, fmt.Errorf("shard-%d has no live primary: run `dayops cluster recover %s` first", shard, st.Spec.Name)
	}
	keepsZone := func(c planner.Instance) bool {
		for _, o := range members {
			if o.Ordinal != c.Ordinal && o.Zone != "" && o.Zone == c.Zone {
				return false
			}
		}
		return true
	}
	var candidates []planner.Instance
	for _, in := range members {
		if in.Role == topology.RoleReplica && in.InSync && (to < 0 || in.Ordinal == to) {
			candidates = append(candidates, in)
		}
	}
	if to >= 0 && len(candidates) == 0 {
		if !slices.ContainsFunc(members, func(i planner.Instance) bool { return i.Ordinal == to }) {
			return SwitchoverPlan{}, fmt.Errorf("ordinal %d is not an instance of shard-%d", to, shard)
		}
		return SwitchoverPlan{}, fmt.Errorf("ordinal %d is not an in-sync replica of shard-%d", to, shard)
	}
	if len(candidates) == 0 {
		return SwitchoverPlan{}, fmt.Errorf("shard-%d has no in-sync replica to switch over to", shard)
	}
	slices.SortStableFunc(candidates, func(x, y planner.Instance) int {
		kx, ky := keepsZone(x), keepsZone(y)
		switch {
		case kx && !ky:
			return -1
		case ky && !kx:
			return 1
		}
		return x.Ordinal - y.Ordinal
	})
	c := candidates[0]
	p := SwitchoverPlan{Shard: shard, FromOrdinal: primary.Ordinal, FromPod: primary.Pod, ToOrdinal: c.Ordinal, ToPod: c.Pod,
		ToAddr: c.Addr, ZoneRuleKept: keepsZone(c)}
	if !p.ZoneRuleKept && !allowSharedZones {
		return SwitchoverPlan{}, fmt.Errorf("no in-sync replica of shard-%d keeps the zone rule (%s in zone %s shares it): pass allowSharedZones to accept",
			shard, c.Pod, c.Zone)
	}
	p.Summary = fmt.Sprintf("switch shard-%d over from %s to %s", shard, p.FromPod, p.ToPod)
	p.Steps = []string{
		fmt.Sprintf("check %s (zone %s) is an in-sync replica of %s", c.Pod, c.Zone, primary.Pod),
		fmt.Sprintf("CLUSTER FAILOVER on %s: %s holds writes until it has caught up, then hands over", c.Pod, primary.Pod),
		"relabel roles: the shard's primary and read-only Services follow",
	}
	return p, nil
}

// Plan is the switchover as the operation plan the API shows and the
// workflow reports: the same function on both sides, so the dry run's plan
// is the plan that runs.
func (p SwitchoverPlan) Plan() planner.Plan {
	return planner.Plan{Operation: "switchover", Summary: p.Summary, Steps: p.Steps}
}

// Diverged names the fields in which fresh differs from p, and whether any
// of them changes what the switchover does (which replica is promoted, from
// which primary): the wording alone is a detail.
func (p SwitchoverPlan) Diverged(fresh SwitchoverPlan) (fields []string, structural bool) {
	check := func(name string, differ, s bool) {
		if differ {
			fields = append(fields, name)
			structural = structural || s
		}
	}
	check("shard", p.Shard != fresh.Shard, true)
	check("fromOrdinal", p.FromOrdinal != fresh.FromOrdinal, true)
	check("toOrdinal", p.ToOrdinal != fresh.ToOrdinal, true)
	check("toAddr", p.ToAddr != fresh.ToAddr, true)
	check("zoneRuleKept", p.ZoneRuleKept != fresh.ZoneRuleKept, true)
	check("summary", p.Summary != fresh.Summary, false)
	check("steps", !slices.Equal(p.Steps, fresh.Steps), false)
	return fields, structural
}
