package failover

import (
	"context"
	"fmt"
	"time"

	"github.com/dayops/dayops/internal/redis/clusteradmin"
)

// TakeOverUnaddressed promotes the replica at replicaAddr (TakeOverLost)
// when its own view names its primary without an address (noaddr): the
// primary is gone and another node answered at its address (Kubernetes
// gave its IP to another Pod of the cluster before Redis failed it over).
// Redis' failure detection pings no node without an address, so it never
// flags such a primary failed and never elects a replica: the shard would
// serve nothing for good. A replica whose primary has an address is left to
// Redis, as is one that is primary already: no error, and Attempts 0 (1
// when it took over).
func TakeOverUnaddressed(ctx context.Context, a *clusteradmin.Admin, replicaAddr string, timeout time.Duration) (Result, error) {
	v, err := a.View(ctx, replicaAddr)
	if err != nil {
		return Result{}, fmt.Errorf("view of %s: %w", replicaAddr, err)
	}
	if v.Myself.IsPrimary() {
		return Result{NewPrimaryID: v.Myself.ID, AlreadyPrimary: true}, nil
	}
	if old, ok := v.Nodes[v.Myself.PrimaryID]; !ok || !old.Has("noaddr") {
		return Result{}, nil
	}
	return TakeOverLost(ctx, a, replicaAddr, timeout)
}
