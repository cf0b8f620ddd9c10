// Package readdress repairs what the cluster bus may leave wrong when
// nodes come back with their IDs at new addresses: a node that knows
// another by ID at its old address.
package readdress

import (
	"context"
	"fmt"
	"net"
	"strconv"

	"github.com/dayops/dayops/internal/redis/clusteradmin"
)

// Repair has each node of addrs that answers meet every node of addrs it
// knows at another address than the one given, and returns how many MEETs
// it sent. A node that came back with its ID on a new Pod (a new IP) is
// known by that ID at its old address; the cluster bus corrects that
// through gossip only for nodes it flags failing, and not at all when the
// old address answers with another node (Kubernetes gave the IP to another
// Pod). Seen: a shard's two instances recreated together, the replica
// given the primary's old IP, still replicating "its primary" at its own
// address five minutes later, and the fenced primary waiting its whole
// timeout for a replica it looked for at the old address. A MEET of a known
// node at its new address makes the handshake update the address (and a
// replica's replication target).
//
// ids gives the node ID at an address whose node does not answer (a fenced
// node refuses the cluster's password, so it cannot tell its ID; it is met
// at its port + 10000, dayops' bus port); a node that neither answers nor
// is named in ids is left alone.
func Repair(ctx context.Context, a *clusteradmin.Admin, addrs []string, ids map[string]string) (int, error) {
	views := map[string]clusteradmin.ClusterView{}
	at := map[string]string{} // node ID -> address given
	for _, addr := range addrs {
		v, err := a.View(ctx, addr)
		switch {
		case err == nil:
			views[addr] = v
			at[v.Myself.ID] = addr
		case clusteradmin.IsAuthError(err):
			if id := ids[addr]; id != "" {
				at[id] = addr
			}
		default:
			return 0, fmt.Errorf("readdress: %w", err)
		}
	}
	sent := 0
	for _, from := range addrs {
		v, ok := views[from]
		if !ok {
			continue
		}
		for id, to := range at {
			n, known := v.Nodes[id]
			if !known || id == v.Myself.ID || n.Addr == to {
				continue
			}
			host, p, err := net.SplitHostPort(to)
			if err != nil {
				return sent, fmt.Errorf("readdress: address %q: %w", to, err)
			}
			port, _ := strconv.Atoi(p)
			args := []any{"cluster", "meet", host, port}
			if tv, ok := views[to]; ok && tv.Myself.BusPort > 0 {
				args = append(args, tv.Myself.BusPort)
			}
			if err := a.Client(from).Do(ctx, args...).Err(); err != nil {
				return sent, fmt.Errorf("readdress: meet %s from %s: %w", to, from, err)
			}
			a.Logger().InfoContext(ctx, "a node knew another at an old address: met it at the new one",
				"node", from, "other", id, "old", n.Addr, "new", to)
			sent++
		}
	}
	return sent, nil
}
