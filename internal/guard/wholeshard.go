package guard

import (
	"maps"
	"slices"

	"github.com/dayops/dayops/internal/topology"
)

// LostWhole returns, by shard, the lost instances of the shards that lost
// every instance at once: no live primary, and every instance the guardian
// knows in the shard (at least one) is lost. Redis has nothing to promote there (with
// cluster-require-full-coverage every shard refuses writes meanwhile), and
// the shard's data is only on the lost instances' volumes, so the recovery
// brings them back on those volumes before anything else; waiting for a
// promotion would wait for nothing.
func LostWhole(a Assessment) map[int][]Lost {
	count, byShard := members(a), lostByShard(a)
	out := map[int][]Lost{}
	for _, sh := range slices.Sorted(maps.Keys(byShard)) {
		if _, ok := a.Primaries[sh]; !ok && len(byShard[sh]) == count[sh] {
			out[sh] = byShard[sh]
		}
	}
	return out
}

// LosingWhole returns the shards (sorted) that are losing every instance:
// at least one instance is lost and every other one the guardian knows in
// the shard is lost or going, its Pod being deleted on a Ready node (it
// shuts down and will not come back by itself). It is LostWhole seen a
// moment early: when all of a shard's Pods are deleted together, each
// node's agent stops its own Pod, tens of milliseconds apart, and a
// primary stopped first hands the shard to its replica, which then stops
// as the shard's primary while the former primary's Pod is still
// terminating. A recovery that took that shard for one lost instance would
// wait for a promotion that cannot come; it waits for the terminating Pods
// instead and asks LostWhole again.
// going holds the ordinals whose Pods are going (GoingOrdinals).
func LosingWhole(a Assessment, going []int) []int {
	count, byShard := members(a), lostByShard(a)
	var out []int
	for _, sh := range slices.Sorted(maps.Keys(byShard)) {
		if po, ok := a.Primaries[sh]; ok && !slices.Contains(going, po) {
			continue
		}
		n := len(byShard[sh])
		for _, o := range slices.Sorted(maps.Keys(a.Known)) {
			if a.Known[o].Shard == sh && slices.Contains(going, o) && !slices.ContainsFunc(a.Lost, func(l Lost) bool { return l.Ordinal == o }) {
				n++
			}
		}
		if n == count[sh] {
			out = append(out, sh)
		}
	}
	return out
}

// Going says whether the Pod is being deleted on a Ready node: it shuts
// down and will not come back by itself (its node's agent stops it; the
// recover workflow makes it anew once it is gone).
func (p Pod) Going() bool { return p.Deleting && p.NodeReady }

// GoingOrdinals returns the ordinals of the Pods that are going, in the
// Pods' order.
func GoingOrdinals(pods []Pod) []int {
	var out []int
	for _, p := range pods {
		if p.Going() {
			out = append(out, p.Ordinal)
		}
	}
	return out
}

// members counts the instances the guardian knows, by shard.
func members(a Assessment) map[int]int {
	n := map[int]int{}
	for _, o := range slices.Sorted(maps.Keys(a.Known)) {
		n[a.Known[o].Shard]++
	}
	return n
}

// lostByShard groups the lost instances by shard, in their order.
func lostByShard(a Assessment) map[int][]Lost {
	byShard := map[int][]Lost{}
	for _, l := range a.Lost {
		byShard[l.Shard] = append(byShard[l.Shard], l)
	}
	return byShard
}

// LastPrimary returns, for a shard with no live primary, the member a
// reachable member of the shard names as its primary: the shard's last
// primary, also when no observation saw it as one (handed the shard by its
// stopping primary moments before it stopped itself). Restarted on its
// volume, it is the one that holds the shard's latest writes.
func LastPrimary(a Assessment, nodes map[int]Node, shard int) (int, bool) {
	if _, ok := a.Primaries[shard]; ok {
		return 0, false
	}
	for _, o := range slices.Sorted(maps.Keys(a.Known)) {
		n := nodes[o]
		if a.Known[o].Shard != shard || !n.Reachable || n.PrimaryID == "" {
			continue
		}
		for _, p := range slices.Sorted(maps.Keys(a.Known)) {
			if m := a.Known[p]; m.Shard == shard && p != o && m.NodeID == n.PrimaryID {
				return p, true
			}
		}
	}
	return 0, false
}

// WithPrimary returns known with ordinal o its shard's primary and every
// other member of the shard a replica.
func WithPrimary(known map[int]Member, o int) map[int]Member {
	out := maps.Clone(known)
	sh := known[o].Shard
	for _, k := range slices.Sorted(maps.Keys(out)) {
		if m := out[k]; m.Shard == sh {
			m.Role = topology.RoleReplica
			if k == o {
				m.Role = topology.RolePrimary
			}
			out[k] = m
		}
	}
	return out
}
