package linkguard_test

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dayops/dayops/internal/instance/linkguard"
	"github.com/dayops/dayops/internal/redis/clusteradmin"
	"github.com/dayops/dayops/internal/testutil/redistest"
	"github.com/dayops/dayops/internal/testutil/syncbuf"
)

const password = "linkguard-test"

// A primary is SIGKILLed and, before anything replaces it, a new node of
// the cluster (same password, no data) starts at its address, as a Pod
// given the lost Pod's IP. The replica, its link down, keeps every key (it
// never takes the stranger's empty data set); once the primary is back at
// its address, the replica syncs from it again.
//
// Without the guard the replica takes a full resync of the stranger and
// holds 0 keys (SKIP_LINKGUARD=1: in each of four runs).
func TestAReplicaDoesNotSyncAStrangerAtItsLostPrimarysAddress(t *testing.T) {
	ctx := t.Context()
	c := redistest.New(t, redistest.Options{Primaries: 2, ReplicasPerPrimary: 1, Password: password,
		Config: []string{"--appendonly", "yes"}})
	primary, replica := c.Nodes()[0], c.Nodes()[2]
	pc := client(primary.Addr)
	rc := client(replica.Addr)
	const keys = 2000
	for i := range keys { // slot 7629 ({k}): the first primary's half
		if err := pc.Do(ctx, "set", "{k}"+strconv.Itoa(i), "v"+strconv.Itoa(i)).Err(); err != nil {
			t.Fatalf("set: %v", err)
		}
	}
	if err := pc.Do(ctx, "wait", 1, 5000).Err(); err != nil {
		t.Fatal(err)
	}
	if n := rc.DBSize(ctx).Val(); n != keys {
		t.Fatalf("replica holds %d keys before the fault, want %d", n, keys)
	}
	// Redis must not promote the replica meanwhile (the window the guard
	// covers is the one before a promotion).
	if err := rc.ConfigSet(ctx, "cluster-replica-no-failover", "yes").Err(); err != nil {
		t.Fatal(err)
	}
	var logs syncbuf.Buffer
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	if !skip() {
		go linkguard.Watch(wctx, linkguard.Options{Addr: replica.Addr, Password: password, Interval: 50 * time.Millisecond,
			Log: slog.New(slog.NewTextHandler(&logs, nil))})
	}

	primary.Kill()
	redistest.WaitFor(t, 10*time.Second, "the replica's link to go down", func() bool {
		return linkStatus(ctx, rc) == "down"
	})
	time.Sleep(200 * time.Millisecond) // the guard's look
	redistest.StartAgain(t, t.TempDir(), primary.Port, primary.BusPort)
	nc := redis.NewClient(&redis.Options{Addr: primary.Addr, Protocol: 2, DisableIdentity: true})
	if err := nc.ConfigSet(ctx, "masterauth", password).Err(); err != nil {
		t.Fatal(err)
	}
	if err := nc.ConfigSet(ctx, "requirepass", password).Err(); err != nil { // the cluster's password, as every node of it has
		t.Fatal(err)
	}
	nc.Close()
	deadline := time.Now().Add(10 * time.Second) // several of Redis' reconnects (one a second)
	for time.Now().Before(deadline) {
		if n := rc.DBSize(ctx).Val(); n != keys {
			t.Fatalf("the replica holds %d keys with a stranger at its primary's address, want its %d\nguard log:\n%s", n, keys, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "another node answers at the primary's address") {
		t.Errorf("no warning about the stranger in the guard's log:\n%s", logs.String())
	}

	// The stranger goes, the primary comes back at its address (its AOF):
	// the replica follows it again.
	sc := client(primary.Addr)
	pid, _ := strconv.Atoi(field(sc.Info(ctx, "server").Val(), "process_id"))
	sc.Close()
	if pid > 0 {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	time.Sleep(200 * time.Millisecond)
	if err := primary.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	redistest.WaitFor(t, 20*time.Second, "the replica to sync from its primary again", func() bool {
		return linkStatus(ctx, rc) == "up" && rc.DBSize(ctx).Val() == keys
	})
	t.Logf("guard log:\n%s", logs.String())
}

// linkStatus is the replica's master_link_status.
func linkStatus(ctx context.Context, c *redis.Client) string {
	return field(c.Info(ctx, "replication").Val(), "master_link_status")
}

// field reads one field of an INFO reply.
func field(info, name string) string { return clusteradmin.ParseInfo(info)[name] }

func client(addr string) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: addr, Password: password, Protocol: 2, DisableIdentity: true})
}

func skip() bool { return strings.TrimSpace(os.Getenv("SKIP_LINKGUARD")) == "1" }
