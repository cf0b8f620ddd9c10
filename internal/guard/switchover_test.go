package guard

import (
	"strings"
	"testing"

	"github.com/dayops/dayops/internal/planner"
	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/topology"
)

func switchState() planner.State {
	st := planner.State{Spec: spec.Cluster{Name: "orders"}}
	add := func(o int, role topology.Role, zone string, inSync bool) {
		st.Instances = append(st.Instances, planner.Instance{Instance: topology.Instance{Ordinal: o, Shard: 0, Role: role, Zone: zone,
			Addr: "10.0.0." + string(rune('0'+o)) + ":6379"}, Pod: "orders-" + string(rune('0'+o)), InSync: inSync})
	}
	add(0, topology.RolePrimary, "a", false)
	add(3, topology.RoleReplica, "a", true) // shares zone a with the primary
	add(6, topology.RoleReplica, "b", true)
	add(9, topology.RoleReplica, "c", false)
	return st
}

func TestPlanSwitchover(t *testing.T) {
	tests := map[string]struct {
		shard, to int
		shared    bool
		wantTo    int
		wantErr   string
	}{
		"picks the in-sync replica that keeps the zone rule": {to: -1, wantTo: 6},
		"explicit target":                        {to: 6, wantTo: 6},
		"a replica not in sync is refused":       {to: 9, wantErr: "not an in-sync replica"},
		"the primary is not a target":            {to: 0, wantErr: "not an in-sync replica"},
		"a target breaking the zone rule":        {to: 3, wantErr: "keeps the zone rule"},
		"... accepted with allowSharedZones":     {to: 3, shared: true, wantTo: 3},
		"unknown shard":                          {shard: 5, to: -1, wantErr: "does not exist"},
		"an ordinal of no instance of the shard": {to: 42, wantErr: "not an instance"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p, err := PlanSwitchover(switchState(), tc.shard, tc.to, tc.shared)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || p.ToOrdinal != tc.wantTo || p.FromOrdinal != 0 {
				t.Fatalf("plan %+v, err %v; want to %d", p, err, tc.wantTo)
			}
		})
	}
}
