package readdress_test

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dayops/dayops/internal/redis/clusteradmin/readdress"
	"github.com/dayops/dayops/internal/testutil/redistest"
)

// TestRepairNodesBackAtNewAddresses: a shard's primary and replica go down
// together and come back with their IDs at new addresses, the replica at
// the primary's old one (Kubernetes reuses Pod IPs). The replica keeps
// replicating "its primary" at its own address; Repair meets it with the
// primary where it is, and the replica syncs.
func TestRepairNodesBackAtNewAddresses(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not installed")
	}
	ctx := t.Context()
	c := redistest.New(t, redistest.Options{Primaries: 3, ReplicasPerPrimary: 1})
	p, r := c.Nodes()[0], c.Nodes()[3]
	pID, rID := myID(ctx, t, p.Addr), myID(ctx, t, r.Addr)
	oldPort, oldBus := p.Port, p.BusPort
	p.Kill()
	r.Kill()
	// The replica at the primary's old address, the primary at a new one.
	rAddr := redistest.StartAgain(t, r.Dir, oldPort, oldBus)
	pAddr := redistest.StartAgain(t, p.Dir, redistest.FreePort(t), redistest.FreePort(t))
	time.Sleep(7 * time.Second) // past cluster-node-timeout: what gossip fixes by itself is fixed
	t.Logf("before: the replica replicates %s", redistest.MasterOf(ctx, rAddr))

	addrs := append(c.Addrs()[1:3], c.Addrs()[4:]...)
	addrs = append(addrs, pAddr, rAddr)
	sent, err := readdress.Repair(ctx, c.Admin, addrs, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("repair sent %d MEETs", sent)
	redistest.WaitFor(t, 30*time.Second, "the replica to sync from the primary at its new address", func() bool {
		return redistest.MasterOf(ctx, rAddr) == pAddr+" up"
	})
	if got := myID(ctx, t, rAddr); got != rID {
		t.Errorf("the replica came back as %s, want %s", got, rID)
	}
	if got := myID(ctx, t, pAddr); got != pID {
		t.Errorf("the primary came back as %s, want %s", got, pID)
	}
	// Nothing left to repair.
	if sent, err := readdress.Repair(ctx, c.Admin, addrs, nil); err != nil || sent != 0 {
		t.Errorf("a second repair sent %d MEETs (%v), want none", sent, err)
	}
}

func client(addr string) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true})
}

func myID(ctx context.Context, t *testing.T, addr string) string {
	t.Helper()
	cl := client(addr)
	defer cl.Close()
	id, err := cl.Do(ctx, "cluster", "myid").Text()
	if err != nil {
		t.Fatal(err)
	}
	return id
}
