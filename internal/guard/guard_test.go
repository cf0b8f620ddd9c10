package guard

import (
	"testing"

	"github.com/dayops/dayops/internal/topology"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

const (
	P = topology.RolePrimary
	R = topology.RoleReplica
)

// cluster2x1 is a healthy 2 x 1 cluster: ordinals 0,1 primaries, 2,3 their
// replicas, zones a/b.
func cluster2x1() Input {
	in := Input{Shards: 2, ReplicasPerShard: 1, Nodes: map[int]Node{}}
	for o, d := range []struct {
		shard int
		role  topology.Role
		zone  string
	}{{0, P, "a"}, {1, P, "b"}, {0, R, "b"}, {1, R, "a"}} {
		id := string(rune('A' + o))
		in.Pods = append(in.Pods, Pod{Ordinal: o, Shard: d.shard, Name: "c-" + string(rune('0'+o)), Addr: "10.0.0.1:6379",
			Node: "n-" + d.zone, NodeReady: true, Zone: d.zone, Role: d.role, NodeID: id, Ready: true})
		n := Node{Reachable: true, NodeID: id, Role: d.role, KnownNodes: 4, LinkUp: d.role == R}
		if d.role == P {
			n.Slots = 8192
		}
		in.Nodes[o] = n
	}
	return in
}

func known(in Input) map[int]Member {
	return Assess(in).Known
}

func TestAssess(t *testing.T) {
	healthy := cluster2x1()
	base := known(healthy)
	// primaryLost: pod 0 (shard 0's primary) is gone and Redis promoted
	// its replica, ordinal 2.
	primaryLost := func() Input {
		in := cluster2x1()
		in.Known = base
		in.Pods = in.Pods[1:]
		delete(in.Nodes, 0)
		n := in.Nodes[2]
		n.Role, n.Slots, n.LinkUp, n.Failing = P, 8192, false, []string{"A"}
		in.Nodes[2] = n
		return in
	}
	tests := map[string]struct {
		in   func() Input
		want Assessment
	}{
		"healthy": {
			in:   func() Input { in := cluster2x1(); in.Known = base; return in },
			want: Assessment{State: StateHealthy, Desired: 4, Ready: 4, Primaries: map[int]int{0: 0, 1: 1}},
		},
		"primary pod force-deleted, replica promoted": {
			in: primaryLost,
			want: Assessment{State: StateDegraded, Desired: 4, Ready: 3,
				Relabel: map[int]topology.Role{2: P}, NodeIDs: map[int]string{2: "C"},
				Primaries: map[int]int{0: 2, 1: 1},
				Lost:      []Lost{{Ordinal: 0, Shard: 0, NodeID: "A", Reason: "pod 0 of shard-0 is gone"}},
				Failovers: []Failover{{Shard: 0, From: 0, To: 2}},
				Reasons: []string{"pod 0 of shard-0 is gone", "shard-0 has 1 of 2 instances in the cluster",
					"c-2 flags 1 node(s) as failing"}},
		},
		"primary lost while a recover runs: Redis's failover is still reported": {
			in: func() Input { in := primaryLost(); in.Operation = "op-recover"; return in },
			want: Assessment{State: StateBusy, Desired: 4, Ready: 3,
				Relabel: map[int]topology.Role{2: P}, NodeIDs: map[int]string{2: "C"},
				Primaries: map[int]int{0: 2, 1: 1},
				Failovers: []Failover{{Shard: 0, From: 0, To: 2}},
				Reasons:   []string{"operation op-recover is running"}},
		},
		"replica pod stuck on a dead node": {
			in: func() Input {
				in := cluster2x1()
				in.Known = base
				in.Pods[3].NodeReady, in.Pods[3].Ready = false, false
				in.Nodes[3] = Node{}
				return in
			},
			want: Assessment{State: StateDegraded, Desired: 4, Ready: 3, Primaries: map[int]int{0: 0, 1: 1},
				Lost: []Lost{{Ordinal: 3, Shard: 1, NodeID: "D", Pod: "c-3", PodExists: true, ForceDelete: true,
					Reason: "pod c-3 is stuck on node n-a, which is not Ready"}},
				Reasons: []string{"pod c-3 is stuck on node n-a, which is not Ready", "shard-1 has 1 of 2 instances in the cluster"}},
		},
		"operation running: relabel only": {
			in: func() Input {
				in := cluster2x1()
				in.Known = base
				in.Operation = "op-1"
				in.Pods = in.Pods[:3]
				in.Pods[0].Role = R
				return in
			},
			want: Assessment{State: StateBusy, Desired: 4, Ready: 3, Primaries: map[int]int{0: 0, 1: 1},
				Relabel: map[int]topology.Role{0: P}, NodeIDs: map[int]string{0: "A"},
				Reasons: []string{"operation op-1 is running"}},
		},
		"replica removed by scale-in is forgotten, not lost": {
			in: func() Input {
				in := cluster2x1()
				in.Known = base
				in.ReplicasPerShard = 0
				in.Pods = in.Pods[:3]
				delete(in.Nodes, 3)
				return in
			},
			want: Assessment{State: StateHealthy, Desired: 2, Ready: 3, Primaries: map[int]int{0: 0, 1: 1}},
		},
		"two primaries claim shard 0: the newer config epoch wins, the old one is relabelled replica": {
			in: func() Input {
				in := cluster2x1()
				in.Known = base
				n := in.Nodes[0]
				n.ConfigEpoch = 1
				in.Nodes[0] = n
				n = in.Nodes[2] // took over with a newer epoch; ordinal 0 has not heard yet
				n.Role, n.Slots, n.LinkUp, n.ConfigEpoch = P, 8192, false, 5
				in.Nodes[2] = n
				return in
			},
			want: Assessment{State: StateDegraded, Desired: 4, Ready: 4,
				Relabel: map[int]topology.Role{0: R, 2: P}, NodeIDs: map[int]string{0: "A", 2: "C"},
				Primaries: map[int]int{0: 2, 1: 1},
				Failovers: []Failover{{Shard: 0, From: 0, To: 2}},
				Reasons:   []string{"c-0 claims shard-0 as primary with config epoch 1, older than c-2's 5"}},
		},
		"two primaries claim shard 0 with equal epochs: the lowest ordinal, as before": {
			in: func() Input {
				in := cluster2x1()
				in.Known = base
				n := in.Nodes[2]
				n.Role, n.Slots, n.LinkUp = P, 8192, false
				in.Nodes[2] = n
				return in
			},
			want: Assessment{State: StateHealthy, Desired: 4, Ready: 4,
				Relabel: map[int]topology.Role{2: P}, NodeIDs: map[int]string{2: "C"},
				Primaries: map[int]int{0: 0, 1: 1}},
		},
		"former primary back owning no slot while its replica is the shard's primary: rejoins in place": {
			in: func() Input {
				in := cluster2x1()
				in.Known = base
				n := in.Nodes[0]
				n.Slots, n.ConfigEpoch = 0, 1
				in.Nodes[0] = n
				n = in.Nodes[2]
				n.Role, n.Slots, n.LinkUp, n.ConfigEpoch = P, 8192, false, 5
				in.Nodes[2] = n
				return in
			},
			want: Assessment{State: StateDegraded, Desired: 4, Ready: 3,
				Relabel: map[int]topology.Role{0: R, 2: P}, NodeIDs: map[int]string{2: "C"},
				Primaries: map[int]int{0: 2, 1: 1},
				Lost: []Lost{{Ordinal: 0, Shard: 0, NodeID: "A", Pod: "c-0", PodExists: true, Rejoin: true,
					Reason: "pod c-0 is back as a primary that owns no slot while c-2 is shard-0's primary"}},
				Failovers: []Failover{{Shard: 0, From: 0, To: 2}},
				Reasons: []string{"pod c-0 is back as a primary that owns no slot while c-2 is shard-0's primary",
					"shard-0 has 1 of 2 instances in the cluster"}},
		},
		"a new shard's primary owns no slot yet: not lost": {
			in: func() Input {
				in := cluster2x1()
				in.Known = base
				n := in.Nodes[1]
				n.Slots = 0
				in.Nodes[1] = n
				return in
			},
			want: Assessment{State: StateDegraded, Desired: 4, Ready: 3, Primaries: map[int]int{0: 0},
				Reasons: []string{"shard-1 has no reachable primary", "shard-1 has 1 of 2 instances in the cluster", "c-1 is not part of the cluster yet"}},
		},
		"zone conflict": {
			in: func() Input {
				in := cluster2x1()
				in.Known = base
				in.Pods[2].Zone = "a"
				return in
			},
			want: Assessment{State: StateDegraded, Desired: 4, Ready: 4, Primaries: map[int]int{0: 0, 1: 1}, ZoneConflicts: []int{0},
				Reasons: []string{"shard-0: primary c-0 shares zone a with replica c-2"}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := Assess(tc.in())
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty(), cmpopts.IgnoreFields(Assessment{}, "Known")); diff != "" {
				t.Errorf("Assess (-want +got):\n%s", diff)
			}
		})
	}
}

func TestKnownSurvivesLoss(t *testing.T) {
	in := cluster2x1()
	in.Known = known(in)
	in.Pods = in.Pods[:3]
	delete(in.Nodes, 3)
	a := Assess(in)
	if m, ok := a.Known[3]; !ok || m.Shard != 1 || m.NodeID != "D" {
		t.Fatalf("ordinal 3 forgotten: %+v", a.Known)
	}
	// A failover is reported once.
	in = cluster2x1()
	in.Known = known(in)
	in.Pods = in.Pods[1:]
	delete(in.Nodes, 0)
	n := in.Nodes[2]
	n.Role, n.Slots = P, 8192
	in.Nodes[2] = n
	first := Assess(in)
	in.Known = first.Known
	if again := Assess(in); len(first.Failovers) != 1 || len(again.Failovers) != 0 {
		t.Fatalf("failovers: first %v, then %v", first.Failovers, again.Failovers)
	}
	// A stale primary (an older config epoch than its shard's primary) is
	// remembered as a replica: the failover is reported once, not at every
	// observation while it still claims the shard.
	in = cluster2x1()
	in.Known = known(in)
	n = in.Nodes[2]
	n.Role, n.Slots, n.ConfigEpoch = P, 8192, 7
	in.Nodes[2] = n
	first = Assess(in)
	in.Known = first.Known
	if again := Assess(in); len(first.Failovers) != 1 || len(again.Failovers) != 0 || first.Known[0].Role != R {
		t.Fatalf("stale primary: failovers first %v, then %v; remembered %+v", first.Failovers, again.Failovers, first.Known[0])
	}
	// An orphan volume is found by a guardian that never saw the Pod.
	in = cluster2x1()
	in.Pods = in.Pods[:3]
	delete(in.Nodes, 3)
	in.Orphans = map[int]int{3: 1}
	if a := Assess(in); len(a.Lost) != 1 || a.Lost[0].Ordinal != 3 {
		t.Fatalf("orphan not lost: %+v", a.Lost)
	}
}
