// Package stopped tells a node the cluster still lists but that is gone
// from one that is only slow to answer, where the difference is clear
// enough to act on at once.
package stopped

import (
	"context"

	"github.com/dayops/dayops/internal/redis/clusteradmin"
)

// Slotless reports whether node id of v is a primary owning no slot that
// v's node has no link to and that does not answer (one look): most likely
// a node that stopped before the cluster flagged it, e.g. one that stepped
// aside as its Pod was deleted (package instance/stepaside) and exited
// before every node heard it had become a replica; Redis flags it failed
// only cluster-node-timeout later. Callers pass over it instead of retrying
// its address (Admin.View retries for RetryFor): it has no slot of its own
// to move or close.
func Slotless(ctx context.Context, a *clusteradmin.Admin, v clusteradmin.ClusterView, id string) bool {
	n, ok := v.Nodes[id]
	if !ok || id == v.Myself.ID || !n.IsPrimary() || len(n.Slots) > 0 || n.Connected {
		return false
	}
	_, err := a.ViewOnce(ctx, n.Addr)
	return err != nil
}
