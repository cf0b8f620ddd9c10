package failover_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/redis/clusteradmin"
	"github.com/dayops/dayops/internal/redis/failover"
	"github.com/dayops/dayops/internal/testutil/redistest"
)

// A primary is SIGKILLed and, before Redis fails it over, a new empty
// cluster node starts at its address (Kubernetes gave its IP to another Pod
// of the cluster). The other nodes hear another node ID there and flag the
// primary noaddr; Redis never flags a node without an address failed, so
// its replica is never promoted (checked over three cluster-node-timeouts)
// and the shard serves nothing. TakeOverUnelectable promotes it; every
// write it had acknowledged (WAIT 1) reads back. A replica whose primary
// has an address is left alone.
func TestTakeOverUnaddressed(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c := redistest.New(t, redistest.Options{Primaries: 3, ReplicasPerPrimary: 1})
	p, r := c.Nodes()[0], c.Nodes()[3]
	if res, err := failover.TakeOverUnelectable(ctx, c.Admin, r.Addr, 0, time.Minute); err != nil || res.Attempts != 0 {
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
	res, err := failover.TakeOverUnelectable(ctx, c.Admin, r.Addr, 0, time.Minute)
	if err != nil || res.Attempts != 1 || res.AlreadyPrimary || res.Why != failover.Unaddressed {
		t.Fatalf("%+v: %v, want taken over (unaddressed)", res, err)
	}
	checked := verifyServed(t, c, w, st)
	t.Logf("%+v; %d keys verified, %d acknowledged writes, 0 lost", res, checked, st.Acked)
}

// Most primaries are SIGKILLed at once: 2 and 3 of 3 (a Kubernetes node
// that held them lost), the one primary of a 1-shard cluster, one of a
// 2-shard cluster. Redis flags a node failed only on the reports of a
// majority of the primaries owning slots, and elects a replica only on
// their votes: with no majority left, no replica is promoted (checked over
// three cluster-node-timeouts) and the cluster serves nothing.
// TakeOverUnelectable promotes replicas (no majority) until a majority is
// live; then it leaves the rest to Redis, which flags their lost primaries
// failed and elects them. Every write acknowledged (WAIT 1) reads back.
// With wait (2 of 3 lost, waiting), each replica is asked right after the
// kill, before it has flagged anything: the first takes over as soon as
// its view shows its primary failing (one cluster-node-timeout, 5 s), the
// second is then elected by Redis while it waits.
func TestTakeOverWithoutAMajority(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		primaries, lose int
		wait            time.Duration
	}{{3, 2, 0}, {3, 3, 0}, {1, 1, 0}, {2, 1, 0}, {3, 2, 20 * time.Second}} {
		name := fmt.Sprintf("%d of %d lost", tc.lose, tc.primaries)
		if tc.wait > 0 {
			name += ", waiting"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			takeOverWithoutAMajority(t, tc.primaries, tc.lose, tc.wait)
		})
	}
}

func takeOverWithoutAMajority(t *testing.T, primaries, lose int, wait time.Duration) {
	ctx := t.Context()
	c := redistest.New(t, redistest.Options{Primaries: primaries, ReplicasPerPrimary: 1})
	nodes := c.Nodes()
	cc := c.ClusterClient()
	defer cc.Close()
	w := redistest.StartWriter(ctx, cc, redistest.WriterOptions{Keys: 2000, Workers: 2, WaitReplicas: 1})
	redistest.WaitFor(t, time.Minute, "writes", func() bool { return w.Stats().Acked > 3000 })
	for _, p := range nodes[:lose] {
		p.Kill()
	}
	st := w.Stop()
	replicas := nodes[primaries : primaries+lose]
	if wait == 0 {
		redistest.WaitFor(t, 30*time.Second, "the replica to flag its primary failing", func() bool {
			v, err := c.Admin.View(ctx, replicas[0].Addr)
			return err == nil && failover.Unelectable(v) == failover.NoMajority
		})
		time.Sleep(15 * time.Second)
		for _, r := range replicas {
			if role, err := c.Admin.Role(ctx, r.Addr); err != nil || role.Role != "replica" {
				t.Fatalf("%s is %s (%v) before the takeover, want replica: Redis promoted it after all", r.Addr, role.Role, err)
			}
		}
	}
	// Taken over until a majority is live, then left to Redis (a replica
	// may take over too if its view has not heard of the takeovers yet).
	needed := primaries/2 + 1 - (primaries - lose)
	for i, r := range replicas {
		began := time.Now()
		res, err := failover.TakeOverUnelectable(ctx, c.Admin, r.Addr, wait, time.Minute)
		if err != nil || (i < needed && res.Attempts != 1) || (res.Attempts == 1 && res.Why != failover.NoMajority) {
			t.Fatalf("replica %d of %d: %+v (%v), want taken over (no majority)", i+1, lose, res, err)
		}
		t.Logf("replica %d: %+v in %s", i+1, res, time.Since(began).Round(time.Millisecond))
	}
	for _, r := range replicas {
		redistest.WaitFor(t, 30*time.Second, "every replica primary", func() bool {
			role, err := c.Admin.Role(ctx, r.Addr)
			return err == nil && role.Role == "primary"
		})
	}
	// Every live node agrees on the slots' owners before a fresh client
	// reads them (a view that still named a killed primary sent it there).
	if _, err := c.Admin.WaitConverged(ctx, clusteradmin.WaitConvergedInput{Addrs: c.Addrs(), RequireStateOK: true, Timeout: 30 * time.Second}); err != nil {
		t.Fatal(err)
	}
	checked := verifyServed(t, c, w, st)
	t.Logf("%d keys verified, %d acknowledged writes, 0 lost; the last replica's promotion: %s", checked, st.Acked, replicas[lose-1].Promotion())
}
