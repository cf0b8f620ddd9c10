package guard

import (
	"maps"
	"slices"
	"testing"
)

func TestLostWhole(t *testing.T) {
	base := known(cluster2x1())
	// without removes the Pods (and their redis-servers) of the ordinals.
	without := func(ordinals ...int) Assessment {
		in := cluster2x1()
		in.Known = base
		in.Pods = slices.DeleteFunc(in.Pods, func(p Pod) bool { return slices.Contains(ordinals, p.Ordinal) })
		for _, o := range ordinals {
			delete(in.Nodes, o)
		}
		return Assess(in)
	}
	tests := map[string]struct {
		a    Assessment
		want map[int][]int // shard: lost ordinals
	}{
		"healthy":                        {a: Assess(cluster2x1()), want: map[int][]int{}},
		"a primary lost, its replica up": {a: without(0), want: map[int][]int{}},
		"a replica lost":                 {a: without(2), want: map[int][]int{}},
		"both instances of shard 0":      {a: without(0, 2), want: map[int][]int{0: {0, 2}}},
		"both instances of both shards":  {a: without(0, 1, 2, 3), want: map[int][]int{0: {0, 2}, 1: {1, 3}}},
		"one of each shard":              {a: without(0, 3), want: map[int][]int{}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := map[int][]int{}
			lw := LostWhole(tc.a)
			for _, sh := range slices.Sorted(maps.Keys(lw)) {
				for _, l := range lw[sh] {
					got[sh] = append(got[sh], l.Ordinal)
				}
			}
			if !maps.EqualFunc(got, tc.want, slices.Equal) {
				t.Fatalf("LostWhole = %v, want %v (lost %v, primaries %v)", got, tc.want, tc.a.Lost, tc.a.Primaries)
			}
		})
	}
}

// TestLosingWhole: a shard one of whose instances is lost and whose others
// are all going (Pods being deleted on Ready nodes) is losing every
// instance; a member that stays (not deleting, or on a node that is not
// Ready) or nothing lost yet keeps it out.
func TestLosingWhole(t *testing.T) {
	base := known(cluster2x1())
	// world removes the Pods (and redis-servers) of gone, marks the Pods of
	// deleting as being deleted (their redis-servers still answer) and
	// applies change.
	world := func(gone, deleting []int, change func(*Input)) Input {
		in := cluster2x1()
		in.Known = base
		in.Pods = slices.DeleteFunc(in.Pods, func(p Pod) bool { return slices.Contains(gone, p.Ordinal) })
		for _, o := range gone {
			delete(in.Nodes, o)
		}
		for i, p := range in.Pods {
			in.Pods[i].Deleting = slices.Contains(deleting, p.Ordinal)
		}
		if change != nil {
			change(&in)
		}
		return in
	}
	// promoted: the replica (2) was handed the shard, then went.
	promoted := func(in *Input) {
		n := in.Nodes[0]
		n.Role, n.Slots, n.PrimaryID = R, 0, "C"
		in.Nodes[0] = n
	}
	tests := map[string]struct {
		in   Input
		want []int
	}{
		"healthy":                     {in: cluster2x1()},
		"both going, none lost yet":   {in: world(nil, []int{0, 2}, nil)},
		"replica gone, primary going": {in: world([]int{2}, []int{0}, nil), want: []int{0}},
		"handed to the replica, which went; former going": {in: world([]int{2}, []int{0}, promoted), want: []int{0}},
		"primary gone, replica going":                     {in: world([]int{0}, []int{2}, nil), want: []int{0}},
		"primary gone, replica stays":                     {in: world([]int{0}, nil, nil)},
		"replica gone, primary stays":                     {in: world([]int{2}, nil, nil)},
		"both gone":                                       {in: world([]int{0, 2}, nil, nil), want: []int{0}},
		"both shards":                                     {in: world([]int{0, 3}, []int{1, 2}, nil), want: []int{0, 1}},
		"replica gone, primary deleting on a node not Ready": {in: world([]int{2}, []int{0}, func(in *Input) {
			in.Pods[slices.IndexFunc(in.Pods, func(p Pod) bool { return p.Ordinal == 0 })].NodeReady = false
		})},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			a := Assess(tc.in)
			if got := LosingWhole(a, GoingOrdinals(tc.in.Pods)); !slices.Equal(got, tc.want) {
				t.Fatalf("LosingWhole = %v, want %v (lost %v, primaries %v)", got, tc.want, a.Lost, a.Primaries)
			}
		})
	}
}

// TestLastPrimary: the member a reachable member of a shard without a live
// primary follows is the shard's last primary; none while the shard has a
// live primary or nobody names one.
func TestLastPrimary(t *testing.T) {
	in := cluster2x1()
	in.Known = known(cluster2x1())
	in.Pods = slices.DeleteFunc(in.Pods, func(p Pod) bool { return p.Ordinal == 2 })
	delete(in.Nodes, 2)
	if o, ok := LastPrimary(Assess(in), in.Nodes, 0); ok {
		t.Fatalf("with a live primary: %d", o)
	}
	n := in.Nodes[0]
	n.Role, n.Slots, n.PrimaryID = R, 0, "C" // handed to ordinal 2, which went
	in.Nodes[0] = n
	a := Assess(in)
	if o, ok := LastPrimary(a, in.Nodes, 0); !ok || o != 2 {
		t.Fatalf("LastPrimary = %d, %v; want 2 (primaries %v)", o, ok, a.Primaries)
	}
	k := WithPrimary(a.Known, 2)
	if k[2].Role != P || k[0].Role != R || k[1] != a.Known[1] {
		t.Fatalf("WithPrimary: %v", k)
	}
	if _, ok := LastPrimary(a, map[int]Node{}, 0); ok {
		t.Fatal("nobody answers, yet a last primary")
	}
}
