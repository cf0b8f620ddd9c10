package projection

import (
	"testing"

	"github.com/dayops/dayops/internal/audit"
	"github.com/google/go-cmp/cmp"
)

func TestSlotArithmetic(t *testing.T) {
	for name, tc := range map[string]struct {
		a, b      []audit.SlotRange
		add, diff []audit.SlotRange
	}{
		"disjoint":     {[]audit.SlotRange{{Start: 0, End: 10}}, []audit.SlotRange{{Start: 20, End: 30}}, []audit.SlotRange{{Start: 0, End: 10}, {Start: 20, End: 30}}, []audit.SlotRange{{Start: 0, End: 10}}},
		"adjacent":     {[]audit.SlotRange{{Start: 0, End: 10}}, []audit.SlotRange{{Start: 11, End: 30}}, []audit.SlotRange{{Start: 0, End: 30}}, []audit.SlotRange{{Start: 0, End: 10}}},
		"hole":         {[]audit.SlotRange{{Start: 0, End: 100}}, []audit.SlotRange{{Start: 40, End: 59}}, []audit.SlotRange{{Start: 0, End: 100}}, []audit.SlotRange{{Start: 0, End: 39}, {Start: 60, End: 100}}},
		"cover":        {[]audit.SlotRange{{Start: 5, End: 9}}, []audit.SlotRange{{Start: 0, End: 16383}}, []audit.SlotRange{{Start: 0, End: 16383}}, nil},
		"unsorted":     {[]audit.SlotRange{{Start: 50, End: 60}, {Start: 0, End: 5}}, []audit.SlotRange{{Start: 3, End: 55}}, []audit.SlotRange{{Start: 0, End: 60}}, []audit.SlotRange{{Start: 0, End: 2}, {Start: 56, End: 60}}},
		"empty inputs": {nil, nil, nil, nil},
		"inverted":     {[]audit.SlotRange{{Start: 10, End: 5}}, nil, nil, nil},
	} {
		t.Run(name, func(t *testing.T) {
			if d := cmp.Diff(tc.add, addSlots(tc.a, tc.b)); d != "" {
				t.Errorf("add (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tc.diff, removeSlots(tc.a, tc.b)); d != "" {
				t.Errorf("remove (-want +got):\n%s", d)
			}
		})
	}
}

func TestGiveSlotsKeepsOneOwner(t *testing.T) {
	c := &ClusterState{Shards: map[int]*ShardState{
		0: {ID: 0, Slots: []audit.SlotRange{{Start: 0, End: 8191}}},
		1: {ID: 1, Slots: []audit.SlotRange{{Start: 8192, End: 16383}}},
	}}
	// A migration whose recorded source (2) did not own the slots: they
	// still leave their real owner.
	giveSlots(c, 2, []audit.SlotRange{{Start: 8000, End: 8299}})
	got := map[int][]audit.SlotRange{}
	for id, s := range c.Shards {
		got[id] = s.Slots
	}
	want := map[int][]audit.SlotRange{0: {{Start: 0, End: 7999}}, 1: {{Start: 8300, End: 16383}}, 2: {{Start: 8000, End: 8299}}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("shards (-want +got):\n%s", d)
	}
	if n := c.SlotCount(); n != 16384 {
		t.Errorf("slot count %d, want 16384", n)
	}
}

// FuzzSlotArithmetic checks addSlots/removeSlots against a bitmap of the
// 16384 slots.
func FuzzSlotArithmetic(f *testing.F) {
	f.Add([]byte{0, 10, 5, 20, 30, 40}, []byte{3, 7, 35, 200})
	f.Add([]byte{}, []byte{1, 1})
	f.Add([]byte{200, 100, 0, 255}, []byte{0, 255, 10, 11})
	toRanges := func(b []byte) []audit.SlotRange {
		var rs []audit.SlotRange
		for i := 0; i+1 < len(b); i += 2 {
			rs = append(rs, audit.SlotRange{Start: int(b[i]) * 64, End: int(b[i+1])*64 + int(b[i])%64})
		}
		return rs
	}
	bitmap := func(rs []audit.SlotRange) *[16384]bool {
		var m [16384]bool
		for _, r := range rs {
			for s := r.Start; s <= r.End; s++ {
				m[s] = true
			}
		}
		return &m
	}
	f.Fuzz(func(t *testing.T, ab, bb []byte) {
		a, b := toRanges(ab), toRanges(bb)
		ma, mb := bitmap(a), bitmap(b)
		var wantAdd, wantRemove [16384]bool
		for s := range ma {
			wantAdd[s] = ma[s] || mb[s]
			wantRemove[s] = ma[s] && !mb[s]
		}
		add, rem := addSlots(a, b), removeSlots(a, b)
		if *bitmap(add) != wantAdd {
			t.Fatalf("add %v %v = %v", a, b, add)
		}
		if *bitmap(rem) != wantRemove {
			t.Fatalf("remove %v %v = %v", a, b, rem)
		}
		if n := normalizedOrCopy(rem); len(n) != len(rem) {
			t.Fatalf("remove result not normalized: %v", rem)
		}
	})
}
