package readdress_test

import (
	"context"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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
	rAddr := start(t, r.Dir, oldPort, oldBus)
	pAddr := start(t, p.Dir, freePort(t), freePort(t))
	time.Sleep(7 * time.Second) // past cluster-node-timeout: what gossip fixes by itself is fixed
	t.Logf("before: the replica replicates %s", masterOf(ctx, t, rAddr))

	addrs := append(c.Addrs()[1:3], c.Addrs()[4:]...)
	addrs = append(addrs, pAddr, rAddr)
	sent, err := readdress.Repair(ctx, c.Admin, addrs, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("repair sent %d MEETs", sent)
	redistest.WaitFor(t, 30*time.Second, "the replica to sync from the primary at its new address", func() bool {
		return masterOf(ctx, t, rAddr) == pAddr+" up"
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

// start runs a redis-server on a node's directory (its nodes.conf) at a
// new port.
func start(t *testing.T, dir string, port, bus int) string {
	t.Helper()
	cmd := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--protected-mode", "no",
		"--cluster-enabled", "yes", "--cluster-port", strconv.Itoa(bus), "--cluster-config-file", filepath.Join(dir, "nodes.conf"),
		"--cluster-node-timeout", "5000", "--dir", dir, "--save", "", "--appendonly", "no", "--logfile", filepath.Join(dir, "redis-2.log"))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	redistest.WaitFor(t, 10*time.Second, addr+" to answer", func() bool { return client(addr).Ping(t.Context()).Err() == nil })
	return addr
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

// masterOf is a replica's "master_host:master_port link-status".
func masterOf(ctx context.Context, t *testing.T, addr string) string {
	cl := client(addr)
	defer cl.Close()
	s, err := cl.Info(ctx, "replication").Result()
	if err != nil {
		return err.Error()
	}
	f := map[string]string{}
	for _, l := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(l), ":"); ok {
			f[k] = v
		}
	}
	return net.JoinHostPort(f["master_host"], f["master_port"]) + " " + f["master_link_status"]
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
