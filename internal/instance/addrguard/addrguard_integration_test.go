package addrguard_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
	keys := dbsize(ctx, t, r.Addr)
	oldPort, oldBus := p.Port, p.BusPort
	p.Kill()
	r.Kill()
	s.Kill()
	start(t, s.Dir, oldPort, oldBus) // another shard's primary at the primary's old address

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
	rAddr := start(t, r.Dir, r.Port, r.BusPort)
	time.Sleep(7 * time.Second) // past the stranger's diskless-sync delay and cluster-node-timeout
	if got := dbsize(ctx, t, rAddr); got != keys {
		t.Fatalf("the replica holds %d keys, want its own %d", got, keys)
	}
	if m := masterOf(ctx, t, rAddr); strings.HasPrefix(m, p.Addr) {
		t.Fatalf("the replica replicates %s: the stranger at its primary's old address", m)
	}
	pAddr := start(t, p.Dir, freePort(t), freePort(t))
	redistest.WaitFor(t, 60*time.Second, "the replica to sync from its primary at its new address", func() bool {
		return masterOf(ctx, t, rAddr) == pAddr+" up"
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

func start(t *testing.T, dir string, port, bus int) string {
	t.Helper()
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--protected-mode", "no",
		"--cluster-enabled", "yes", "--cluster-port", strconv.Itoa(bus), "--cluster-config-file", filepath.Join(dir, "nodes.conf"),
		"--cluster-node-timeout", "5000", "--dir", dir, "--save", "", "--appendonly", "yes", "--logfile", filepath.Join(dir, "again.log"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	redistest.WaitFor(t, 10*time.Second, addr+" to answer", func() bool {
		cl := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true})
		defer cl.Close()
		return cl.Ping(t.Context()).Err() == nil
	})
	return addr
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

// masterOf is "host:port up|down" of a replica's replication link.
func masterOf(ctx context.Context, t *testing.T, addr string) string {
	t.Helper()
	cl := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true})
	defer cl.Close()
	info, err := cl.Info(ctx, "replication").Result()
	if err != nil {
		t.Fatal(err)
	}
	kv := clusteradmin.ParseInfo(info)
	return net.JoinHostPort(kv["master_host"], kv["master_port"]) + " " + kv["master_link_status"]
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
