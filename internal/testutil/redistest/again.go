package redistest

import (
	"context"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dayops/dayops/internal/redis/clusteradmin"
	"github.com/dayops/dayops/internal/testutil/porthold"
)

// StartAgain starts a redis-server on a stopped node's directory (its
// nodes.conf; its AOF when config turns AOF on) at port and bus: the node
// back at another address, as a recreated Pod with a new IP, or at another
// node's old one. The test's cleanup kills it. It returns the address.
func StartAgain(t testing.TB, dir string, port, bus int, config ...string) string {
	t.Helper()
	porthold.Release(port)
	porthold.Release(bus)
	args := append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--protected-mode", "no",
		"--cluster-enabled", "yes", "--cluster-port", strconv.Itoa(bus), "--cluster-config-file", filepath.Join(dir, "nodes.conf"),
		"--cluster-node-timeout", "5000", "--dir", dir, "--save", "", "--appendonly", "no", "--logfile", filepath.Join(dir, "again.log")},
		config...)
	cmd := exec.Command("redis-server", args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	WaitFor(t, 10*time.Second, addr+" to answer", func() bool {
		cl := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true})
		defer cl.Close()
		return cl.Ping(context.Background()).Err() == nil
	})
	return addr
}

// MasterOf is a replica's "master_host:master_port link-status" (a message
// saying so when it does not answer).
func MasterOf(ctx context.Context, addr string) string {
	kv := Info(ctx, addr, "replication")
	if len(kv) == 0 {
		return "no answer from " + addr
	}
	return net.JoinHostPort(kv["master_host"], kv["master_port"]) + " " + kv["master_link_status"]
}

// FreePort is a port free on 127.0.0.1 now.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Info is one INFO section of the server at addr as a map (empty when it
// does not answer).
func Info(ctx context.Context, addr, section string) map[string]string {
	cl := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true})
	defer cl.Close()
	s, err := cl.Info(ctx, section).Result()
	if err != nil {
		return map[string]string{}
	}
	return clusteradmin.ParseInfo(s)
}

// WaitAOFWritten waits until the server at addr has no AOF rewrite running
// or scheduled. After a full resync a replica rewrites its AOF from the
// snapshot and until that ends its AOF on disk is the one from before the
// sync (see internal/instance/aofrepair): a test that kills a replica to
// restart it on its own data waits for this first.
func WaitAOFWritten(t testing.TB, addr string) {
	t.Helper()
	WaitFor(t, 60*time.Second, addr+"'s AOF rewrite to end", func() bool {
		kv := Info(context.Background(), addr, "persistence")
		return kv["loading"] == "0" && kv["aof_rewrite_in_progress"] == "0" && kv["aof_rewrite_scheduled"] == "0"
	})
}
