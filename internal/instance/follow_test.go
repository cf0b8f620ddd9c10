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
)

// TestFollowThatNeverCompletes: a former primary whose replica in nodes.conf
// is a primary now decides to follow it; when it never becomes that
// primary's replica (here the "replica" is a primary of a cluster of its own
// that never claims the slots with a newer epoch: the bus never tells the
// fenced node to step down), the manager gives up after FollowLimit, stops
// redis-server and returns an error, so that the container restarts and the
// fence begins again. Before FollowLimit it followed for ever: the instance
// stayed fenced (WRONGPASS to everyone) and the cluster degraded.
func TestFollowThatNeverCompletes(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not installed")
	}
	ctx := t.Context()
	// The promoted "replica": a one-node cluster holding every slot.
	pPort, pBus, pDir := freePort(t), freePort(t), t.TempDir()
	p := exec.Command("redis-server", "--port", strconv.Itoa(pPort), "--cluster-port", strconv.Itoa(pBus), "--bind", "127.0.0.1", "--dir", pDir, "--save", "",
		"--appendonly", "no", "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--logfile", filepath.Join(pDir, "redis.log"))
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Process.Kill(); _ = p.Wait() })
	pc := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", pPort), Protocol: 2, DisableIdentity: true})
	defer pc.Close()
	waitFor(t, 10*time.Second, "the promoted replica answers", func() bool { return pc.Ping(ctx).Err() == nil })
	if err := pc.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", 0, 16383).Err(); err != nil {
		t.Fatal(err)
	}
	pID, err := pc.Do(ctx, "CLUSTER", "MYID").Text()
	if err != nil {
		t.Fatal(err)
	}

	// The fenced node: nodes.conf says it was the primary of every slot,
	// with that node as its replica, at a newer epoch than the other's.
	aPort, aBus, aDir := freePort(t), freePort(t), t.TempDir()
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
	var served bool
	err = instance.Run(rctx, instance.Options{
		Args: []string{"redis-server", "--port", strconv.Itoa(aPort), "--cluster-port", strconv.Itoa(aBus), "--bind", "127.0.0.1", "--dir", aDir, "--save", "",
			"--appendonly", "no", "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--logfile", filepath.Join(aDir, "redis.log")},
		FollowLimit: 3 * time.Second, Stdout: io.Discard, Stderr: io.Discard,
		OnServe: func(instance.Marker) { served = true },
	})
	took := time.Since(began)
	if rctx.Err() != nil {
		t.Fatalf("Run followed for %s, until the test's limit: a follow that never completes hangs the instance fenced (err %v)", took, err)
	}
	if err == nil || !strings.Contains(err.Error(), "not a replica of the new primary") {
		t.Fatalf("Run = %v, want the follow's failure", err)
	}
	if served {
		t.Error("the fence was lifted although the node never followed")
	}
	t.Logf("Run gave up after %s: %v", took.Round(100*time.Millisecond), err)
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
