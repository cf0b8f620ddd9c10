package guard

import (
	"fmt"
	"maps"
	"slices"

	"github.com/dayops/dayops/internal/topology"
)

// Health states of a cluster.
const (
	StateHealthy  = "Healthy"
	StateDegraded = "Degraded"
	// StateBusy: an operation runs; the guardian only keeps labels true.
	StateBusy = "Busy"
)

// Pod is what Kubernetes says of one instance.
type Pod struct {
	Ordinal int    `json:"ordinal"`
	Shard   int    `json:"shard"`
	Name    string `json:"name"`
	// Addr is ip:port, empty while the Pod has no IP.
	Addr string `json:"addr,omitempty"`
	Node string `json:"node,omitempty"`
	// NodeReady is false when the Kubernetes node hosting the Pod is not
	// Ready (or gone): its Pods will not come back by themselves.
	NodeReady bool          `json:"nodeReady"`
	Zone      string        `json:"zone,omitempty"`
	Role      topology.Role `json:"role,omitempty"` // the role label
	NodeID    string        `json:"nodeId,omitempty"`
	Ready     bool          `json:"ready"`
	Deleting  bool          `json:"deleting,omitempty"`
}

// Node is what one instance's redis-server says of itself.
type Node struct {
	Reachable bool          `json:"reachable"`
	NodeID    string        `json:"nodeId,omitempty"`
	PrimaryID string        `json:"primaryId,omitempty"`
	Role      topology.Role `json:"role,omitempty"`
	Slots     int           `json:"slots"`
	// KnownNodes is the number of nodes in its CLUSTER NODES.
	KnownNodes int   `json:"knownNodes"`
	Offset     int64 `json:"offset"`
	LinkUp     bool  `json:"linkUp"`
	// LinkDownSeconds is a replica's master_link_down_since_seconds while
	// its link is down (0 otherwise, and -1 when it never came up since
	// the replica started).
	LinkDownSeconds int64 `json:"linkDownSeconds,omitempty"`
	// DiskError: INFO persistence reports its last AOF write or fsync, or
	// its last RDB save, failed: it may refuse writes (MISCONF).
	DiskError bool `json:"diskError,omitempty"`
	// Failing are node IDs it flags fail or fail?; Unaddressed those it
	// names without an address (noaddr). Both only from its own view.
	Failing     []string `json:"failing,omitempty"`
	Unaddressed []string `json:"unaddressed,omitempty"`
	// ConfigEpoch is the node's config epoch (CLUSTER INFO's
	// cluster_my_epoch; a replica reports its primary's). Of two primaries
	// claiming one shard, Redis gives the slots to the newer epoch, and so
	// does Assess.
	ConfigEpoch uint64 `json:"configEpoch,omitempty"`
}

// Member is an instance the guardian has seen in the cluster: it remembers
// the ordinal's shard, node ID and last role so that a Pod that vanished
// (a lost node) is still known by ordinal.
type Member struct {
	Shard  int           `json:"shard"`
	NodeID string        `json:"nodeId,omitempty"`
	Role   topology.Role `json:"role,omitempty"`
	Zone   string        `json:"zone,omitempty"`
}

// Input is one observation.
type Input struct {
	Shards           int `json:"shards"`
	ReplicasPerShard int `json:"replicasPerShard"`
	// Known is the guardian's memory from earlier observations.
	Known map[int]Member `json:"known,omitempty"`
	// Orphans are ordinals whose volume exists without a Pod (by ordinal:
	// shard), so a guardian started after a loss still finds them.
	Orphans map[int]int `json:"orphans,omitempty"`
	Pods    []Pod       `json:"pods"`
	// Nodes is each Pod's redis-server, by ordinal (absent: no address).
	Nodes map[int]Node `json:"nodes,omitempty"`
	// Operation is the ID of the cluster operation running, "" when none.
	Operation string `json:"operation,omitempty"`
}

// Lost is an instance that will not come back without a recovery.
type Lost struct {
	Ordinal int    `json:"ordinal"`
	Shard   int    `json:"shard"`
	NodeID  string `json:"nodeId,omitempty"`
	Pod     string `json:"pod,omitempty"`
	// PodExists: the Pod is still there (stuck on a dead node, or back
	// without its identity).
	PodExists bool `json:"podExists,omitempty"`
	// ForceDelete: the Pod sits on a node that is not Ready; it must be
	// force-deleted before it can be recreated.
	ForceDelete bool `json:"forceDelete,omitempty"`
	// Rejoin: the Pod runs, with its node ID, as a primary that owns no
	// slot while its shard has a live primary (a former primary back with
	// old keys that Redis did not demote): it is made that primary's
	// replica again, in place.
	Rejoin bool   `json:"rejoin,omitempty"`
	Reason string `json:"reason"`
}

// Failover is a change of a shard's primary that dayops did not make.
type Failover struct {
	Shard int `json:"shard"`
	From  int `json:"from"`
	To    int `json:"to"`
}

// Assessment is what the guardian concludes from one observation.
type Assessment struct {
	State   string   `json:"state"`
	Reasons []string `json:"reasons,omitempty"`
	Desired int      `json:"desired"`
	Ready   int      `json:"ready"`
	// Relabel gives the live role of every Pod whose label (or node ID
	// annotation, in NodeIDs) is stale.
	Relabel map[int]topology.Role `json:"relabel,omitempty"`
	NodeIDs map[int]string        `json:"nodeIds,omitempty"`
	// Primaries maps shard to the ordinal of its live primary.
	Primaries map[int]int `json:"primaries,omitempty"`
	Lost      []Lost      `json:"lost,omitempty"`
	Failovers []Failover  `json:"failovers,omitempty"`
	// ZoneConflicts are shards whose primary shares a zone with a replica.
	ZoneConflicts []int `json:"zoneConflicts,omitempty"`
	// Known is the memory to carry to the next observation.
	Known map[int]Member `json:"known,omitempty"`
}

// NeedsRecovery reports whether a recover operation should run.
func (a Assessment) NeedsRecovery() bool { return len(a.Lost) > 0 }

// Fingerprint is what the guardian compares between two observations to
// tell whether anything worth a decision changed (state, reasons, lost set,
// primaries); offsets and the like are left out on purpose.
func (a Assessment) Fingerprint() string {
	s := a.State
	for _, r := range a.Reasons {
		s += "|" + r
	}
	for _, sh := range slices.Sorted(maps.Keys(a.Primaries)) {
		s += fmt.Sprintf("|p%d=%d", sh, a.Primaries[sh])
	}
	return s
}

// inCluster: the node has joined the cluster (knows another node) and holds
// a role that means something (a replica, or a primary serving slots); a
// fresh or reset node is none of these and keeps its planned label.
func inCluster(n Node) bool {
	return n.Reachable && n.KnownNodes > 1 && (n.Role == topology.RoleReplica || (n.Role == topology.RolePrimary && n.Slots > 0))
}

// Assess evaluates one observation: live roles and stale labels, the
// memory carried to the next observation, failovers Redis made, lost
// instances, then the health verdict.
func Assess(in Input) Assessment {
	as := newAssessor(in)
	as.liveRoles()
	as.relabelDeadPrimaries()
	as.remember()
	as.failovers()
	as.lost()
	as.health()
	return *as.a
}

// assessor holds one observation's indexes while Assess works through it.
type assessor struct {
	in       Input
	a        *Assessment
	pods     map[int]Pod
	perShard map[int]int // Pods not being deleted, by shard
	ords     []int       // the Pods' ordinals, sorted
	want     int         // instances per shard
	// role is the live role of each Pod in the cluster (a stale primary's
	// is replica); stale maps a stale primary to its shard's primary.
	role  map[int]topology.Role
	stale map[int]int
}

func newAssessor(in Input) *assessor {
	as := &assessor{in: in, pods: map[int]Pod{}, perShard: map[int]int{}, want: 1 + in.ReplicasPerShard,
		role: map[int]topology.Role{}, stale: map[int]int{},
		a: &Assessment{State: StateHealthy, Desired: in.Shards * (1 + in.ReplicasPerShard),
			Relabel: map[int]topology.Role{}, NodeIDs: map[int]string{}, Primaries: map[int]int{}, Known: map[int]Member{}}}
	for _, p := range in.Pods {
		as.pods[p.Ordinal] = p
		if !p.Deleting {
			as.perShard[p.Shard]++
		}
	}
	as.ords = slices.Sorted(maps.Keys(as.pods))
	return as
}

func (as *assessor) reason(f string, args ...any) {
	as.a.Reasons = append(as.a.Reasons, fmt.Sprintf(f, args...))
}

// liveRoles counts Ready members, finds each shard's live primary and the
// Pods whose role label or node ID is stale.
//
// Two primaries can claim one shard: after a failover Redis made (or a
// TAKEOVER), the old primary keeps saying it is one until gossip with the
// newer config epoch reaches it, for good when it is cut off from the
// other nodes but not from the guardian; and the observation reads the
// instances at slightly different moments. Redis gives the slots to the
// claim with the newer config epoch, so the shard's primary is the one with
// the highest ConfigEpoch (the lowest ordinal among equals, as before
// epochs were observed: then the lowest ordinal won, which picked the old
// primary whenever it had the lower ordinal, left its primary label on and
// reported no failover). A claimant with an older epoch is a stale primary:
// labelled replica (its writes are lost once Redis settles the conflict),
// remembered as one, and reported.
func (as *assessor) liveRoles() {
	a := as.a
	for _, o := range as.ords {
		p := as.pods[o]
		n, ok := as.in.Nodes[o]
		if !ok || !inCluster(n) {
			continue
		}
		if p.Ready {
			a.Ready++
		}
		if n.Role == topology.RolePrimary {
			if prev, dup := a.Primaries[p.Shard]; !dup || n.ConfigEpoch > as.in.Nodes[prev].ConfigEpoch {
				a.Primaries[p.Shard] = o
			}
		}
	}
	for _, o := range as.ords {
		p := as.pods[o]
		n, ok := as.in.Nodes[o]
		if !ok || !inCluster(n) {
			continue
		}
		role := n.Role
		if role == topology.RolePrimary && n.ConfigEpoch < as.in.Nodes[a.Primaries[p.Shard]].ConfigEpoch {
			role = topology.RoleReplica
			as.stale[o] = a.Primaries[p.Shard]
		}
		as.role[o] = role
		if p.Role != role || (n.NodeID != "" && p.NodeID != n.NodeID) {
			a.Relabel[o] = role
			a.NodeIDs[o] = n.NodeID
		}
	}
}

// relabelDeadPrimaries: a dead Pod still labelled primary of a shard that
// has a live primary is labelled replica: when it restarts it rejoins as one.
func (as *assessor) relabelDeadPrimaries() {
	for _, o := range as.ords {
		p := as.pods[o]
		if n := as.in.Nodes[o]; inCluster(n) || p.Role != topology.RolePrimary {
			continue
		}
		if live, ok := as.a.Primaries[p.Shard]; ok && live != o {
			as.a.Relabel[o] = topology.RoleReplica
		}
	}
}

// remember builds the memory: every Pod in the cluster, plus known ordinals
// still wanted.
func (as *assessor) remember() {
	in, a := as.in, as.a
	for _, o := range slices.Sorted(maps.Keys(in.Known)) {
		a.Known[o] = in.Known[o]
	}
	for o, sh := range in.Orphans {
		if _, ok := a.Known[o]; !ok {
			a.Known[o] = Member{Shard: sh}
		}
	}
	for _, o := range as.ords {
		p := as.pods[o]
		n := in.Nodes[o]
		m := a.Known[o]
		if inCluster(n) {
			m = Member{Shard: p.Shard, NodeID: n.NodeID, Role: as.role[o], Zone: p.Zone}
		} else if _, ok := a.Known[o]; !ok {
			m = Member{Shard: p.Shard, NodeID: p.NodeID, Role: p.Role, Zone: p.Zone}
		}
		a.Known[o] = m
	}
}

// failovers finds those Redis made: a shard's remembered primary is not its
// live one. The memory is corrected either way, so a failover is reported
// once; one made by a running operation (a switchover, an upgrade's
// handover: the old primary is still there) is that operation's to record,
// but when the old primary is gone Redis made it, whatever runs (a recover
// started for the lost Pod before Redis promoted).
func (as *assessor) failovers() {
	in, a := as.in, as.a
	for _, sh := range slices.Sorted(maps.Keys(a.Primaries)) {
		to := a.Primaries[sh]
		reported := false
		for _, o := range slices.Sorted(maps.Keys(in.Known)) {
			m := in.Known[o]
			if m.Shard != sh || m.Role != topology.RolePrimary || o == to {
				continue
			}
			_, hasPod := as.pods[o]
			gone := !hasPod || !inCluster(in.Nodes[o])
			if (in.Operation == "" || gone) && !reported {
				a.Failovers = append(a.Failovers, Failover{Shard: sh, From: o, To: to})
				reported = true
			}
			if k, ok := a.Known[o]; ok && k.Role == topology.RolePrimary {
				k.Role = topology.RoleReplica
				a.Known[o] = k
			}
		}
	}
}

// lost lists the lost instances and forgets the ordinals no longer wanted.
func (as *assessor) lost() {
	a := as.a
	for _, o := range slices.Sorted(maps.Keys(a.Known)) {
		m := a.Known[o]
		p, hasPod := as.pods[o]
		n := as.in.Nodes[o]
		switch {
		case m.Shard >= as.in.Shards:
			if !hasPod {
				delete(a.Known, o) // the shard was scaled in
			}
		case !hasPod:
			if as.perShard[m.Shard] >= as.want {
				delete(a.Known, o) // removed by an operation, not lost
				continue
			}
			as.perShard[m.Shard]++ // one recovery fills one missing place
			a.Lost = append(a.Lost, Lost{Ordinal: o, Shard: m.Shard, NodeID: m.NodeID, Reason: fmt.Sprintf("pod %d of shard-%d is gone", o, m.Shard)})
		case !n.Reachable && (!p.NodeReady || p.Deleting) && p.Node != "":
			why := fmt.Sprintf("pod %s is stuck on node %s, which is not Ready", p.Name, p.Node)
			if p.NodeReady {
				why = fmt.Sprintf("pod %s is being deleted on node %s and its redis-server has stopped", p.Name, p.Node)
			}
			a.Lost = append(a.Lost, Lost{Ordinal: o, Shard: m.Shard, NodeID: m.NodeID, Pod: p.Name, PodExists: true, ForceDelete: true, Reason: why})
		case as.strayPrimary(o, m):
			a.Lost = append(a.Lost, Lost{Ordinal: o, Shard: m.Shard, NodeID: n.NodeID, Pod: p.Name, PodExists: true, Rejoin: true,
				Reason: fmt.Sprintf("pod %s is back as a primary that owns no slot while %s is shard-%d's primary", p.Name,
					as.pods[a.Primaries[m.Shard]].Name, m.Shard)})
		case n.Reachable && n.KnownNodes <= 1 && n.Slots == 0 && m.NodeID != "" && n.NodeID != m.NodeID:
			a.Lost = append(a.Lost, Lost{Ordinal: o, Shard: m.Shard, NodeID: m.NodeID, Pod: p.Name, PodExists: true,
				Reason: fmt.Sprintf("pod %s came back as a new, empty node (was %s)", p.Name, short(m.NodeID))})
		}
	}
}

// strayPrimary: ordinal o's node is in the cluster with its remembered ID
// as a primary that owns no slot, while a primary of its shard (its own
// Pod's) owns the shard's slots. Nothing but a slot move (an operation, and
// the guardian does not judge while one runs) or a recovery's join makes a
// member of a shard a primary without slots; one that stays so serves
// nothing, is its shard's copy no more, and Redis leaves it so: a former
// primary back with its old keys, Redis having set their slots importing
// at load.
func (as *assessor) strayPrimary(o int, m Member) bool {
	n := as.in.Nodes[o]
	p, hasPod := as.pods[o]
	po, ok := as.a.Primaries[m.Shard]
	return hasPod && p.Shard == m.Shard && n.Reachable && n.KnownNodes > 1 && n.Role == topology.RolePrimary && n.Slots == 0 &&
		n.NodeID != "" && (m.NodeID == "" || m.NodeID == n.NodeID) && ok && po != o && as.in.Nodes[po].Slots > 0
}

// health gives the verdict: busy while an operation runs (nothing is lost
// then), else degraded with the reasons found, else healthy.
func (as *assessor) health() {
	a := as.a
	if as.in.Operation != "" {
		a.State = StateBusy
		as.reason("operation %s is running", as.in.Operation)
		a.Lost = nil
		a.ZoneConflicts = nil
		return
	}
	for _, l := range a.Lost {
		as.reason("%s", l.Reason)
	}
	for sh := range as.in.Shards {
		if _, ok := a.Primaries[sh]; !ok {
			as.reason("shard-%d has no reachable primary", sh)
		}
		if c := perShardLive(as.in, as.pods, sh); c < as.want {
			as.reason("shard-%d has %d of %d instances in the cluster", sh, c, as.want)
		}
	}
	as.memberReasons()
	as.zoneConflicts()
	if len(a.Reasons) > 0 {
		a.State = StateDegraded
	}
}

// memberReasons gives each Pod's trouble, if any (a lost one is reported
// once, as lost).
func (as *assessor) memberReasons() {
	for _, o := range as.ords {
		p := as.pods[o]
		n, ok := as.in.Nodes[o]
		switch {
		case !ok || !n.Reachable:
			if !lostOrdinal(as.a.Lost, o) {
				as.reason("%s does not answer", p.Name)
			}
		case !inCluster(n):
			if !lostOrdinal(as.a.Lost, o) {
				as.reason("%s is not part of the cluster yet", p.Name)
			}
		case as.isStale(o):
			po := as.stale[o]
			as.reason("%s claims shard-%d as primary with config epoch %d, older than %s's %d", p.Name, p.Shard, n.ConfigEpoch,
				as.pods[po].Name, as.in.Nodes[po].ConfigEpoch)
		case !p.Ready:
			as.reason("%s is not Ready", p.Name)
		case n.Role == topology.RoleReplica && !n.LinkUp:
			as.reason("replica %s: link to its primary is down", p.Name)
		case len(n.Failing) > 0:
			as.reason("%s flags %d node(s) as failing", p.Name, len(n.Failing))
		}
	}
}

// zoneConflicts finds the shards whose primary shares a zone with a replica.
func (as *assessor) zoneConflicts() {
	for sh := range as.in.Shards {
		po, ok := as.a.Primaries[sh]
		if !ok {
			continue
		}
		for _, o := range as.ords {
			p := as.pods[o]
			if o != po && p.Shard == sh && p.Zone != "" && p.Zone == as.pods[po].Zone && inCluster(as.in.Nodes[o]) {
				as.a.ZoneConflicts = append(as.a.ZoneConflicts, sh)
				as.reason("shard-%d: primary %s shares zone %s with replica %s", sh, as.pods[po].Name, p.Zone, p.Name)
				break
			}
		}
	}
}

func (as *assessor) isStale(o int) bool {
	_, ok := as.stale[o]
	return ok
}

func perShardLive(in Input, pods map[int]Pod, shard int) int {
	c := 0
	for o, p := range pods {
		if p.Shard == shard && inCluster(in.Nodes[o]) {
			c++
		}
	}
	return c
}

func lostOrdinal(l []Lost, o int) bool {
	return slices.ContainsFunc(l, func(x Lost) bool { return x.Ordinal == o })
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
