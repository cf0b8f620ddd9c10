package instance_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dayops/dayops/internal/instance"
	"github.com/dayops/dayops/internal/testutil/redistest"
)

// TestFollowRedisNeverCompletes: a former primary whose replica in
// nodes.conf is a primary now decides to follow it, and Redis never makes
// it that primary's replica (here the "replica" is a primary of a cluster
// of its own that never claims the slots with a newer epoch: the bus never
// tells the fenced node to step down; in the suite, a node left with slots
// or load-time importing states Redis' demotion does not cover). Before,
// it stayed fenced (WRONGPASS to everyone) for FollowLimit, restarted, and
// stayed so again: the shard short of a replica for good.
//
//   - "the manager steps it down": every slot it holds keys of is the new
//     primary's: after StepDownAfter the manager discards its keys, drops
//     its slots and sends CLUSTER REPLICATE; it serves as the new
//     primary's replica, the marker and the decision's reason say so.
//   - "its keys have no other owner": the new primary owns half of the
//     slots; the node's keys of the other half may be the only copy: it is
//     not touched, and after FollowLimit the manager gives up (redis-server
//     stopped, an error: the container restarts and the fence begins
//     again).
func TestFollowRedisNeverCompletes(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not installed")
	}
	for name, tc := range map[string]struct {
		primaryLast int // the new primary owns slots 0..primaryLast
		stepsDown   bool
	}{
		"the manager steps it down":    {primaryLast: 16383, stepsDown: true},
		"its keys have no other owner": {primaryLast: 8191},
	} {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			pPort, pBus, pID := startPrimary(t, tc.primaryLast)
			// The fenced node: 200 keys in its RDB, and a nodes.conf that
			// says it was the primary of every slot, with that node as its
			// replica, at a newer epoch than the other's.
			aPort, aBus, aDir := freePort(t), freePort(t), t.TempDir()
			writeRDB(t, aDir, 200)
			aID := strings.Repeat("a", 40)
			conf := fmt.Sprintf("%s 127.0.0.1:%d@%d myself,master - 0 0 1 connected 0-16383\n"+
				"%s 127.0.0.1:%d@%d slave %s 0 0 1 connected\nvars currentEpoch 1 lastVoteEpoch 0\n",
				aID, aPort, aBus, pID, pPort, pBus, aID)
			if err := os.WriteFile(filepath.Join(aDir, "nodes.conf"), []byte(conf), 0o644); err != nil {
				t.Fatal(err)
			}
			rctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			began := time.Now()
			var served *instance.Marker
			err := instance.Run(rctx, instance.Options{
				Args: []string{"redis-server", "--port", strconv.Itoa(aPort), "--cluster-port", strconv.Itoa(aBus), "--bind", "127.0.0.1",
					"--dir", aDir, "--save", "", "--appendonly", "no", "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
					"--logfile", filepath.Join(aDir, "redis.log")},
				FollowLimit: 3 * time.Second, Stdout: io.Discard, Stderr: io.Discard,
				OnServe: func(m instance.Marker) { served = &m; cancel() },
			})
			took := time.Since(began)
			if !tc.stepsDown {
				if served != nil {
					t.Fatalf("the fence was lifted (%+v) although the node's keys of slots 8192-16383 have no other owner", served.Decision)
				}
				if err == nil || !strings.Contains(err.Error(), "not a replica of the new primary") {
					t.Fatalf("Run = %v after %s, want the follow's failure", err, took)
				}
				t.Logf("Run gave up after %s: %v", took.Round(100*time.Millisecond), err)
				return
			}
			if served == nil {
				t.Fatalf("Run = %v after %s; the fence was never lifted", err, took)
			}
			sd := served.StepDown
			if sd == nil || sd.Error != "" || sd.Discarded != 200 || sd.Unassigned != 16384 || served.Role != "replica" {
				t.Fatalf("marker: step-down %+v, role %q; want 200 keys discarded, 16384 slots given up, a replica", sd, served.Role)
			}
			if !strings.Contains(served.Decision.Reason, "the manager did") {
				t.Errorf("decision reason %q does not say the manager made it a replica", served.Decision.Reason)
			}
			t.Logf("served after %s as a replica: %s", took.Round(100*time.Millisecond), served.Decision.Reason)
		})
	}
}

// startPrimary starts a one-node cluster that owns slots 0..last: the
// promoted "replica".
func startPrimary(t *testing.T, last int) (port, bus int, id string) {
	t.Helper()
	ctx := t.Context()
	port, bus = freePort(t), freePort(t)
	dir := t.TempDir()
	p := exec.Command("redis-server", "--port", strconv.Itoa(port), "--cluster-port", strconv.Itoa(bus), "--bind", "127.0.0.1", "--dir", dir, "--save", "",
		"--appendonly", "no", "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--logfile", filepath.Join(dir, "redis.log"))
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Process.Kill(); _ = p.Wait() })
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), Protocol: 2, DisableIdentity: true})
	defer c.Close()
	redistest.WaitFor(t, 10*time.Second, "the promoted replica answers", func() bool { return c.Ping(ctx).Err() == nil })
	if err := c.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", 0, last).Err(); err != nil {
		t.Fatal(err)
	}
	id, err := c.Do(ctx, "CLUSTER", "MYID").Text()
	if err != nil {
		t.Fatal(err)
	}
	return port, bus, id
}

// writeRDB leaves dir/dump.rdb with n keys (k0..), written by a plain
// redis-server.
func writeRDB(t *testing.T, dir string, n int) {
	t.Helper()
	ctx := t.Context()
	port := freePort(t)
	s := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no")
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Process.Kill(); _ = s.Wait() }()
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), Protocol: 2, DisableIdentity: true})
	defer c.Close()
	redistest.WaitFor(t, 10*time.Second, "redis-server answers", func() bool { return c.Ping(ctx).Err() == nil })
	for i := range n {
		if err := c.Set(ctx, fmt.Sprintf("k%d", i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Save(ctx).Err(); err != nil {
		t.Fatal(err)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	_, port, err := net.SplitHostPort(freeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(port)
	return n
}
