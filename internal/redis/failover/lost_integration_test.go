package failover_test

import (
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/redis/failover"
	"github.com/dayops/dayops/internal/testutil/redistest"
)

// TestTakeOverLost: a shard's primary and replica both go down, the
// primary's data with it; the replica comes back alone on its own data. It
// stays a replica of the dead primary (the shard, and with full coverage
// the cluster, stays down) until TakeOverLost promotes it; every write the
// replica had acknowledged (WAIT 1) reads back.
func TestTakeOverLost(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	aof := []string{"--appendonly", "yes", "--appendfsync", "everysec"}
	c := redistest.New(t, redistest.Options{Primaries: 3, ReplicasPerPrimary: 1, Config: aof})
	p, r := c.Nodes()[0], c.Nodes()[3]
	cc := c.ClusterClient()
	defer cc.Close()
	w := redistest.StartWriter(ctx, cc, redistest.WriterOptions{Keys: 2000, Workers: 2, WaitReplicas: 1})
	redistest.WaitFor(t, time.Minute, "writes", func() bool { return w.Stats().Acked > 3000 })
	// The replica shuts down as a deleted Pod's does (SIGTERM: its AOF
	// written), then the primary dies with its data.
	pid := r.Pid()
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	redistest.WaitFor(t, 30*time.Second, "the replica to shut down", func() bool { return syscall.Kill(pid, 0) != nil })
	p.Kill()
	st := w.Stop()
	if err := os.RemoveAll(p.Dir); err != nil {
		t.Fatal(err)
	}
	if err := r.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	// Redis does not promote it by itself (checked over twice
	// cluster-node-timeout).
	time.Sleep(10 * time.Second)
	if role, err := c.Admin.Role(ctx, r.Addr); err != nil || role.Role != "replica" {
		t.Fatalf("the restarted replica is %s (%v) before the takeover, want replica", role.Role, err)
	}
	began := time.Now()
	res, err := failover.TakeOverLost(ctx, c.Admin, r.Addr, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v in %s", res, time.Since(began).Round(time.Millisecond))
	if res.AlreadyPrimary || res.Method != failover.Orphaned {
		t.Errorf("result %+v", res)
	}
	checked := verifyServed(t, c, w, st)
	t.Logf("%d keys verified, %d acknowledged writes, 0 lost", checked, st.Acked)
}

// verifyServed waits until c serves every slot, then reads back every write
// w acknowledged (st: its stats when it stopped); it returns the keys read.
func verifyServed(t *testing.T, c *redistest.Cluster, w *redistest.Writer, st redistest.WriterStats) int {
	t.Helper()
	ctx := t.Context()
	check := c.ClusterClient()
	defer check.Close()
	redistest.WaitFor(t, 30*time.Second, "the cluster serving every slot", func() bool { return check.Set(ctx, "probe", 1, 0).Err() == nil })
	checked, err := w.Verify(ctx, check)
	if err != nil || st.Lost > 0 {
		t.Fatalf("after %d keys: %v; writer %+v", checked, err, st)
	}
	return checked
}
