package observed

import (
	"fmt"
	"slices"
	"testing"

	"github.com/dayops/dayops/internal/activities/guardian"
	"github.com/dayops/dayops/internal/guard"
	"github.com/dayops/dayops/internal/topology"
)

// world is a cluster of shards (ordinal s primary of shard s, ordinal
// shards+s its replica) whose primaries of the lost shards are gone.
func world(shards int, lost ...int) guardian.Observation {
	in := guard.Input{Shards: shards, ReplicasPerShard: 1, Nodes: map[int]guard.Node{}}
	primaries := map[int]int{}
	for s := range shards {
		r := shards + s
		in.Pods = append(in.Pods, guard.Pod{Ordinal: r, Shard: s, Addr: fmt.Sprintf("10.0.0.%d:6379", r)})
		in.Nodes[r] = guard.Node{Reachable: true, NodeID: fmt.Sprintf("id%d", r), PrimaryID: fmt.Sprintf("id%d", s), Role: topology.RoleReplica, Offset: int64(100 * s)}
		if !slices.Contains(lost, s) {
			in.Pods = append(in.Pods, guard.Pod{Ordinal: s, Shard: s, Addr: fmt.Sprintf("10.0.0.%d:6379", s)})
			in.Nodes[s] = guard.Node{Reachable: true, NodeID: fmt.Sprintf("id%d", s), Role: topology.RolePrimary, Slots: 16384 / shards}
			primaries[s] = s
		}
	}
	return guardian.Observation{Input: in, Assessment: guard.Assessment{Primaries: primaries}}
}

// Redis elects a replica of a lost primary only with a majority of the
// primaries owning slots live, and never one whose primary the cluster
// names noaddr.
func TestUnelectableWhy(t *testing.T) {
	unaddressed := world(3, 0)
	n := unaddressed.Input.Nodes[1]
	n.Unaddressed = []string{"id0"}
	unaddressed.Input.Nodes[1] = n
	slotless := world(4, 0, 1) // shard 3's primary owns no slot
	n = slotless.Input.Nodes[3]
	n.Slots = 0
	slotless.Input.Nodes[3] = n
	for _, tc := range []struct {
		name    string
		obs     guardian.Observation
		replica int
		want    string
	}{
		{"one of three lost", world(3, 0), 3, ""},
		{"two of three lost", world(3, 0, 1), 3, "1 of the 3 primaries owning slots are live, no majority"},
		{"one of two lost", world(2, 0), 2, "1 of the 2 primaries owning slots are live, no majority"},
		{"the one primary lost", world(1, 0), 1, "0 of the 1 primaries owning slots are live, no majority"},
		{"two of five lost", world(5, 0, 1), 5, ""},
		{"three of five lost", world(5, 0, 1, 2), 5, "2 of the 5 primaries owning slots are live, no majority"},
		{"a slotless primary does not count", slotless, 4, "1 of the 3 primaries owning slots are live, no majority"},
		{"named noaddr", unaddressed, 3, "the cluster names its lost primary without an address"},
	} {
		if _, got := Unelectable(tc.obs, tc.replica); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestFurthestReplica(t *testing.T) {
	obs := world(3, 1)
	obs.Input.Pods = append(obs.Input.Pods, guard.Pod{Ordinal: 6, Shard: 1, Addr: "10.0.0.6:6379"}, guard.Pod{Ordinal: 7, Shard: 1, Addr: "10.0.0.7:6379"})
	obs.Input.Nodes[6] = guard.Node{Reachable: true, Role: topology.RoleReplica, Offset: 150}
	obs.Input.Nodes[7] = guard.Node{Reachable: false, Role: topology.RoleReplica, Offset: 900}
	if got, ok := FurthestReplica(obs, 1); !ok || got != 6 {
		t.Errorf("furthest reachable replica of shard 1: %d %v, want 6", got, ok)
	}
	obs.Input.Nodes[6] = guard.Node{Reachable: true, Role: topology.RoleReplica, Offset: 100}
	if got, _ := FurthestReplica(obs, 1); got != 4 {
		t.Errorf("of equals: %d, want the lowest ordinal 4", got)
	}
	if _, ok := FurthestReplica(obs, 9); ok {
		t.Error("a shard with no replica has a furthest one")
	}
}
