package audit

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSlotArithmetic(t *testing.T) {
	for name, tc := range map[string]struct {
		a, b      []SlotRange
		add, diff []SlotRange
	}{
		"disjoint":     {[]SlotRange{{0, 10}}, []SlotRange{{20, 30}}, []SlotRange{{0, 10}, {20, 30}}, []SlotRange{{0, 10}}},
		"adjacent":     {[]SlotRange{{0, 10}}, []SlotRange{{11, 30}}, []SlotRange{{0, 30}}, []SlotRange{{0, 10}}},
		"hole":         {[]SlotRange{{0, 100}}, []SlotRange{{40, 59}}, []SlotRange{{0, 100}}, []SlotRange{{0, 39}, {60, 100}}},
		"cover":        {[]SlotRange{{5, 9}}, []SlotRange{{0, 16383}}, []SlotRange{{0, 16383}}, nil},
		"unsorted":     {[]SlotRange{{50, 60}, {0, 5}}, []SlotRange{{3, 55}}, []SlotRange{{0, 60}}, []SlotRange{{0, 2}, {56, 60}}},
		"empty inputs": {nil, nil, nil, nil},
		"inverted":     {[]SlotRange{{10, 5}}, nil, nil, nil},
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
		0: {ID: 0, Slots: []SlotRange{{0, 8191}}},
		1: {ID: 1, Slots: []SlotRange{{8192, 16383}}},
	}}
	// A migration whose recorded source (2) did not own the slots: they
	// still leave their real owner.
	c.giveSlots(2, []SlotRange{{8000, 8299}})
	got := map[int][]SlotRange{}
	for id, s := range c.Shards {
		got[id] = s.Slots
	}
	want := map[int][]SlotRange{0: {{0, 7999}}, 1: {{8300, 16383}}, 2: {{8000, 8299}}}
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
	toRanges := func(b []byte) []SlotRange {
		var rs []SlotRange
		for i := 0; i+1 < len(b); i += 2 {
			rs = append(rs, SlotRange{int(b[i]) * 64, int(b[i+1])*64 + int(b[i])%64})
		}
		return rs
	}
	bitmap := func(rs []SlotRange) *[16384]bool {
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
