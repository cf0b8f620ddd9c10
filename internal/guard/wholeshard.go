package guard

import (
	"maps"
	"slices"
)

// LostWhole returns, by shard, the lost instances of the shards that lost
// every instance at once: no live primary, and every instance the guardian
// knows in the shard (at least one) is lost. Redis has nothing to promote there (with
// cluster-require-full-coverage every shard refuses writes meanwhile), and
// the shard's data is only on the lost instances' volumes, so the recovery
// brings them back on those volumes before anything else; waiting for a
// promotion would wait for nothing.
func LostWhole(a Assessment) map[int][]Lost {
	members := map[int]int{}
	for _, o := range slices.Sorted(maps.Keys(a.Known)) {
		members[a.Known[o].Shard]++
	}
	byShard := map[int][]Lost{}
	for _, l := range a.Lost {
		byShard[l.Shard] = append(byShard[l.Shard], l)
	}
	out := map[int][]Lost{}
	for _, sh := range slices.Sorted(maps.Keys(byShard)) {
		if _, ok := a.Primaries[sh]; ok || members[sh] == 0 || len(byShard[sh]) < members[sh] {
			continue
		}
		out[sh] = byShard[sh]
	}
	return out
}
