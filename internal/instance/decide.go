package instance

import (
	"cmp"
	"fmt"
	"slices"
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
}

// Observation is everything Decide looks at.
type Observation struct {
	// NodesConf: nodes.conf existed when the manager started (the node has
	// been part of a cluster before).
	NodesConf bool `json:"nodesConf"`
	// SelfID and WasPrimary come from nodes.conf's "myself" line.
	SelfID     string `json:"selfId,omitempty"`
	WasPrimary bool   `json:"wasPrimary"`
	// AOF is the AOF found before redis-server started.
	AOF AOFState `json:"aof"`
	// Self is the loaded data's replication position (read while fenced).
	Self Replication `json:"self"`
	// Replicas are the nodes that nodes.conf lists as this node's replicas.
	Replicas []Peer `json:"replicas,omitempty"`
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
func NeedsFence(nodes []ClusterNode, exists bool) bool {
	if !exists {
		return false
	}
	self, ok := Self(nodes)
	return ok && self.Primary() && len(ReplicasOf(nodes, self.ID)) > 0
}

// Decide says whether a node may serve with the data it loaded. It is pure:
// the manager gathers the Observation, Decide weighs it. The order of the
// rules is the contract:
//
//  1. a node that never ran, or ran as a replica, serves: a replica syncs
//     from its primary and is never a sync source;
//  2. a replica that is now a primary (Redis failed over while this node was
//     away): follow it;
//  3. a former primary without replicas serves: no copy to protect;
//  4. an AOF was loaded: it holds every write this node acknowledged (Redis
//     writes the AOF before replying and before feeding replicas), so this
//     node is the most complete copy: serve, and replicas resync from it;
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
	peers := slices.Clone(o.Replicas)
	slices.SortFunc(peers, func(a, b Peer) int { return cmp.Compare(a.ID, b.ID) })
	for i := range peers {
		if p := peers[i]; p.Reachable && p.Primary && p.Slots > 0 {
			return Decision{Action: Follow, Target: &peers[i],
				Reason: fmt.Sprintf("replica %s was promoted while this node was away", short(p.ID))}
		}
	}
	if len(peers) == 0 {
		return Decision{Action: Serve, Reason: "former primary without replicas"}
	}
	if o.AOF == AOFPresent {
		return Decision{Action: Serve, Reason: "loaded its AOF, which holds every write it acknowledged"}
	}
	var ahead []Peer
	reachable := 0
	for _, p := range peers {
		if !p.Reachable {
			continue
		}
		reachable++
		if p.Primary || p.MasterID != o.SelfID {
			continue // follows another node: not this shard's copy any more
		}
		if p.Repl.Offset > 0 && !o.Self.Contains(p.Repl) {
			ahead = append(ahead, p)
		}
	}
	if reachable == 0 {
		return Decision{Action: Wait, Reason: fmt.Sprintf("none of %d replicas reachable", len(peers))}
	}
	if len(ahead) == 0 {
		return Decision{Action: Serve, Reason: fmt.Sprintf("no replica ahead (own offset %d)", o.Self.Offset)}
	}
	best := slices.MaxFunc(ahead, func(a, b Peer) int {
		return cmp.Or(cmp.Compare(a.Repl.Offset, b.Repl.Offset), cmp.Compare(b.ID, a.ID))
	})
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

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
