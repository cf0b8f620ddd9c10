package leftopen

import (
	"maps"
	"slices"

	"github.com/dayops/dayops/internal/redis/clusteradmin"
)

// OpenIn lists the slots some primary has MIGRATING or IMPORTING in its
// own view (views by node ID).
func OpenIn(views map[string]clusteradmin.ClusterView) []int {
	open := map[int]bool{}
	for _, v := range views {
		for s := range v.Myself.Migrating {
			open[s] = true
		}
		for s := range v.Myself.Importing {
			open[s] = true
		}
	}
	return slices.Sorted(maps.Keys(open))
}

// NoMove reports whether dest's import of slot s from owner is no slot
// move, so that the keys dest holds of s are copies no client can reach
// rather than keys a move took from the owner:
//
//   - dest imports s from owner itself and owner does not migrate it to
//     dest (to no node, or to another: a move's real target). A
//     move's keys reach its target only once the source migrates the slot
//     (MIGRATE, or the copy path's EXEC that opens the slot and drops the
//     keys in one step), and a source that fails over hands its MIGRATING
//     to its successor (handoff.OpenSlots) or leaves the target importing
//     from the old node. This is what Redis sets at load time on a primary
//     that holds keys of a slot another node owns ("I have keys for slot N,
//     but the slot is assigned to another node"): a former primary that
//     came back owning nothing, with its old keys. Finishing such a slot
//     towards it gave it the slot with a newer config epoch (seen: a
//     returning former primary took one slot of its own shard, whose other
//     slots stayed with the promoted replica: two primaries in one shard).
//   - replaced names owner as dest's successor: dest is a lost primary
//     that came back, and no node imports a slot from its own shard.
func NoMove(views map[string]clusteradmin.ClusterView, s int, owner, dest string, replaced map[string]string) bool {
	if replaced[dest] == owner {
		return true
	}
	from := views[dest].Myself.Importing[s]
	return from == owner && views[owner].Myself.Migrating[s] != dest
}
