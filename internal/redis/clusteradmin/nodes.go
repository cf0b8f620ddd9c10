package clusteradmin

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/dayops/dayops/internal/topology"
)

// NodeInfo is one line of CLUSTER NODES as seen by the node that printed it.
type NodeInfo struct {
	ID string `json:"id"`
	// Addr is ip:port of the client port.
	Addr string `json:"addr"`
	// BusPort is the cluster bus port.
	BusPort   int      `json:"bus_port"`
	Flags     []string `json:"flags"`
	PrimaryID string   `json:"primary_id,omitempty"`
	Connected bool     `json:"connected"`
	Slots     topology.Ranges
	// Migrating maps a slot to the node ID it is migrating to; only filled
	// for the "myself" line.
	Migrating map[int]string `json:"migrating,omitempty"`
	// Importing maps a slot to the node ID it is importing from; only filled
	// for the "myself" line.
	Importing map[int]string `json:"importing,omitempty"`
}

// Has reports whether the node carries flag f (myself, master, slave, fail,
// fail?, handshake, noaddr, nofailover).
func (n NodeInfo) Has(f string) bool {
	for _, x := range n.Flags {
		if x == f {
			return true
		}
	}
	return false
}

// IsPrimary reports whether the line describes a primary.
func (n NodeInfo) IsPrimary() bool { return n.Has("master") }

// ClusterView is the parsed output of CLUSTER NODES of one node.
type ClusterView struct {
	Myself NodeInfo
	Nodes  map[string]NodeInfo // by node ID, including myself
}

// Owner returns the node ID owning slot in this view, or "".
func (v ClusterView) Owner(slot int) string {
	for id, n := range v.Nodes {
		if n.Slots.Contains(slot) {
			return id
		}
	}
	return ""
}

// Owners returns slot -> owner ID for all 16384 slots ("" when unowned).
func (v ClusterView) Owners() []string {
	out := make([]string, topology.NumSlots)
	for id, n := range v.Nodes {
		for _, r := range n.Slots {
			for s := r.Start; s <= r.End && s < topology.NumSlots; s++ {
				out[s] = id
			}
		}
	}
	return out
}

// Layout returns the slot layout of the primaries in this view.
func (v ClusterView) Layout() topology.Layout {
	l := topology.Layout{}
	for id, n := range v.Nodes {
		if n.IsPrimary() {
			l[id] = n.Slots.Normalize()
		}
	}
	return l
}

// openSlot records an open slot (its number, slot) and the node it is
// migrating to or importing from (id) in *m.
func openSlot(m *map[int]string, slot, id string) error {
	n, err := strconv.Atoi(slot)
	if err != nil {
		return err
	}
	if *m == nil {
		*m = map[int]string{}
	}
	(*m)[n] = id
	return nil
}

// ParseClusterNodes parses the text of CLUSTER NODES.
func ParseClusterNodes(text string) (ClusterView, error) {
	v := ClusterView{Nodes: map[string]NodeInfo{}}
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 8 {
			return ClusterView{}, fmt.Errorf("parse CLUSTER NODES line %q: too few fields", line)
		}
		n := NodeInfo{ID: f[0], Flags: strings.Split(f[2], ","), Connected: f[7] == "connected"}
		addr := f[1]
		if i := strings.IndexByte(addr, ','); i >= 0 { // ip:port@cport,hostname
			addr = addr[:i]
		}
		hp, bus, _ := strings.Cut(addr, "@")
		n.Addr = hp
		n.BusPort, _ = strconv.Atoi(bus)
		if f[3] != "-" {
			n.PrimaryID = f[3]
		}
		for _, s := range f[8:] {
			if strings.HasPrefix(s, "[") {
				body := strings.Trim(s, "[]")
				var err error
				if a, b, ok := strings.Cut(body, "->-"); ok {
					err = openSlot(&n.Migrating, a, b)
				} else if a, b, ok := strings.Cut(body, "-<-"); ok {
					err = openSlot(&n.Importing, a, b)
				}
				if err != nil {
					return ClusterView{}, fmt.Errorf("parse open slot %q: %w", s, err)
				}
				continue
			}
			rs, err := topology.ParseRanges(s)
			if err != nil {
				return ClusterView{}, fmt.Errorf("parse CLUSTER NODES slots: %w", err)
			}
			n.Slots = append(n.Slots, rs...)
		}
		n.Slots = n.Slots.Normalize()
		v.Nodes[n.ID] = n
		if n.Has("myself") {
			v.Myself = n
		}
	}
	if v.Myself.ID == "" {
		return ClusterView{}, fmt.Errorf("parse CLUSTER NODES: no myself line")
	}
	return v, nil
}
