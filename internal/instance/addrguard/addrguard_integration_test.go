package addrguard_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dayops/dayops/internal/instance/addrguard"
	"github.com/dayops/dayops/internal/redis/clusteradmin"
	"github.com/dayops/dayops/internal/testutil/redistest"
	"github.com/dayops/dayops/internal/topology"
)

// A shard's primary and replica stop; another shard's primary comes back at
// the primary's old address (Kubernetes gave the IP to its Pod), the
// primary at a new one. Without the guard the restarted replica takes a
// full resync of the other shard's data (seen by hand on 7.0.15). With it,
// the replica keeps the keys its AOF holds, replicates nothing until the
// primary is back, and then syncs from the primary at its new address.
func TestAReplicaDoesNotReplicateAStrangerAtItsPrimarysOldAddress(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c := redistest.New(t, redistest.Options{Primaries: 3, ReplicasPerPrimary: 1, Config: []string{"--appendonly", "yes"}})
	roles, err := c.Admin.Roles(ctx, clusteradmin.RolesInput{Addrs: c.Addrs()})
	if err != nil {
		t.Fatal(err)
	}
	byAddr := map[string]*redistest.Node{}
	for _, n := range c.Nodes() {
		byAddr[n.Addr] = n
	}
	var p, r, s *redistest.Node
	var pID string
	for _, x := range roles.Nodes {
		if x.Role == topology.RoleReplica && r == nil {
			r, pID = byAddr[x.Addr], x.PrimaryID
		}
	}
	for _, x := range roles.Nodes {
		switch {
		case x.NodeID == pID:
			p = byAddr[x.Addr]
		case x.Role == topology.RolePrimary && s == nil:
			s = byAddr[x.Addr]
		}
	}
	cc := c.ClusterClient()
	defer cc.Close()
	if err := redistest.Fill(ctx, cc, "k:", 3000, 16, 4); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Admin.WaitInSync(ctx, clusteradmin.WaitInSyncInput{ReplicaAddr: r.Addr}); err != nil {
		t.Fatal(err)
	}
	redistest.WaitAOFWritten(t, r.Addr) // else a kill leaves its AOF on the data before its sync (aofrepair)
	keys := dbsize(ctx, t, r.Addr)
	oldPort, oldBus := p.Port, p.BusPort
	p.Kill()
	r.Kill()
	s.Kill()
	redistest.StartAgain(t, s.Dir, oldPort, oldBus, "--appendonly", "yes") // another shard's primary at the primary's old address

	g, err := addrguard.Guard(ctx, filepath.Join(r.Dir, "nodes.conf"), r.Addr, "")
	if err != nil {
		t.Fatal(err)
	}
	if !g.Rewritten || g.PrimaryID != pID || g.Found == pID || g.Found == "" {
		t.Fatalf("guard = %+v, want the address rewritten (a stranger at %s)", g, p.Addr)
	}
	if again, _ := addrguard.Guard(ctx, filepath.Join(r.Dir, "nodes.conf"), r.Addr, ""); again.Rewritten {
		t.Errorf("a second guard rewrote again: %+v", again)
	}
	rAddr := redistest.StartAgain(t, r.Dir, r.Port, r.BusPort, "--appendonly", "yes")
	time.Sleep(7 * time.Second) // past the stranger's diskless-sync delay and cluster-node-timeout
	if got := dbsize(ctx, t, rAddr); got != keys {
		t.Fatalf("the replica holds %d keys, want its own %d", got, keys)
	}
	if m := redistest.MasterOf(ctx, rAddr); strings.HasPrefix(m, p.Addr) {
		t.Fatalf("the replica replicates %s: the stranger at its primary's old address", m)
	}
	pAddr := redistest.StartAgain(t, p.Dir, redistest.FreePort(t), redistest.FreePort(t), "--appendonly", "yes")
	redistest.WaitFor(t, 60*time.Second, "the replica to sync from its primary at its new address", func() bool {
		return redistest.MasterOf(ctx, rAddr) == pAddr+" up"
	})
	if got := dbsize(ctx, t, rAddr); got != keys {
		t.Errorf("after the sync the replica holds %d keys, want %d", got, keys)
	}
}

// TestGuardOwnAddress: a primary address that is this node's own (it got
// the primary's old IP) is replaced without asking anyone; a primary's or a
// replica's of a live primary nodes.conf is left alone.
func TestGuardOwnAddress(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "nodes.conf")
	conf := "aaa 10.0.0.5:6379@16379,heal-4 myself,slave bbb 0 0 3 connected\n" +
		"bbb 10.0.0.5:6379@16379,heal-5 master,fail - 0 0 3 connected 0-5460\n" +
		"vars currentEpoch 3 lastVoteEpoch 0\n"
	if err := os.WriteFile(path, []byte(conf), 0o640); err != nil {
		t.Fatal(err)
	}
	g, err := addrguard.Guard(t.Context(), path, "10.0.0.5:6379", "")
	if err != nil || !g.Rewritten || g.Found != "self" {
		t.Fatalf("guard = %+v, %v", g, err)
	}
	b, _ := os.ReadFile(path)
	want := strings.Replace(conf, "bbb 10.0.0.5:6379@16379,heal-5", "bbb "+addrguard.Placeholder+",heal-5", 1)
	if string(b) != want {
		t.Errorf("nodes.conf =\n%s\nwant\n%s", b, want)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", st.Mode().Perm())
	}
	primary := "bbb 10.0.0.9:6379@16379 myself,master - 0 0 3 connected 0-5460\n"
	if err := os.WriteFile(path, []byte(primary), 0o640); err != nil {
		t.Fatal(err)
	}
	if g, err := addrguard.Guard(t.Context(), path, "10.0.0.9:6379", ""); err != nil || g.Rewritten || g.PrimaryID != "" {
		t.Errorf("a primary's nodes.conf: %+v, %v", g, err)
	}
}

func dbsize(ctx context.Context, t *testing.T, addr string) int64 {
	t.Helper()
	cl := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true})
	defer cl.Close()
	n, err := cl.DBSize(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	return n
}
