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
