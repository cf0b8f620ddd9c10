package planner

import (
	"fmt"
	"reflect"

	"github.com/dayops/dayops/internal/topology"
)

// UpToDate tells, by ordinal, which instances already run the target: their
// Pod's spec hash is the target's. The API's admission and the Upgrade
// workflow both decide with it.
func UpToDate(hashes map[int]string, target string) map[int]bool {
	out := make(map[int]bool, len(hashes))
	for o, h := range hashes {
		out[o] = h == target
	}
	return out
}

// Divergence lists how a plan made from fresh state differs from the
// admitted one, field by field (nil when they are equal).
//
// Structural is true when the difference is in what the plan creates,
// deletes or where it places it (instances, shards, ordinals, placement,
// hooks): executing the admitted plan could then act on instances that are
// not what the user saw. Differences in the slot moves only (scale-in drains
// in proportion to free memory, which live writes change) or in the words
// are not structural.
type Divergence struct {
	Fields     []string
	Structural bool
}

// Diff compares an admitted plan with a fresh one.
func Diff(admitted, fresh Plan) Divergence {
	var d Divergence
	check := func(name string, a, b any, structural bool) {
		if reflect.DeepEqual(a, b) || (isEmpty(a) && isEmpty(b)) {
			return
		}
		d.Fields = append(d.Fields, name)
		d.Structural = d.Structural || structural
	}
	check("operation", admitted.Operation, fresh.Operation, true)
	check("createInstances", admitted.CreateInstances, fresh.CreateInstances, true)
	check("deleteInstances", admitted.DeleteInstances, fresh.DeleteInstances, true)
	check("newShards", admitted.NewShards, fresh.NewShards, true)
	check("removeShards", admitted.RemoveShards, fresh.RemoveShards, true)
	check("nextOrdinal", admitted.NextOrdinal, fresh.NextOrdinal, true)
	check("placement.requireDistinctZones", admitted.Placement.RequireDistinctZones, fresh.Placement.RequireDistinctZones, true)
	check("hooks", admitted.Hooks, fresh.Hooks, true)
	check("deleteVolumes", admitted.DeleteVolumes, fresh.DeleteVolumes, true)
	check("assign", admitted.Assign, fresh.Assign, true)
	check("moves", admitted.Moves, fresh.Moves, false)
	check("slotsMoved", admitted.SlotsMoved, fresh.SlotsMoved, false)
	check("summary", admitted.Summary, fresh.Summary, false)
	check("steps", admitted.Steps, fresh.Steps, false)
	return d
}

// String names the differing fields.
func (d Divergence) String() string {
	if len(d.Fields) == 0 {
		return "no difference"
	}
	kind := "in detail"
	if d.Structural {
		kind = "in structure"
	}
	return fmt.Sprintf("differs %s: %v", kind, d.Fields)
}

func isEmpty(v any) bool {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Map:
		return rv.Len() == 0
	}
	return false
}

// MovesFit reports the admitted slot moves that the slot ownership no
// longer allows: a move fits while every slot of its range is owned by its
// source shard or already by its target (a resumed migration). The
// scale-shards workflow checks it again before it migrates.
func MovesFit(moves []ShardMove, owned map[int]topology.Ranges) []string {
	var out []string
	for _, m := range moves {
		for s := m.Range.Start; s <= m.Range.End; s++ {
			if !owned[m.From].Contains(s) && !owned[m.To].Contains(s) {
				out = append(out, fmt.Sprintf("%s: slot %d is owned by neither shard", m, s))
				break
			}
		}
	}
	return out
}
