package topology

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRangesNormalizeAndParse(t *testing.T) {
	tests := map[string]struct {
		in   string
		want Ranges
	}{
		"single":         {"5", Ranges{{5, 5}}},
		"merge adjacent": {"0-10,11-20", Ranges{{0, 20}}},
		"merge overlap":  {"5-9,0-6", Ranges{{0, 9}}},
		"keep gaps":      {"0-1 3-4", Ranges{{0, 1}, {3, 4}}},
		"cluster nodes":  {"0-5460 5461 16383", Ranges{{0, 5461}, {16383, 16383}}},
		"empty":          {"", Ranges{}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			rs, err := ParseRanges(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, rs.Normalize()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	for _, bad := range []string{"x", "5-3", "16384", "-1"} {
		if _, err := ParseRanges(bad); err == nil {
			t.Errorf("ParseRanges(%q): want error", bad)
		}
	}
}

func TestEvenSplit(t *testing.T) {
	got := EvenSplit(3)
	want := []SlotRange{{0, 5461}, {5462, 10922}, {10923, 16383}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func evenLayout(ids ...string) Layout {
	l := Layout{}
	for i, r := range EvenSplit(len(ids)) {
		l[ids[i]] = Ranges{r}
	}
	return l
}

func TestValidate(t *testing.T) {
	tests := map[string]struct {
		l       Layout
		leaving []string
		want    []string
	}{
		"ok": {l: evenLayout("a", "b", "c")},
		"gap": {
			l:    Layout{"a": {{0, 100}}, "b": {{102, 16383}}},
			want: []string{"1 slots not covered: 101"},
		},
		"overlap and leaving": {
			l:       Layout{"a": {{0, 100}}, "b": {{100, 16383}}},
			leaving: []string{"a"},
			want:    []string{"slot 100 owned by a and b", "leaving node a still owns 101 slots"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := tc.l.Validate(tc.leaving...)
			var got []string
			var ie *InvalidError
			if errors.As(err, &ie) {
				got = ie.Problems
			} else if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestRebalance(t *testing.T) {
	tests := map[string]struct {
		l       Layout
		weights map[string]float64
		want    []Move
	}{
		"balanced is a no-op": {l: evenLayout("a", "b", "c")},
		"3 to 4": {
			l:       evenLayout("a", "b", "c"),
			weights: map[string]float64{"d": 1},
			want: []Move{
				{From: "a", To: "d", Range: SlotRange{4096, 5461}},
				{From: "b", To: "d", Range: SlotRange{9558, 10922}},
				{From: "c", To: "d", Range: SlotRange{15019, 16383}},
			},
		},
		"weight 0 empties a node": {
			l:       evenLayout("a", "b"),
			weights: map[string]float64{"b": 0},
			want:    []Move{{From: "b", To: "a", Range: SlotRange{8192, 16383}}},
		},
		"weights 3:1": {
			l:       evenLayout("a", "b"),
			weights: map[string]float64{"a": 3, "b": 1},
			want:    []Move{{From: "b", To: "a", Range: SlotRange{12288, 16383}}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p, err := Rebalance(tc.l, tc.weights)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, p.Moves); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestDrain(t *testing.T) {
	tests := map[string]struct {
		l       Layout
		leaving []string
		free    map[string]int64
		want    map[string]int // slots received
	}{
		"proportional to free memory": {
			l:       evenLayout("a", "b", "c", "d"),
			leaving: []string{"d"},
			free:    map[string]int64{"a": 100, "b": 200, "c": 100},
			want:    map[string]int{"a": 1024, "b": 2048, "c": 1024},
		},
		"no figures: equal": {
			l:       evenLayout("a", "b", "c", "d"),
			leaving: []string{"d"},
			want:    map[string]int{"a": 1366, "b": 1365, "c": 1365},
		},
		"full node takes nothing": {
			l:       evenLayout("a", "b", "c", "d"),
			leaving: []string{"d"},
			free:    map[string]int64{"a": 0, "b": 10, "c": 10},
			want:    map[string]int{"b": 2048, "c": 2048},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			p, err := Drain(tc.l, tc.leaving, tc.free)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int{}
			for _, m := range p.Moves {
				got[m.To] += m.Range.Len()
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			after, err := Apply(tc.l, p)
			if err != nil {
				t.Fatal(err)
			}
			if err := after.Validate(tc.leaving...); err != nil {
				t.Error(err)
			}
		})
	}
}

// randomLayout cuts the slot space at random points and deals the pieces to
// 1..8 nodes at random (some nodes may get nothing).
func randomLayout(r *rand.Rand) Layout {
	n := 1 + r.IntN(8)
	ids := make([]string, n)
	l := Layout{}
	for i := range n {
		ids[i] = string(rune('a' + i))
		l[ids[i]] = nil
	}
	bounds := []int{0}
	for range r.IntN(40) {
		bounds = append(bounds, 1+r.IntN(NumSlots-1))
	}
	bounds = append(RangesOf(bounds).Slots(), NumSlots)
	for i := 0; i+1 < len(bounds); i++ {
		id := ids[r.IntN(n)]
		l[id] = append(l[id], SlotRange{bounds[i], bounds[i+1] - 1}).Normalize()
	}
	return l
}

func TestRebalanceProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 500 {
		l := randomLayout(r)
		w := map[string]float64{}
		for _, n := range l.Nodes() {
			w[n] = float64(r.IntN(4))
		}
		if r.IntN(2) == 0 {
			w["new"] = 1 + float64(r.IntN(3))
		}
		sum := 0.0
		for _, x := range w {
			sum += x
		}
		if sum == 0 {
			w[l.Nodes()[0]] = 1
		}
		p, err := Rebalance(l, w)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		after, err := Apply(l, p)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		var zero []string
		for n, x := range w {
			if x == 0 {
				zero = append(zero, n)
			}
		}
		if err := after.Validate(zero...); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		targets, _ := Targets(w)
		minimal := 0
		for n, c := range l.Counts() {
			minimal += max(0, c-targets[n])
		}
		if p.Slots() != minimal {
			t.Fatalf("case %d: plan moves %d slots, minimum is %d", i, p.Slots(), minimal)
		}
		for n, c := range after.Counts() {
			if c != targets[n] {
				t.Fatalf("case %d: node %s owns %d, target %d", i, n, c, targets[n])
			}
		}
		if again, _ := Rebalance(after, w); len(again.Moves) != 0 {
			t.Fatalf("case %d: rebalancing a balanced layout moves %d", i, again.Slots())
		}
	}
}

func TestDrainProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 500 {
		l := randomLayout(r)
		nodes := l.Nodes()
		if len(nodes) < 2 {
			continue
		}
		var leaving []string
		for _, n := range nodes[1:] {
			if r.IntN(3) == 0 {
				leaving = append(leaving, n)
			}
		}
		free := map[string]int64{}
		for _, n := range nodes {
			free[n] = int64(r.IntN(1000))
		}
		p, err := Drain(l, leaving, free)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		after, err := Apply(l, p)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if err := after.Validate(leaving...); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		moved := 0
		for _, n := range leaving {
			moved += l[n].Count()
		}
		if p.Slots() != moved {
			t.Fatalf("case %d: moved %d, leaving owned %d", i, p.Slots(), moved)
		}
		got := map[string]int{}
		receivers := 0
		for _, m := range p.Moves {
			if got[m.To] == 0 {
				receivers++
			}
			got[m.To] += m.Range.Len()
		}
		withFree := 0
		for _, n := range nodes {
			if !contains(leaving, n) && free[n] > 0 {
				withFree++
			}
		}
		if moved >= 2*withFree && withFree > 1 && receivers < 2 {
			t.Fatalf("case %d: all %d slots went to one node (%v)", i, moved, got)
		}
	}
}

func contains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

func TestClusterValidate(t *testing.T) {
	c := Cluster{Instances: []Instance{
		{Ordinal: 0, Shard: 0, Role: RolePrimary, Zone: "z1"},
		{Ordinal: 1, Shard: 0, Role: RoleReplica, Zone: "z1"},
		{Ordinal: 2, Shard: 1, Role: RoleReplica, Zone: "z2"},
		{Ordinal: 2, Shard: 1, Role: RoleReplica, Zone: "z2"},
	}}
	var ie *InvalidError
	if !errors.As(c.Validate(), &ie) {
		t.Fatal("want InvalidError")
	}
	want := []string{
		"ordinal 2 used twice",
		"shard 0: replica ordinal 1 shares zone z1 with its primary",
		"shard 1 has 0 primaries, want 1",
	}
	if diff := cmp.Diff(want, ie.Problems); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got := c.NextOrdinal(); got != 3 {
		t.Errorf("NextOrdinal = %d, want 3", got)
	}
}
