package guardian

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dayops/dayops/internal/guard"
	"github.com/dayops/dayops/internal/redis/misconf"
	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/testutil/redistest"
)

// TestADiskErrorIsSweptAtOnce (real redis-servers, AOF): a primary whose
// volume fills up says so in the INFO every observation reads (DiskError;
// the others do not), and the sweep that tells its refusal (MISCONF) comes
// refusalRecheck after instead of a HoldSweep (here an hour) later: the
// look after next reports the primary refusing writes.
func TestADiskErrorIsSweptAtOnce(t *testing.T) {
	t.Parallel()
	c, targets, pool := startCluster(t, "--appendonly", "yes", "--appendfsync", "everysec")
	ctx := t.Context()
	unmount, err := c.Nodes()[0].MoveToSmallDisk(ctx, 2<<20)
	if errors.Is(err, redistest.ErrNoMount) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(unmount)
	a := &Activities{Passwords: noPassword{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), HoldSweep: time.Hour,
		Metrics: NewMetrics(prometheus.NewRegistry())}
	obs := Observation{Spec: &spec.Cluster{Name: "holds"}, Input: guard.Input{Nodes: map[int]guard.Node{}},
		Assessment: guard.Assessment{State: guard.StateHealthy}}
	var mem viewMemory
	for _, ht := range holdTargetsOf(t, c) {
		obs.Input.Pods = append(obs.Input.Pods, guard.Pod{Ordinal: ht.Ordinal, Shard: ht.Shard, Addr: ht.Addr})
	}
	look := func() swept {
		ro := observeRedis(ctx, pool, targets, &mem)
		obs.Input.Nodes = ro.Nodes
		return a.sweepHolds(ctx, "default", "holds", obs)
	}
	if sw := look(); len(sw.refused) != 0 {
		t.Fatalf("the first sweep found %v refusing writes", sw.refused)
	}
	fillUntilRefused(t, c)
	for o, n := range observeRedis(ctx, pool, targets, &mem).Nodes {
		if n.DiskError != (o == 0) {
			t.Fatalf("ordinal %d: disk error %v, want %v", o, n.DiskError, o == 0)
		}
	}
	time.Sleep(refusalRecheck)
	if sw := look(); len(sw.refused) != 0 {
		t.Fatalf("the look that first saw the refusal reported %v: want it on the next", sw.refused)
	}
	time.Sleep(refusalRecheck)
	if sw := look(); len(sw.refused) != 1 || sw.refused[0].Ordinal != 0 {
		t.Fatalf("the next look reported %+v, want ordinal 0 refusing writes", sw.refused)
	}
}

// fillUntilRefused writes 16 KB values into a slot of the first node of c
// until it refuses a write with MISCONF.
func fillUntilRefused(t *testing.T, c *redistest.Cluster) {
	t.Helper()
	ctx := t.Context()
	owner := c.Pool.Client(c.Nodes()[0].Addr)
	// Moved to its small disk, the node restarted: the cluster serves again
	// once it has seen it back.
	redistest.WaitFor(t, time.Minute, "the cluster to serve", func() bool {
		info, err := owner.ClusterInfo(ctx).Result()
		return err == nil && strings.Contains(info, "cluster_state:ok")
	})
	v, err := c.Admin.ViewOnce(ctx, c.Nodes()[0].Addr)
	if err != nil {
		t.Fatal(err)
	}
	tag := ""
	for i := 0; tag == ""; i++ {
		if s, err := owner.ClusterKeySlot(ctx, fmt.Sprintf("d%d", i)).Result(); err == nil && v.Myself.Slots.Contains(int(s)) {
			tag = fmt.Sprintf("{d%d}", i)
		}
	}
	big := strings.Repeat("v", 16<<10)
	for i := range 100000 {
		err := owner.Set(ctx, fmt.Sprintf("%sfill:%d", tag, i), big, 0).Err()
		if misconf.Refuses(err) {
			return
		}
		if err != nil {
			t.Fatalf("fill: %v", err)
		}
	}
	t.Fatal("the primary never refused a write")
}
