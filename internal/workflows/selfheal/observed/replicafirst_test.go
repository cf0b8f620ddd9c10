package observed

import (
	"testing"

	"github.com/dayops/dayops/internal/activities/guardian"
	"github.com/dayops/dayops/internal/guard"
	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/topology"
)

// A lost replica comes back before its shard has a primary only on its
// volume, and only while the shard's primary restarts in its Pod.
func TestReplicaFirst(t *testing.T) {
	known := map[int]guard.Member{0: {Shard: 0, Role: topology.RolePrimary}, 3: {Shard: 0, Role: topology.RoleReplica},
		1: {Shard: 1, Role: topology.RolePrimary}, 4: {Shard: 1, Role: topology.RoleReplica}}
	persistent := &spec.Cluster{Persistence: spec.Persistence{Mode: spec.PersistenceAOF}}
	world := func(c *spec.Cluster, pods []int, reachable []int, primaries map[int]int) guardian.Observation {
		o := guardian.Observation{Spec: c, Volumes: []int{0, 1, 3, 4}, Assessment: guard.Assessment{Known: known, Primaries: primaries}}
		o.Input.Nodes = map[int]guard.Node{}
		for _, p := range pods {
			o.Input.Pods = append(o.Input.Pods, guard.Pod{Ordinal: p})
		}
		for _, n := range reachable {
			o.Input.Nodes[n] = guard.Node{Reachable: true}
		}
		return o
	}
	replica := guard.Lost{Ordinal: 3, Shard: 0}
	restarting := world(persistent, []int{0, 1, 4}, []int{1, 4}, map[int]int{1: 1})
	noVolume := restarting
	noVolume.Volumes = []int{0, 1, 4}
	stuck := restarting
	stuck.Assessment.Lost = []guard.Lost{{Ordinal: 0, Shard: 0, PodExists: true, ForceDelete: true}, replica}
	for _, tc := range []struct {
		name string
		obs  guardian.Observation
		l    guard.Lost
		want bool
	}{
		{"the primary restarts in its Pod", restarting, replica, true},
		{"the primary serves", world(persistent, []int{0, 1, 4}, []int{0, 1, 4}, map[int]int{0: 0, 1: 1}), replica, false},
		{"the primary's Pod is gone too", world(persistent, []int{1, 4}, []int{1, 4}, map[int]int{1: 1}), replica, false},
		{"no volume: it comes back empty", noVolume, replica, false},
		{"the primary's Pod is stuck on a node that is not Ready: not restarting", stuck, replica, false},
		{"persistence none", world(&spec.Cluster{Persistence: spec.Persistence{Mode: spec.PersistenceNone}}, []int{0, 1, 4}, []int{1, 4}, map[int]int{1: 1}), replica, false},
		{"its Pod stuck on a node that is not Ready", restarting, guard.Lost{Ordinal: 3, Shard: 0, PodExists: true, ForceDelete: true}, false},
		{"the lost one is the primary", restarting, guard.Lost{Ordinal: 0, Shard: 0}, false},
	} {
		if got := ReplicaFirst(tc.obs, tc.l); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
