package observed

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dayops/dayops/internal/activities/guardian"
	"github.com/dayops/dayops/internal/guard"
	"github.com/dayops/dayops/internal/kube/render"
	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/topology"
)

// Unelectable says why, as far as the observation shows, Redis will
// never elect replica, a replica of a lost primary ("" when it may): a view
// read names that primary without an address, or the live primaries that
// own slots are no majority of the shards' primaries (noMajority).
func Unelectable(obs guardian.Observation, replica int) (noMajority bool, why string) {
	lost := obs.Input.Nodes[replica].PrimaryID
	ordinals := slices.Sorted(maps.Keys(obs.Input.Nodes))
	for _, o := range ordinals {
		if lost != "" && slices.Contains(obs.Input.Nodes[o].Unaddressed, lost) {
			return false, "the cluster names its lost primary without an address"
		}
	}
	live := 0
	for _, s := range slices.Sorted(maps.Keys(obs.Assessment.Primaries)) {
		if obs.Input.Nodes[obs.Assessment.Primaries[s]].Slots > 0 {
			live++
		}
	}
	owners := live + len(Primaryless(obs))
	if live < owners/2+1 {
		return true, fmt.Sprintf("%d of the %d primaries owning slots are live, no majority", live, owners)
	}
	return false, ""
}

// Primaryless lists the shards without a live primary, in order.
func Primaryless(obs guardian.Observation) []int {
	var out []int
	for s := range obs.Input.Shards {
		if _, ok := obs.Assessment.Primaries[s]; !ok {
			out = append(out, s)
		}
	}
	return out
}

// FurthestReplica is the reachable replica of shard with the highest
// replication offset (the lowest ordinal of equals).
func FurthestReplica(obs guardian.Observation, shard int) (int, bool) {
	var cands []int
	for _, p := range obs.Input.Pods {
		n, ok := obs.Input.Nodes[p.Ordinal]
		if p.Shard == shard && p.Addr != "" && ok && n.Reachable && n.Role == topology.RoleReplica {
			cands = append(cands, p.Ordinal)
		}
	}
	return Furthest(obs, cands)
}

// Furthest is the ordinal of ordinals with the highest replication offset
// in the observation (the lowest ordinal of equals); false when there is
// none.
func Furthest(obs guardian.Observation, ordinals []int) (int, bool) {
	if len(ordinals) == 0 {
		return 0, false
	}
	best := slices.Min(ordinals)
	for _, o := range ordinals {
		if n := obs.Input.Nodes[o].Offset; n > obs.Input.Nodes[best].Offset || (n == obs.Input.Nodes[best].Offset && o < best) {
			best = o
		}
	}
	return best, true
}

// GoneNotice returns the node IDs of shard's lost members whose Pod and
// volume are both gone, and the ordinals of its members whose Pods are
// there, not lost, and whose redis-server does not answer the cluster's
// password: restarting, perhaps fenced (whose managers are told).
func GoneNotice(obs guardian.Observation, shard int) (gone []string, targets []int) {
	var lost []guard.Lost // gone: no Pod (and goneWithData: no volume)
	for _, l := range obs.Assessment.Lost {
		if l.Shard == shard && !l.PodExists {
			lost = append(lost, l)
		}
	}
	for _, o := range slices.Sorted(maps.Keys(obs.Assessment.Known)) {
		if obs.Assessment.Known[o].Shard == shard && Restarting(obs, o) {
			targets = append(targets, o)
		}
	}
	return GoneWithData(obs, lost), targets
}

// Restarting says whether ordinal o's Pod is there, o is not lost, and its
// redis-server does not answer the cluster's password: restarting in its
// Pod, perhaps fenced.
func Restarting(obs guardian.Observation, o int) bool {
	_, hasPod := obs.Pod(o)
	return hasPod && !obs.Input.Nodes[o].Reachable &&
		!slices.ContainsFunc(obs.Assessment.Lost, func(l guard.Lost) bool { return l.Ordinal == o })
}

// ReplicaFirst says whether l is a replica to bring back on its volume
// before its shard has a live primary: its Pod gone, its volume there, the
// shard's known primary's Pod there but not answering (restarting in
// place, perhaps fenced waiting for l).
func ReplicaFirst(obs guardian.Observation, l guard.Lost) bool {
	c := obs.Spec
	if c == nil || c.Persistence.Mode == spec.PersistenceNone || l.PodExists || l.Rejoin || l.ForceDelete ||
		obs.Assessment.Known[l.Ordinal].Role != topology.RoleReplica || !slices.Contains(obs.Volumes, l.Ordinal) {
		return false
	}
	if _, ok := obs.Assessment.Primaries[l.Shard]; ok {
		return false
	}
	for _, o := range slices.Sorted(maps.Keys(obs.Assessment.Known)) {
		if m := obs.Assessment.Known[o]; m.Shard == l.Shard && m.Role == topology.RolePrimary && Restarting(obs, o) {
			return true
		}
	}
	return false
}

// GoneWithData returns the node IDs of the lost members with no volume:
// the recover does not bring them back with their data (they return
// later as new, empty nodes).
func GoneWithData(obs guardian.Observation, lost []guard.Lost) []string {
	var out []string
	for _, l := range lost {
		if id := obs.Assessment.Known[l.Ordinal].NodeID; id != "" && !slices.Contains(obs.Volumes, l.Ordinal) {
			out = append(out, id)
		}
	}
	return out
}

// Restartable are the instances of shard (lost whole) that come back on
// their volumes: every one whose volume is there and whose Pod is gone (or
// stuck deleting: Pods to force-delete first). A Pod that came back empty
// holds no data; one on a node that is not Ready cannot come back there
// (its volume is pinned to it) and is recovered afterwards like any lost
// instance. With the former primary among them its instance manager
// decides who serves; without it a replica's copy is all that is left, and
// Redis does not promote a replica whose primary was gone before it
// started: the replica furthest ahead is taken over with (takeover). why
// says what is gone when nothing can come back ("" otherwise).
func Restartable(c spec.Cluster, obs guardian.Observation, shard int, lost []guard.Lost) (insts []topology.Instance, stuck []string, takeover bool, why string) {
	if c.Persistence.Mode == spec.PersistenceNone {
		return nil, nil, false, "its data was in memory only (persistence none): restore it from a backup"
	}
	primary := false
	var onDeadNode []string
	for _, l := range lost {
		if (l.PodExists && !l.ForceDelete) || !slices.Contains(obs.Volumes, l.Ordinal) {
			continue
		}
		if l.ForceDelete {
			if i := slices.IndexFunc(obs.Input.Pods, func(p guard.Pod) bool { return p.Ordinal == l.Ordinal }); i >= 0 && !obs.Input.Pods[i].NodeReady {
				onDeadNode = append(onDeadNode, l.Pod)
				continue
			}
			stuck = append(stuck, l.Pod)
		}
		role := obs.Assessment.Known[l.Ordinal].Role
		if role != topology.RolePrimary {
			role = topology.RoleReplica
		}
		primary = primary || role == topology.RolePrimary
		insts = append(insts, topology.Instance{Ordinal: l.Ordinal, Shard: shard, Role: role})
	}
	switch {
	case len(insts) > 0:
		return insts, stuck, !primary, ""
	case len(onDeadNode) > 0:
		return nil, nil, false, fmt.Sprintf("its data is on nodes that are not Ready (Pods %s): bring one back, or restore the shard from a backup",
			strings.Join(onDeadNode, ", "))
	}
	return nil, nil, false, "none of its instances kept its data (no volume, or it came back empty): restore it from a backup"
}

// TooOldToElect says whether every replica of shard (at least one) is one
// Redis will never elect, and why: reachable, its link down for longer
// than Redis allows a candidate (cluster.c: the data age, less
// cluster-node-timeout, over repl-ping-replica-period + cluster-node-timeout
// x cluster-replica-validity-factor; 65 s with dayops' defaults) with
// staleMargin. The age only grows while the link is down, and the link
// cannot come up while the primary is gone: the primary's volume holds the
// shard's data, and waiting longer only keeps the shard without writes. A
// factor of 0 (Redis never ages a replica out), a replica that does not
// answer, or one whose link never came up (-1: not told apart here) is
// left to the usual wait.
func TooOldToElect(obs guardian.Observation, shard int) (string, bool) {
	c := obs.Spec
	factor, ping := configInt(c, "cluster-replica-validity-factor", 10), configInt(c, "repl-ping-replica-period", 10)
	if factor <= 0 {
		return "", false
	}
	timeout := NodeTimeout(c)
	limit := timeout + time.Duration(ping)*time.Second + time.Duration(factor)*timeout + staleMargin
	var old []string
	for _, p := range obs.Input.Pods {
		if p.Shard != shard || obs.Assessment.Known[p.Ordinal].Role == topology.RolePrimary {
			continue
		}
		n := obs.Input.Nodes[p.Ordinal]
		down := time.Duration(n.LinkDownSeconds) * time.Second
		if !n.Reachable || n.Role != topology.RoleReplica || n.LinkUp || down < limit {
			return "", false
		}
		old = append(old, fmt.Sprintf("%s's link down %s", p.Name, down))
	}
	if len(old) == 0 {
		return "", false
	}
	return fmt.Sprintf("its replicas are too old for Redis to elect (%s; Redis elects none past %s)", strings.Join(old, ", "), limit-staleMargin), true
}

// configInt is c's integer setting key, or def when it sets none.
func configInt(c *spec.Cluster, key string, def int) int {
	if c != nil {
		if v, err := strconv.Atoi(c.Config[key]); err == nil {
			return v
		}
	}
	return def
}

// NodeTimeout is c's cluster-node-timeout (the default dayops renders when
// its config does not set one; admission checks the value).
func NodeTimeout(c *spec.Cluster) time.Duration {
	ms := render.DefaultNodeTimeoutMillis
	if c != nil {
		if v, err := strconv.Atoi(c.Config["cluster-node-timeout"]); err == nil && v > 0 {
			ms = v
		}
	}
	return time.Duration(ms) * time.Millisecond
}

// StillLost says whether l is still lost in obs (recoverOne: a lost primary
// restartPrimary brought back is not recovered again).
func StillLost(obs guardian.Observation, l guard.Lost) bool {
	return slices.ContainsFunc(obs.Assessment.Lost, func(x guard.Lost) bool { return x.Ordinal == l.Ordinal })
}

// staleMargin is added to Redis' bound on a replica's data age: INFO
// counts whole seconds, and Redis reads its clock once per cron tick.
const staleMargin = 2 * time.Second
