package misconf_test

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dayops/dayops/internal/redis/clusteradmin"
	"github.com/dayops/dayops/internal/redis/failover"
	"github.com/dayops/dayops/internal/redis/misconf"
	"github.com/dayops/dayops/internal/testutil/redistest"
	"github.com/dayops/dayops/internal/testutil/syncbuf"
	"github.com/dayops/dayops/internal/topology"
)

// A primary whose volume fills up (its AOF on a 2 MB tmpfs) refuses every
// write to its slots with MISCONF and stays the shard's primary: nothing in
// Redis fails it over. The Finder reports it on the second look that finds
// it so, with its replica (whose disk is fine) as the way out; a graceful
// CLUSTER FAILOVER to that replica (what the guardian's switchover runs)
// ends the refusals, and no write the WAIT-1 writer had acknowledged is
// lost.
func TestAFullDiskIsFoundAndItsShardHandedToTheReplica(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	// The failover's attempts log why they failed; shown if the test does
	// (seen once under the whole suite's load: the second attempt's check
	// ran out of the failover's time, the first attempt's reason unknown).
	var logs syncbuf.Buffer
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("admin log:\n%s", logs.String())
		}
	})
	c := redistest.New(t, redistest.Options{Primaries: 3, ReplicasPerPrimary: 1, Log: slog.New(slog.NewTextHandler(&logs, nil)),
		Config: []string{"--appendonly", "yes", "--appendfsync", "everysec"}})
	nodes := c.Nodes()
	roles, err := c.Admin.Roles(ctx, clusteradmin.RolesInput{Addrs: c.Addrs()})
	if err != nil {
		t.Fatal(err)
	}
	in, primary, replica := instances(t, roles.Nodes)
	var full *redistest.Node
	for _, n := range nodes {
		if n.Addr == primary.Addr {
			full = n
		}
	}
	unmount, err := full.MoveToSmallDisk(ctx, 2<<20)
	if errors.Is(err, redistest.ErrNoMount) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(unmount)

	cc := c.ClusterClient()
	defer cc.Close()
	w := redistest.StartWriter(ctx, cc, redistest.WriterOptions{Keys: 3000, Workers: 2, WaitReplicas: 1, CheckPrevious: true})
	defer w.Stop()
	var f misconf.Finder
	if got, _ := f.Look(ctx, c.Pool, in); len(got) != 0 {
		t.Fatalf("a look before the disk filled found %v", got)
	}
	key := fillUntilRefused(t, cc, primary)
	if got, _ := f.Look(ctx, c.Pool, in); len(got) != 0 || !f.Pending() {
		t.Fatalf("the first look that saw the refusal reported %v (pending %v): want nothing, pending", got, f.Pending())
	}
	got, n := f.Look(ctx, c.Pool, in)
	if len(got) != 1 || got[0].Ordinal != ordinalOf(in, primary.Addr) || !slices.Equal(got[0].Replicas, []int{ordinalOf(in, replica.Addr)}) ||
		!strings.Contains(got[0].Reason, "No space left on device") {
		t.Fatalf("second look = %+v, want ordinal %d with replica %d refusing for a full disk", got, ordinalOf(in, primary.Addr), ordinalOf(in, replica.Addr))
	}
	if f.Pending() {
		t.Error("pending after the look that reported the refusal: want the usual pace again")
	}
	t.Logf("reported with %d commands: %s", n, misconf.Describe(got))

	began := time.Now()
	r, err := failover.Run(ctx, c.Admin, failover.Input{ReplicaAddr: replica.Addr, Timeout: 2 * time.Minute})
	if err != nil {
		t.Fatalf("hand the shard to the replica: %v", err)
	}
	t.Logf("handed over in %v: %+v", time.Since(began).Round(time.Millisecond), r)
	waitWritable(t, cc, key)
	w.Stop()
	checked, err := w.Verify(ctx, cc)
	if err != nil {
		t.Fatal(err)
	}
	st := w.Stats()
	t.Logf("writer: %+v; %d keys verified", st, checked)
	if st.Lost > 0 {
		t.Fatalf("%d acknowledged writes lost: %v", st.Lost, st.LostErr)
	}
}

// instances are the nodes for a look (ordinal: the node's index; shard: its
// primary's index among the primaries), a primary and its replica.
func instances(t *testing.T, roles []clusteradmin.NodeRole) (in []misconf.Instance, primary, replica clusteradmin.NodeRole) {
	t.Helper()
	shards := map[string]int{}
	for _, r := range roles {
		if r.Role == topology.RolePrimary {
			shards[r.NodeID] = len(shards)
		}
	}
	for i, r := range roles {
		x := misconf.Instance{Addr: r.Addr, Ordinal: i, Primary: r.Role == topology.RolePrimary, Shard: shards[r.NodeID]}
		if !x.Primary {
			x.Shard = shards[r.PrimaryID]
			if replica.Addr == "" {
				replica = r
			}
		}
		in = append(in, x)
	}
	for _, r := range roles {
		if r.NodeID == replica.PrimaryID {
			primary = r
		}
	}
	return in, primary, replica
}

func ordinalOf(in []misconf.Instance, addr string) int {
	for _, x := range in {
		if x.Addr == addr {
			return x.Ordinal
		}
	}
	return -1
}

// fillUntilRefused writes 16 KB values to the primary's slots until it
// answers MISCONF, and returns a key of its slots.
func fillUntilRefused(t *testing.T, cc *redis.ClusterClient, primary clusteradmin.NodeRole) string {
	t.Helper()
	ctx := t.Context()
	big := strings.Repeat("v", 16<<10)
	tag := ""
	for i := 0; tag == ""; i++ {
		s, err := cc.ClusterKeySlot(ctx, fmt.Sprintf("t%d", i)).Result()
		if err != nil {
			t.Fatal(err)
		}
		if primary.Slots.Contains(int(s)) {
			tag = fmt.Sprintf("{t%d}", i)
		}
	}
	var key string
	for i := 0; ; i++ {
		k := fmt.Sprintf("%sfill:%d", tag, i)
		key = k
		err := cc.Set(ctx, k, big, 0).Err()
		if misconf.Refuses(err) {
			t.Logf("refused after %d fill keys: %v", i, err)
			return key
		}
		if err != nil {
			t.Fatalf("fill %s: %v", k, err)
		}
		if i > 100000 {
			t.Fatal("the primary never refused a write")
		}
	}
}

// waitWritable waits until a write to key succeeds again (the cluster
// client follows the new primary).
func waitWritable(t *testing.T, cc *redis.ClusterClient, key string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		err := cc.Set(t.Context(), key, "after", 0).Err()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("writes to %s still fail after the handover: %v", key, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
