package failover_test

import (
	"testing"
	"time"

	"github.com/dayops/dayops/internal/redis/failover"
	"github.com/dayops/dayops/internal/testutil/redistest"
)

// A primary is SIGKILLed and, before Redis fails it over, a new empty
// cluster node starts at its address (Kubernetes gave its IP to another Pod
// of the cluster). The other nodes hear another node ID there and flag the
// primary noaddr; Redis never flags a node without an address failed, so
// its replica is never promoted (checked over three cluster-node-timeouts)
// and the shard serves nothing. TakeOverUnaddressed promotes it; every
// write it had acknowledged (WAIT 1) reads back. A replica whose primary
// has an address is left alone.
func TestTakeOverUnaddressed(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c := redistest.New(t, redistest.Options{Primaries: 3, ReplicasPerPrimary: 1})
	p, r := c.Nodes()[0], c.Nodes()[3]
	if res, err := failover.TakeOverUnaddressed(ctx, c.Admin, r.Addr, time.Minute); err != nil || res.Attempts != 0 {
		t.Fatalf("a replica of a live primary: %+v (%v), want left alone", res, err)
	}
	pID, err := c.NodeID(ctx, p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	cc := c.ClusterClient()
	defer cc.Close()
	w := redistest.StartWriter(ctx, cc, redistest.WriterOptions{Keys: 2000, Workers: 2, WaitReplicas: 1})
	redistest.WaitFor(t, time.Minute, "writes", func() bool { return w.Stats().Acked > 3000 })
	p.Kill()
	st := w.Stop()
	// The replica's reconnects to the address fail AUTH, as the instance
	// manager's link guard makes them (a masterauth no node accepts).
	if err := c.Admin.Client(r.Addr).ConfigSet(ctx, "masterauth", "no-node-accepts-this").Err(); err != nil {
		t.Fatal(err)
	}
	redistest.StartAgain(t, t.TempDir(), p.Port, p.BusPort)
	redistest.WaitFor(t, 30*time.Second, "the replica to name its primary without an address", func() bool {
		v, err := c.Admin.View(ctx, r.Addr)
		n, ok := v.Nodes[pID]
		return err == nil && ok && n.Has("noaddr")
	})
	time.Sleep(15 * time.Second)
	if role, err := c.Admin.Role(ctx, r.Addr); err != nil || role.Role != "replica" {
		t.Fatalf("the replica is %s (%v) before the takeover, want replica: Redis promoted it after all", role.Role, err)
	}
	res, err := failover.TakeOverUnaddressed(ctx, c.Admin, r.Addr, time.Minute)
	if err != nil || res.Attempts != 1 || res.AlreadyPrimary {
		t.Fatalf("%+v: %v, want taken over", res, err)
	}
	checked := verifyServed(t, c, w, st)
	t.Logf("%+v; %d keys verified, %d acknowledged writes, 0 lost", res, checked, st.Acked)
}
