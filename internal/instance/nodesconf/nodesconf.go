// Package nodesconf reads a Redis Cluster node's nodes.conf (the same
// lines as CLUSTER NODES): what the in-Pod instance manager knows of a
// node before its redis-server starts, its role, slots, open slot moves
// and replicas.
package nodesconf

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/dayops/dayops/internal/instance/handoff"
)

// Node is one line of nodes.conf (or of CLUSTER NODES).
type Node struct {
	ID       string
	Addr     string // ip:port (the bus port and hostname stripped)
	Flags    []string
	MasterID string // "" for a primary
	Slots    int    // slot-range fields (ranges, not slots: >0 means it owns slots)
	// OpenSlots counts the [slot->-id] and [slot-<-id] fields: slots this
	// node is migrating or importing (only on the "myself" line); Open
	// lists them.
	OpenSlots int
	Open      []OpenSlot
}

// OpenSlot is a slot a node is migrating (To) or importing (From).
type OpenSlot = handoff.OpenSlot

// Myself reports the "myself" flag.
func (n Node) Myself() bool { return slices.Contains(n.Flags, "myself") }

// Primary reports the "master" flag.
func (n Node) Primary() bool { return slices.Contains(n.Flags, "master") }

// Failed reports "fail" or "noaddr".
func (n Node) Failed() bool {
	return slices.Contains(n.Flags, "fail") || slices.Contains(n.Flags, "noaddr")
}

// Parse reads the node lines of nodes.conf or CLUSTER NODES; the
// "vars" line and blank lines are skipped.
func Parse(b []byte) ([]Node, error) {
	var out []Node
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || f[0] == "vars" {
			continue
		}
		if len(f) < 8 {
			return nil, fmt.Errorf("nodes.conf: short line %q", sc.Text())
		}
		addr, _, _ := strings.Cut(f[1], "@")
		addr, _, _ = strings.Cut(addr, ",")
		n := Node{ID: f[0], Addr: addr, Flags: strings.Split(f[2], ",")}
		if f[3] != "-" {
			n.MasterID = f[3]
		}
		for _, s := range f[8:] {
			if strings.HasPrefix(s, "[") { // [slot->-id] are open migrations
				o, err := handoff.ParseOpenSlot(s)
				if err != nil {
					return nil, err
				}
				n.OpenSlots++
				n.Open = append(n.Open, o)
			} else {
				n.Slots++
			}
		}
		out = append(out, n)
	}
	return out, sc.Err()
}

// Read reads a node's nodes.conf; ok is false when it does not exist
// (a node that has never run).
func Read(path string) (nodes []Node, ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read nodes.conf: %w", err)
	}
	nodes, err = Parse(b)
	if err != nil {
		return nil, false, err
	}
	return nodes, true, nil
}

// Self returns the "myself" line.
func Self(nodes []Node) (Node, bool) {
	for _, n := range nodes {
		if n.Myself() {
			return n, true
		}
	}
	return Node{}, false
}

// ReplicasOf lists the nodes that replicate id.
func ReplicasOf(nodes []Node, id string) []Node {
	var out []Node
	for _, n := range nodes {
		if n.MasterID == id && !n.Myself() {
			out = append(out, n)
		}
	}
	return out
}
