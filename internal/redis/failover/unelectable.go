package failover

import (
	"context"
	"fmt"
	"time"

	"github.com/dayops/dayops/internal/redis/clusteradmin"
)

// Why Redis will never elect a replica of a lost primary, in Result.Why.
const (
	// Unaddressed: the replica's view names its primary without an
	// address (noaddr): the primary is gone and another node answered at
	// its address (Kubernetes gave its IP to another Pod of the cluster
	// before Redis failed it over). Redis' failure detection pings no node
	// without an address, so it never flags such a primary failed.
	Unaddressed = "unaddressed"
	// NoMajority: fewer than a majority of the primaries that own slots
	// are reachable in the replica's view (a Kubernetes node that held
	// two of three primaries lost). Redis flags a node failed only on the
	// reports of a majority of those primaries, and a replica is elected
	// only on their votes: no replica of any lost primary is promoted.
	NoMajority = "no-majority"
)

// TakeOverUnelectable promotes the replica at replicaAddr (TakeOverLost)
// when its own view shows that Redis will never elect it: its primary
// named without an address (Unaddressed), or no majority of the primaries
// that own slots reachable (NoMajority). Otherwise the replica is left to
// Redis' own election, as is one that is primary already: no error, and
// Attempts 0 (1 when it took over). A view that shows neither is read
// again every pollEvery for up to wait (0: one look): the replica flags
// its lost primaries failing only cluster-node-timeout after their last
// answer, and a caller that knows them lost (their Pods gone) need not ask
// again and again until then. The view that decides serves the takeover's
// own first look. Without a majority the takeover is done once the replica
// is primary: the cluster serves again only when the other lost shards
// have a primary too, by Redis' election once a majority is live, or by
// their own takeovers.
func TakeOverUnelectable(ctx context.Context, a *clusteradmin.Admin, replicaAddr string, wait, timeout time.Duration) (Result, error) {
	deadline := time.Now().Add(wait)
	for {
		v, err := a.View(ctx, replicaAddr)
		if err != nil {
			return Result{}, fmt.Errorf("view of %s: %w", replicaAddr, err)
		}
		if v.Myself.IsPrimary() {
			return Result{NewPrimaryID: v.Myself.ID, AlreadyPrimary: true}, nil
		}
		if why := Unelectable(v); why != "" {
			res, err := takeOverLost(ctx, a, replicaAddr, &v, why != NoMajority, timeout)
			res.Why = why
			return res, err
		}
		if !time.Now().Add(pollEvery).Before(deadline) {
			return Result{}, nil
		}
		select {
		case <-ctx.Done():
			return Result{}, ctx.Err()
		case <-time.After(pollEvery):
		}
	}
}

// TakeOver is TakeOverUnelectable (waiting up to wait) when only is set,
// TakeOverLost otherwise.
func TakeOver(ctx context.Context, a *clusteradmin.Admin, replicaAddr string, only bool, wait, timeout time.Duration) (Result, error) {
	if only {
		return TakeOverUnelectable(ctx, a, replicaAddr, wait, timeout)
	}
	return TakeOverLost(ctx, a, replicaAddr, timeout)
}

// pollEvery is how often TakeOverUnelectable reads the replica's view
// again while it waits.
const pollEvery = 250 * time.Millisecond

// Unelectable says why Redis will never elect the replica whose view v is
// (Unaddressed, NoMajority), or "" when it may.
func Unelectable(v clusteradmin.ClusterView) string {
	if old, ok := v.Nodes[v.Myself.PrimaryID]; ok && old.Has("noaddr") {
		return Unaddressed
	}
	owners, reachable := 0, 0
	for _, n := range v.Nodes {
		if !n.IsPrimary() || len(n.Slots) == 0 {
			continue
		}
		owners++
		if !n.Has("fail") && !n.Has("fail?") && !n.Has("noaddr") {
			reachable++
		}
	}
	if owners > 0 && reachable < owners/2+1 {
		return NoMajority
	}
	return ""
}
