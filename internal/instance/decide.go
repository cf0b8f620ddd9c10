package instance

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dayops/dayops/internal/instance/nodesconf"
)

// Replication is a node's replication position: the ID of the history it
// follows and how far into it it is. A restarted primary also keeps the
// previous history's ID (Replid2) up to SecondOffset when it loaded an RDB
// that recorded it.
type Replication struct {
	Replid       string `json:"replid"`
	Offset       int64  `json:"offset"`
	Replid2      string `json:"replid2,omitempty"`
	SecondOffset int64  `json:"secondOffset,omitempty"` // -1 or 0 when Replid2 is unset
}

// Contains reports whether a node at r can serve a replica at pos by partial
// resync: pos is a point of r's own history, not past its end.
func (r Replication) Contains(pos Replication) bool {
	if pos.Replid == r.Replid && pos.Offset <= r.Offset {
		return true
	}
	// The previous history ends at SecondOffset-1.
	return r.Replid2 != "" && pos.Replid == r.Replid2 && pos.Offset < r.SecondOffset && pos.Offset <= r.Offset
}

// Peer is what the manager saw of one replica named in nodes.conf.
type Peer struct {
	ID        string `json:"id"`
	Addr      string `json:"addr"`
	Reachable bool   `json:"reachable"`
	Error     string `json:"error,omitempty"`
	// Primary: the peer is a primary now (it was promoted while this node
	// was away). MasterID: whose replica it is otherwise.
	Primary  bool        `json:"primary"`
	MasterID string      `json:"masterId,omitempty"`
	Slots    int         `json:"slots,omitempty"` // slot ranges it owns when a primary
	Repl     Replication `json:"repl"`
	// LinkDownAt is when the replica lost its link to its primary
	// (INFO's master_link_down_since_seconds, whole seconds, taken back
	// from the moment the manager read it); zero when the link is up or
	// never was.
	LinkDownAt time.Time `json:"linkDownAt,omitzero"`
	// StartedAt is when the replica's redis-server started (INFO's
	// uptime_in_seconds, taken back from the moment the manager read it);
	// zero when unknown.
	StartedAt time.Time `json:"startedAt,omitzero"`
}

// Observation is everything Decide looks at.
type Observation struct {
	// NodesConf: nodes.conf existed when the manager started (the node has
	// been part of a cluster before).
	NodesConf bool `json:"nodesConf"`
	// SelfID and WasPrimary come from nodes.conf's "myself" line.
	SelfID     string `json:"selfId,omitempty"`
	WasPrimary bool   `json:"wasPrimary"`
	// OpenSlots counts the slots nodes.conf says this node was migrating
	// or importing: a slot move in flight. Slots counts the slot ranges
	// it owned.
	OpenSlots int `json:"openSlots,omitempty"`
	Slots     int `json:"slots"`
	// AOF is the AOF found before redis-server started, and AOFWritten
	// the last time anything was written to it (its newest file's mtime,
	// read before redis-server started).
	AOF        AOFState  `json:"aof"`
	AOFWritten time.Time `json:"aofWritten,omitzero"`
	// Self is the loaded data's replication position (read while fenced).
	Self Replication `json:"self"`
	// Replicas are the nodes that nodes.conf lists as this node's replicas.
	Replicas []Peer `json:"replicas,omitempty"`
	// Gone are the node IDs of replicas known to be gone with their data
	// (Options.GoneReplicas: the recover that restarts a shard lost whole
	// names its members whose volumes are gone). They hold nothing to
	// protect and will never answer: the fence does not wait for them.
	Gone []string `json:"gone,omitempty"`
}

// Action is what the manager does.
type Action string

// Actions.
const (
	Serve    Action = "serve"
	Takeover Action = "takeover"
	Follow   Action = "follow"
	Wait     Action = "wait"
)

// Decision is Decide's answer. Target is the replica to take over (Takeover)
// or the promoted one to follow (Follow).
type Decision struct {
	Action Action `json:"action"`
	Target *Peer  `json:"target,omitempty"`
	Reason string `json:"reason"`
}

// NeedsFence reports whether a node must start fenced: a former primary with
// replicas. Anything else starts as is.
func NeedsFence(nodes []nodesconf.Node, exists bool) bool {
	if !exists {
		return false
	}
	self, ok := nodesconf.Self(nodes)
	return ok && self.Primary() && len(nodesconf.ReplicasOf(nodes, self.ID)) > 0
}

// Decide says whether a node may serve with the data it loaded. It is pure:
// the manager gathers the Observation, Decide weighs it. The order of the
// rules is the contract:
//
//  1. a node that never ran, or ran as a replica, serves: a replica syncs
//     from its primary and is never a sync source;
//  2. a replica that is now a primary (Redis failed over while this node was
//     away): follow it;
//  3. a former primary without replicas serves: no copy to protect (a
//     replica known gone with its data, Observation.Gone, does not count);
//     so does one that owned no slot (a takeover leaves it a primary, and its
//     replica an empty second one);
//  4. an AOF was loaded: it may lack writes this node acknowledged. With
//     appendfsync everysec, Redis postpones writing its AOF buffer (up to
//     2 s) while a background fsync runs, and replies and feeds replicas
//     meanwhile: a crash then loses writes that its replicas hold, WAIT-
//     acknowledged ones too (seen: 57-77 of them in each of eight SIGKILLs
//     under disk load). The AOF's offset cannot be compared with a
//     replica's (a restart from an AOF starts a new history at 0), but its
//     time can: a replica whose link to this node was up when the AOF was
//     last written (LinkDownAt not before AOFWritten - LinkSlack) holds
//     every write this node sent before it died, so the one furthest
//     ahead takes over; with none such, the AOF is the most complete copy:
//     serve (a replica cut off earlier is behind it). A node with slots
//     open (a slot move in flight) is taken over too: MIGRATING and
//     IMPORTING live on this node alone, so the manager hands them to the
//     new primary and repoints the other end (handOverOpenSlots);
//  5. no replica reachable: wait (the caller bounds the wait);
//  6. a reachable replica of this node whose position this node's history
//     does not contain is ahead: the one furthest ahead takes over;
//  7. otherwise serve (replicas continue by partial resync).
func Decide(o Observation) Decision {
	if !o.NodesConf {
		return Decision{Action: Serve, Reason: "no nodes.conf: a new node"}
	}
	if !o.WasPrimary {
		return Decision{Action: Serve, Reason: "was a replica: it syncs from its primary"}
	}
	peers := slices.DeleteFunc(slices.Clone(o.Replicas), func(p Peer) bool { return slices.Contains(o.Gone, p.ID) })
	slices.SortFunc(peers, func(a, b Peer) int { return cmp.Compare(a.ID, b.ID) })
	for i := range peers {
		if p := peers[i]; p.Reachable && p.Primary && p.Slots > 0 {
			return Decision{Action: Follow, Target: &peers[i],
				Reason: fmt.Sprintf("replica %s was promoted while this node was away", short(p.ID))}
		}
	}
	if len(peers) == 0 && len(o.Replicas) > 0 {
		return Decision{Action: Serve, Reason: fmt.Sprintf("former primary whose replicas are all gone with their data (%s): no copy to wait for",
			strings.Join(shortIDs(o.Replicas), ", "))}
	}
	if len(peers) == 0 {
		return Decision{Action: Serve, Reason: "former primary without replicas"}
	}
	if o.Slots == 0 {
		// CLUSTER FAILOVER TAKEOVER would leave two empty primaries: Redis
		// demotes a primary only when it loses its last slot (seen: a new
		// shard's primary killed before it owned a slot).
		return Decision{Action: Serve, Reason: "owned no slot: a replica cannot take its place"}
	}
	if o.AOF == AOFPresent {
		return decideAOF(o, peers)
	}
	ahead, reachable := ownCopies(o, peers, func(p Peer) bool { return p.Repl.Offset > 0 && !o.Self.Contains(p.Repl) })
	if reachable == 0 {
		return Decision{Action: Wait, Reason: fmt.Sprintf("none of %d replicas reachable", len(peers))}
	}
	if len(ahead) == 0 {
		return Decision{Action: Serve, Reason: fmt.Sprintf("no replica ahead (own offset %d)", o.Self.Offset)}
	}
	best := furthestAhead(ahead)
	why := "persistence none"
	if o.AOF == AOFMissing {
		why = "AOF missing"
	} else if o.Self.Offset > 0 || o.Self.Replid2 != "" {
		why = "older data"
	}
	return Decision{Action: Takeover, Target: &best,
		Reason: fmt.Sprintf("replica %s is ahead (offset %d of history %s; own offset %d, %s)",
			short(best.ID), best.Repl.Offset, short(best.Repl.Replid), o.Self.Offset, why)}
}

// LinkSlack is how much earlier than the AOF's last write a replica's link
// may have gone down and still count as up at that write:
// master_link_down_since_seconds is whole seconds.
const LinkSlack = 2 * time.Second

// decideAOF is rule 4 (and 5: no replica reachable, wait).
func decideAOF(o Observation, peers []Peer) Decision {
	// A replica cut off before this node's last writes is behind the AOF.
	// So is one that restarted since (a shard whose every Pod was lost):
	// its link went down when it started, which says nothing of what it
	// held at the AOF's last write; its data is its own AOF's.
	current, reachable := ownCopies(o, peers, func(p Peer) bool {
		return p.Repl.Offset > 0 && !p.LinkDownAt.IsZero() && !p.LinkDownAt.Before(o.AOFWritten.Add(-LinkSlack)) &&
			(p.StartedAt.IsZero() || p.StartedAt.Before(o.AOFWritten.Add(-LinkSlack)))
	})
	if reachable == 0 {
		return Decision{Action: Wait, Reason: fmt.Sprintf("loaded its AOF; none of %d replicas reachable", len(peers))}
	}
	if len(current) == 0 {
		return Decision{Action: Serve, Reason: fmt.Sprintf("loaded its AOF (last written %s); no replica was connected then",
			o.AOFWritten.UTC().Format(time.RFC3339))}
	}
	best := furthestAhead(current)
	open := ""
	if o.OpenSlots > 0 {
		open = fmt.Sprintf("; it takes the %d open slots of the move in flight over", o.OpenSlots)
	}
	return Decision{Action: Takeover, Target: &best,
		Reason: fmt.Sprintf("replica %s was connected until %s, after the AOF's last write (%s): it holds every write "+
			"this node sent, which an AOF whose write Redis postponed during a slow fsync may not%s",
			short(best.ID), best.LinkDownAt.UTC().Format(time.RFC3339), o.AOFWritten.UTC().Format(time.RFC3339), open)}
}

// ownCopies returns the reachable replicas that still follow this node
// and pass keep, and how many replicas answered at all.
func ownCopies(o Observation, peers []Peer, keep func(Peer) bool) (out []Peer, reachable int) {
	for _, p := range peers {
		if !p.Reachable {
			continue
		}
		reachable++
		if p.Primary || p.MasterID != o.SelfID {
			continue // follows another node: not this shard's copy any more
		}
		if keep(p) {
			out = append(out, p)
		}
	}
	return out, reachable
}

// furthestAhead is the replica with the greatest offset (ties: the lowest
// ID).
func furthestAhead(peers []Peer) Peer {
	return slices.MaxFunc(peers, func(a, b Peer) int {
		return cmp.Or(cmp.Compare(a.Repl.Offset, b.Repl.Offset), cmp.Compare(b.ID, a.ID))
	})
}

// shortIDs are the peers' short IDs.
func shortIDs(peers []Peer) []string {
	out := make([]string, 0, len(peers))
	for _, p := range peers {
		out = append(out, short(p.ID))
	}
	return out
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
