package observed

import (
	"slices"
	"testing"

	"github.com/dayops/dayops/internal/activities/guardian"
	"github.com/dayops/dayops/internal/guard"
	"github.com/dayops/dayops/internal/topology"
)

// Only members whose Pod and volume are both gone are named, and only the
// managers of the shard's members whose Pods are there but whose
// redis-server does not answer (restarting, perhaps fenced) are told.
func TestGoneNotice(t *testing.T) {
	known := map[int]guard.Member{
		0: {Shard: 0, NodeID: "id0", Role: topology.RolePrimary}, 3: {Shard: 0, NodeID: "id3", Role: topology.RoleReplica},
		1: {Shard: 1, NodeID: "id1", Role: topology.RolePrimary}, 4: {Shard: 1, NodeID: "id4", Role: topology.RoleReplica},
	}
	obs := func(volumes []int, lost ...guard.Lost) guardian.Observation {
		o := guardian.Observation{Volumes: volumes, Assessment: guard.Assessment{Known: known, Lost: lost}}
		o.Input.Nodes = map[int]guard.Node{1: {Reachable: true}, 3: {Reachable: true}, 4: {Reachable: true}} // 0 restarting
		for _, ord := range []int{0, 1, 3, 4} {
			if !slices.ContainsFunc(lost, func(l guard.Lost) bool { return l.Ordinal == ord && !l.PodExists }) {
				o.Input.Pods = append(o.Input.Pods, guard.Pod{Ordinal: ord})
			}
		}
		return o
	}
	replicaGone := guard.Lost{Ordinal: 3, Shard: 0, NodeID: "id3"}
	for _, tc := range []struct {
		name    string
		obs     guardian.Observation
		gone    []string
		targets []int
	}{
		{"Pod and volume gone", obs([]int{0, 1, 4}, replicaGone), []string{"id3"}, []int{0}},
		{"its volume kept: it comes back with its data", obs([]int{0, 1, 3, 4}, replicaGone), nil, []int{0}},
		{"stuck on a node that is not Ready: its volume is there", obs([]int{0, 1, 4}, guard.Lost{Ordinal: 3, Shard: 0, NodeID: "id3", PodExists: true, ForceDelete: true}), nil, []int{0}},
		{"another shard's loss", obs([]int{0, 1, 3}, guard.Lost{Ordinal: 4, Shard: 1, NodeID: "id4"}), nil, []int{0}},
	} {
		gone, targets := GoneNotice(tc.obs, 0)
		if !slices.Equal(gone, tc.gone) || !slices.Equal(targets, tc.targets) {
			t.Errorf("%s: gone %v, told %v; want %v, %v", tc.name, gone, targets, tc.gone, tc.targets)
		}
	}
}
