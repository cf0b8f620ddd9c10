package planner

import (
	"slices"
	"testing"

	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/topology"
)

func TestDiff(t *testing.T) {
	base := Plan{Operation: "scale-shards", Summary: "3 -> 4", Steps: []string{"a"}, NextOrdinal: 8,
		CreateInstances: []topology.Instance{{Ordinal: 6, Shard: 3, Role: topology.RolePrimary}},
		Moves:           []ShardMove{{From: 0, To: 3, Range: topology.SlotRange{Start: 0, End: 99}}}, SlotsMoved: 100}
	for _, tc := range []struct {
		name       string
		change     func(*Plan)
		fields     []string
		structural bool
	}{
		{"equal", func(*Plan) {}, nil, false},
		{"nil and empty slices are equal", func(p *Plan) { p.Hooks = []HookRun{} }, nil, false},
		{"moves only", func(p *Plan) { p.Moves[0].Range.End, p.SlotsMoved = 120, 121 }, []string{"moves", "slotsMoved"}, false},
		{"ordinals", func(p *Plan) { p.NextOrdinal = 9 }, []string{"nextOrdinal"}, true},
		{"instances", func(p *Plan) { p.CreateInstances[0].Ordinal = 7 }, []string{"createInstances"}, true},
		{"zone rule", func(p *Plan) { p.Placement.RequireDistinctZones = true }, []string{"placement.requireDistinctZones"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fresh := base
			fresh.CreateInstances = slices.Clone(base.CreateInstances)
			fresh.Moves = slices.Clone(base.Moves)
			tc.change(&fresh)
			d := Diff(base, fresh)
			if !slices.Equal(d.Fields, tc.fields) || d.Structural != tc.structural {
				t.Errorf("Diff = %+v, want fields %v structural %v", d, tc.fields, tc.structural)
			}
		})
	}
}

func TestRestoreLoadsAtStart(t *testing.T) {
	c := spec.Cluster{Shards: 3}
	aof := spec.Cluster{Shards: 3}
	aof.Persistence.Mode = spec.PersistenceAOF
	for _, tc := range []struct {
		c      spec.Cluster
		shards int
		want   bool
	}{{c, 3, true}, {c, 2, false}, {aof, 3, true}, {aof, 2, false}} {
		if got := RestoreLoadsAtStart(tc.c, tc.shards); got != tc.want {
			t.Errorf("RestoreLoadsAtStart(%d shards, %s, backup %d) = %v", tc.c.Shards, tc.c.Persistence.Mode, tc.shards, got)
		}
	}
}

func TestUpToDate(t *testing.T) {
	got := UpToDate(map[int]string{0: "h1", 1: "h0", 2: ""}, "h1")
	if !got[0] || got[1] || got[2] {
		t.Errorf("UpToDate = %v", got)
	}
}

func TestMovesFit(t *testing.T) {
	moves := []ShardMove{{From: 0, To: 3, Range: topology.SlotRange{Start: 0, End: 9}}}
	for _, tc := range []struct {
		name  string
		owned map[int]topology.Ranges
		fits  bool
	}{
		{"source owns it", map[int]topology.Ranges{0: {{Start: 0, End: 99}}}, true},
		{"half moved", map[int]topology.Ranges{0: {{Start: 5, End: 99}}, 3: {{Start: 0, End: 4}}}, true},
		{"someone else owns a slot", map[int]topology.Ranges{0: {{Start: 1, End: 99}}, 1: {{Start: 0, End: 0}}}, false},
	} {
		if got := len(MovesFit(moves, tc.owned)) == 0; got != tc.fits {
			t.Errorf("%s: fits = %v, want %v", tc.name, got, tc.fits)
		}
	}
}
