package guardian

import (
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dayops/dayops/internal/guard"
	"github.com/dayops/dayops/internal/topology"
)

// TestObserveRedisHungPrimaryPromoted: a primary hangs (SIGSTOP) until
// Redis promotes its replica. Observations every 500 ms, as the watch
// makes them: the first observation that starts after the promotion
// relabels the replica primary and the hung one replica, and the hung
// node, whose Kubernetes node is Ready, is never taken for lost. How long
// each observation takes while the node hangs (the bound this change is
// about: 2 s each before it, 0.5 s after) is logged, not asserted; the
// Service's delay is measured by the e2e freeze scenario.
func TestObserveRedisHungPrimaryPromoted(t *testing.T) {
	ctx := t.Context()
	c, targets, pool := startCluster(t, "--cluster-node-timeout", "2000")
	var mem viewMemory
	ids := nodeIDs(observeRedis(ctx, pool, targets, &mem).Nodes)
	pid := c.Nodes()[2].Pid()
	watcher := redis.NewClient(&redis.Options{Addr: targets[5].Addr})
	t.Cleanup(func() { _ = watcher.Close() })
	stopped := time.Now()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
	promoted := make(chan time.Time, 1)
	go func() {
		for ctx.Err() == nil {
			if r, _ := watcher.Do(ctx, "role").Slice(); len(r) > 0 && r[0] == "master" {
				promoted <- time.Now()
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	var at time.Time // the promotion, once seen
	deadline := time.Now().Add(30 * time.Second)
	for tick := 0; ; tick++ {
		start := time.Now()
		ro := observeRedis(ctx, pool, targets, &mem)
		as := guard.Assess(input(ro.Nodes, ids, nil))
		t.Logf("tick %d: +%v, took %v: ordinal 2 answers %v, relabel %v",
			tick, start.Sub(stopped).Round(time.Millisecond), time.Since(start).Round(time.Millisecond), ro.Nodes[2].Reachable, as.Relabel)
		if ro.Nodes[2].Reachable || len(as.Lost) > 0 {
			t.Fatalf("tick %d: the hung instance answers (%v) or is lost (%+v)", tick, ro.Nodes[2].Reachable, as.Lost)
		}
		if as.Relabel[5] == topology.RolePrimary {
			if as.Relabel[2] != topology.RoleReplica {
				t.Errorf("relabel %v: the hung primary must be labelled replica", as.Relabel)
			}
			return
		}
		if !at.IsZero() {
			t.Fatalf("tick %d started %v after Redis promoted ordinal 5 and did not see it", tick, start.Sub(at))
		}
		select {
		case at = <-promoted:
			t.Logf("Redis promoted ordinal 5 at +%v", at.Sub(stopped).Round(time.Millisecond))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("not promoted within 30s")
		}
		time.Sleep(500 * time.Millisecond)
	}
}
