package failover

import (
	"context"
	"fmt"
	"time"

	"github.com/dayops/dayops/internal/redis/clusteradmin"
	"github.com/dayops/dayops/internal/topology"
)

// Orphaned is Result.Method for TakeOverLost.
const Orphaned = "orphaned-takeover"

// TakeOverLost promotes the replica at replicaAddr in place of its primary,
// which is lost together with its data: every instance of the shard went
// down at once and only this replica's volume kept a copy. Redis does not
// promote it by itself: a replica that started while its primary was
// already gone has no recent link to it, and Redis refuses a failover for
// data that old. TakeOverLost waits (up to timeout) until the replica's own
// view flags the primary failed or failing, or without an address (the
// primary's old address answered with another node ID: Kubernetes gave the
// IP to another Pod, often the restarted replica's own; Redis then never
// flags the primary failed, since it pings no node without an address),
// runs CLUSTER FAILOVER TAKEOVER (no vote, no
// primary needed: the replica claims the shard's slots with a new config
// epoch) and waits until it is primary and its cluster_state is ok. A
// primary that is alive is an error: this is no planned failover (Run is).
// A replica that is primary already is success.
func TakeOverLost(ctx context.Context, a *clusteradmin.Admin, replicaAddr string, timeout time.Duration) (Result, error) {
	return takeOverLost(ctx, a, replicaAddr, nil, true, timeout)
}

// takeOverLost is TakeOverLost; first, when not nil, is the replica's view
// just read, the wait's first look. Without servedWait it is done once the
// replica is primary, whatever cluster_state says (other shards may still
// want a primary).
func takeOverLost(ctx context.Context, a *clusteradmin.Admin, replicaAddr string, first *clusteradmin.ClusterView, servedWait bool, timeout time.Duration) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var res Result
	err := a.Poll(ctx, 0, "wait until the replica sees its primary failed", func(ctx context.Context) (bool, string, error) {
		var v clusteradmin.ClusterView
		if first != nil {
			v, first = *first, nil
		} else {
			var err error
			if v, err = a.View(ctx, replicaAddr); err != nil {
				return false, err.Error(), nil
			}
		}
		res = Result{NewPrimaryID: v.Myself.ID, OldPrimaryID: v.Myself.PrimaryID, Method: Orphaned}
		if v.Myself.IsPrimary() {
			res.AlreadyPrimary = true
			return true, "", nil
		}
		if old, ok := v.Nodes[res.OldPrimaryID]; ok && !old.Has("fail") && !old.Has("fail?") && !old.Has("noaddr") {
			return false, fmt.Sprintf("its primary %s is not flagged failed (flags %v)", old.Addr, old.Flags), nil
		}
		return true, "", nil
	})
	if err != nil || res.AlreadyPrimary {
		return res, err
	}
	res.Attempts = 1
	if err := a.Client(replicaAddr).Do(ctx, "cluster", "failover", "takeover").Err(); err != nil {
		return res, fmt.Errorf("CLUSTER FAILOVER TAKEOVER on %s: %w", replicaAddr, err)
	}
	err = a.Poll(ctx, 0, "wait until the replica is primary and cluster_state ok", func(ctx context.Context) (bool, string, error) {
		r, err := a.Role(ctx, replicaAddr)
		if err != nil || r.Role != topology.RolePrimary {
			return false, fmt.Sprintf("role %s (%v)", r.Role, err), nil
		}
		if !servedWait {
			return true, "", nil
		}
		info, err := a.ClusterInfo(ctx, replicaAddr)
		if err != nil || info["cluster_state"] != "ok" {
			return false, fmt.Sprintf("cluster_state %s (%v)", info["cluster_state"], err), nil
		}
		return true, "", nil
	})
	if err != nil {
		return res, fmt.Errorf("take over lost primary on %s: %w", replicaAddr, err)
	}
	a.Logger().Warn("a shard's primary was lost and Redis did not promote its replica: the replica took over with its own copy",
		"replica", replicaAddr, "lost_primary", res.OldPrimaryID)
	return res, nil
}
