package guardian

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/guard"
	"github.com/dayops/dayops/internal/redis/clusteradmin"
	"github.com/dayops/dayops/internal/testutil/redistest"
	"github.com/dayops/dayops/internal/topology"
	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"
)

// The tests run a cluster of 3 primaries (ordinals 0-2, shards 0-2) and
// their replicas (ordinals 3-5: ordinal 3+s replicates shard s), real
// redis-server processes, and compare observeRedis with the observation it
// replaces: every instance's own CLUSTER NODES and INFO (fullObservation).

func startCluster(t *testing.T, config ...string) (*redistest.Cluster, []target, *clusteradmin.ClientPool) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts redis-server processes")
	}
	c := redistest.New(t, redistest.Options{Primaries: 3, ReplicasPerPrimary: 1, Config: config})
	var targets []target
	for i, n := range c.Nodes() {
		targets = append(targets, target{Ordinal: i, Addr: n.Addr})
	}
	// The guardian's own client options.
	pool := clusteradmin.NewClientPool(clientOptions(""))
	t.Cleanup(func() { _ = pool.Close() })
	return c, targets, pool
}

// fullNode is the guardian's observation of one instance before observeRedis:
// its own CLUSTER NODES, then INFO server replication persistence.
func fullNode(ctx context.Context, c *redis.Client) guard.Node {
	var n guard.Node
	text, err := c.ClusterNodes(ctx).Result()
	if err != nil {
		return n
	}
	v, err := clusteradmin.ParseClusterNodes(text)
	if err != nil {
		return n
	}
	info, err := c.Info(ctx, "server", "replication", "persistence").Result()
	if err != nil {
		return n
	}
	kv := clusteradmin.ParseInfo(info)
	n.Reachable = true
	n.DiskError = kv["aof_last_write_status"] == "err" || kv["rdb_last_bgsave_status"] == "err"
	n.NodeID, n.PrimaryID, n.Slots, n.KnownNodes = v.Myself.ID, v.Myself.PrimaryID, v.Myself.Slots.Count(), len(v.Nodes)
	// The config epoch of its "myself" line (the 7th field; a replica's
	// shows its primary's).
	var epoch uint64
	for _, line := range strings.Split(text, "\n") {
		if f := strings.Fields(line); len(f) > 6 && strings.Contains(f[2], "myself") {
			epoch, _ = strconv.ParseUint(f[6], 10, 64)
		}
	}
	switch {
	case kv["role"] == "master" && v.Myself.IsPrimary():
		n.Role = topology.RolePrimary
		n.Offset, _ = strconv.ParseInt(kv["master_repl_offset"], 10, 64)
		n.ConfigEpoch = epoch
	case kv["role"] == "slave" && v.Myself.Has("slave"):
		n.Role = topology.RoleReplica
		n.Offset, _ = strconv.ParseInt(kv["slave_repl_offset"], 10, 64)
		n.LinkUp = kv["master_link_status"] == "up"
		n.ConfigEpoch = epoch
	default:
		n.KnownNodes = 0
	}
	for _, id := range slices.Sorted(maps.Keys(v.Nodes)) {
		if o := v.Nodes[id]; o.Has("fail") || o.Has("fail?") {
			n.Failing = append(n.Failing, id)
		}
	}
	return n
}

func fullObservation(ctx context.Context, pool *clusteradmin.ClientPool, targets []target) map[int]guard.Node {
	out := map[int]guard.Node{}
	for _, t := range targets {
		out[t.Ordinal] = fullNode(ctx, pool.Client(t.Addr))
	}
	return out
}

// sameNodes compares two observations, offsets and (unless failing) the
// flagged nodes left out.
func sameNodes(t *testing.T, what string, got, want map[int]guard.Node, failing bool) {
	t.Helper()
	strip := func(m map[int]guard.Node) map[int]guard.Node {
		out := map[int]guard.Node{}
		for o, n := range m {
			n.Offset, n.LinkDownSeconds = 0, 0 // they move between the two reads
			if !failing {
				n.Failing = nil
			}
			out[o] = n
		}
		return out
	}
	if d := cmp.Diff(strip(want), strip(got)); d != "" {
		t.Fatalf("%s: observeRedis differs from every instance's own view (-own +observeRedis):\n%s", what, d)
	}
}

// clusterNodesCalls sums cmdstat_cluster|nodes over the instances.
func clusterNodesCalls(t *testing.T, ctx context.Context, pool *clusteradmin.ClientPool, targets []target) int {
	t.Helper()
	n := 0
	for _, tg := range targets {
		info, err := pool.Client(tg.Addr).Info(ctx, "commandstats").Result()
		if err != nil {
			continue
		}
		stat := clusteradmin.ParseInfo(info)["cmdstat_cluster|nodes"]
		calls, _, _ := strings.Cut(strings.TrimPrefix(stat, "calls="), ",")
		k, _ := strconv.Atoi(calls)
		n += k
	}
	return n
}

// input makes the guard.Input of the test cluster's Pods, all Ready, role
// labels and node IDs as created.
// baseline is the first observation of the healthy cluster: its node IDs by
// ordinal and the guard's memory of its members, against which a test
// assesses what its fault did.
func baseline(ctx context.Context, pool *clusteradmin.ClientPool, targets []target, mem *viewMemory) (map[int]string, map[int]guard.Member) {
	first := observeRedis(ctx, pool, targets, mem)
	ids := nodeIDs(first.Nodes)
	return ids, guard.Assess(input(first.Nodes, ids, nil)).Known
}

func input(nodes map[int]guard.Node, ids map[int]string, known map[int]guard.Member) guard.Input {
	in := guard.Input{Shards: 3, ReplicasPerShard: 1, Nodes: nodes, Known: known}
	for o := range 6 {
		role := topology.RolePrimary
		if o >= 3 {
			role = topology.RoleReplica
		}
		in.Pods = append(in.Pods, guard.Pod{Ordinal: o, Shard: o % 3, Name: fmt.Sprintf("pod-%d", o), Node: "node", NodeReady: true,
			Ready: true, Role: role, NodeID: ids[o], Addr: "-"})
	}
	return in
}

func nodeIDs(nodes map[int]guard.Node) map[int]string {
	ids := map[int]string{}
	for o, n := range nodes {
		ids[o] = n.NodeID
	}
	return ids
}

// TestObserveRedisHealthy: on a healthy cluster observeRedis gives what
// every instance's own view gives, while reading CLUSTER NODES of two
// instances per tick (the reference and one in turn), and the turn goes
// round every other instance.
func TestObserveRedisHealthy(t *testing.T) {
	ctx := t.Context()
	_, targets, pool := startCluster(t)
	want := fullObservation(ctx, pool, targets)
	var mem viewMemory
	before := clusterNodesCalls(t, ctx, pool, targets)
	ro := observeRedis(ctx, pool, targets, &mem)
	if got := clusterNodesCalls(t, ctx, pool, targets) - before; got != 2 || ro.FullViews != 2 {
		t.Fatalf("CLUSTER NODES: %d calls, %d counted; want 2 (the reference's and one in turn)", got, ro.FullViews)
	}
	if ro.Commands != 3*6+2 {
		t.Fatalf("commands = %d, want %d", ro.Commands, 3*6+2)
	}
	if ro.Reference != 0 {
		t.Fatalf("reference = %d, want 0 (the first primary)", ro.Reference)
	}
	sameNodes(t, "healthy", ro.Nodes, want, true)
	as, wantAs := guard.Assess(input(ro.Nodes, nodeIDs(want), nil)), guard.Assess(input(want, nodeIDs(want), nil))
	if d := cmp.Diff(wantAs, as); d != "" || as.State != guard.StateHealthy {
		t.Fatalf("assessment %s (-own views +observeRedis):\n%s", as.State, d)
	}
	turn := ro.OwnViews
	for range 4 {
		turn = append(turn, observeRedis(ctx, pool, targets, &mem).OwnViews...)
	}
	if !slices.Equal(turn, []int{1, 2, 3, 4, 5}) {
		t.Fatalf("own views read in turn = %v, want [1 2 3 4 5]", turn)
	}
	if ro := observeRedis(ctx, pool, targets, &mem); !slices.Equal(ro.OwnViews, []int{1}) {
		t.Fatalf("the turn after the last ordinal = %v, want [1]", ro.OwnViews)
	}
}

// TestObserveRedisReferenceDown: the reference's redis-server is killed: the
// next primary is the reference, the killed one is unreachable, the others
// are as their own views say; its replica's promotion is seen no earlier
// than the replica itself says it, the assessment is a failover to it, and
// no tick ever shows another primary for the shard.
func TestObserveRedisReferenceDown(t *testing.T) {
	ctx := t.Context()
	c, targets, pool := startCluster(t, "--cluster-node-timeout", "1000")
	var mem viewMemory
	ids, known := baseline(ctx, pool, targets, &mem)
	c.Nodes()[0].Kill()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ro := observeRedis(ctx, pool, targets, &mem)
		own := fullObservation(ctx, pool, targets)
		if ro.Reference != 1 {
			t.Fatalf("reference = %d, want 1 (the next primary)", ro.Reference)
		}
		if ro.Nodes[0].Reachable {
			t.Fatal("the killed reference is reachable")
		}
		as := guard.Assess(input(ro.Nodes, ids, known))
		if p, ok := as.Primaries[0]; ok && p != 3 {
			t.Fatalf("shard 0's primary = %d", p)
		}
		if n := ro.Nodes[3]; n.Role == topology.RolePrimary && n.Slots > 0 {
			// Read after it, the replica's own view must say so too.
			if o := own[3]; o.Role != topology.RolePrimary || o.Slots == 0 {
				t.Fatalf("observeRedis saw ordinal 3 promoted before it did: %+v, own %+v", n, o)
			}
			if as.Primaries[0] != 3 || !slices.Contains(as.Failovers, guard.Failover{Shard: 0, From: 0, To: 3}) {
				t.Fatalf("assessment after the promotion: primaries %v, failovers %v", as.Primaries, as.Failovers)
			}
			sameNodes(t, "after the promotion", ro.Nodes, own, false)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ordinal 3 not promoted after 30s: %+v", ro.Nodes[3])
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestObserveRedisLinkDown: a replica whose primary's redis-server is
// killed (a node timeout long enough that nobody fails it over) reports for
// how long its link has been down, which the recover reads to know a
// replica Redis will never elect; replicas whose link is up report 0.
func TestObserveRedisLinkDown(t *testing.T) {
	ctx := t.Context()
	c, targets, pool := startCluster(t, "--cluster-node-timeout", "60000")
	var mem viewMemory
	baseline(ctx, pool, targets, &mem)
	c.Nodes()[0].Kill()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ro := observeRedis(ctx, pool, targets, &mem)
		n := ro.Nodes[3]
		if n.Role != topology.RoleReplica || (n.LinkUp && n.LinkDownSeconds != 0) {
			t.Fatalf("ordinal 3 with its primary killed: %+v", n)
		}
		if o := ro.Nodes[4]; !o.LinkUp || o.LinkDownSeconds != 0 {
			t.Fatalf("ordinal 4, its link up: %+v", o)
		}
		if !n.LinkUp && n.LinkDownSeconds >= 2 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ordinal 3's link down for %d s after 20 s", n.LinkDownSeconds)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// TestObserveRedisReferenceRefusesClusterNodes: the reference answers the
// cheap pipeline but not CLUSTER NODES: it counts as unreachable (as when
// every instance's own view was read) and the next primary is the reference.
func TestObserveRedisReferenceRefusesClusterNodes(t *testing.T) {
	ctx := t.Context()
	_, targets, pool := startCluster(t)
	if err := pool.Client(targets[0].Addr).Do(ctx, "ACL", "SETUSER", "default", "-cluster|nodes").Err(); err != nil {
		t.Fatal(err)
	}
	want := fullObservation(ctx, pool, targets)
	if want[0].Reachable {
		t.Fatal("CLUSTER NODES still allowed on ordinal 0")
	}
	var mem viewMemory
	ro := observeRedis(ctx, pool, targets, &mem)
	if ro.Reference != 1 {
		t.Fatalf("reference = %d, want 1", ro.Reference)
	}
	sameNodes(t, "reference refuses CLUSTER NODES", ro.Nodes, want, true)
}

// TestObserveRedisUnknownNodes: an instance the reference does not know, and
// one that does not know every other, are described by their own views.
func TestObserveRedisUnknownNodes(t *testing.T) {
	ctx := t.Context()
	_, targets, pool := startCluster(t)
	var mem viewMemory
	ids := nodeIDs(observeRedis(ctx, pool, targets, &mem).Nodes)
	// Every instance but 5 forgets 5 (the ban keeps it out for 60s).
	for o := range 5 {
		if err := pool.Client(targets[o].Addr).ClusterForget(ctx, ids[5]).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// 4 also forgets 3: it knows 4 instances, the others 5, 5 knows 6.
	if err := pool.Client(targets[4].Addr).ClusterForget(ctx, ids[3]).Err(); err != nil {
		t.Fatal(err)
	}
	want := fullObservation(ctx, pool, targets)
	if want[5].KnownNodes != 6 || want[4].KnownNodes != 4 || want[0].KnownNodes != 5 {
		t.Fatalf("known nodes: 0: %d, 4: %d, 5: %d", want[0].KnownNodes, want[4].KnownNodes, want[5].KnownNodes)
	}
	mem = viewMemory{next: 1}
	ro := observeRedis(ctx, pool, targets, &mem)
	if ro.Reference != 0 {
		t.Fatalf("reference = %d, want 0", ro.Reference)
	}
	for _, o := range []int{4, 5} {
		if !slices.Contains(ro.OwnViews, o) {
			t.Fatalf("own views read = %v, want 4 and 5 among them", ro.OwnViews)
		}
	}
	sameNodes(t, "unknown nodes", ro.Nodes, want, false)
	if n := ro.Nodes[5]; n.Role != topology.RoleReplica || n.PrimaryID != ids[2] || !n.LinkUp {
		t.Fatalf("ordinal 5 (unknown to the reference): %+v", n)
	}
}

// TestObserveRedisFailSeenOnlyByOthers: instances flag a node fail? that the
// reference does not (the primaries 0 and 1 have a node timeout of 60s, the
// others 1s, so the flag never becomes a cluster-wide fail): a primary's
// failure shows in their cluster_slots_pfail and their own views are read at
// once; a replica's shows in no cheap field and is found in turn, then read
// every tick until it clears. The assessment is Degraded either way.
func TestObserveRedisFailSeenOnlyByOthers(t *testing.T) {
	for _, tc := range []struct {
		name    string
		stopped int
	}{{"replica", 5}, {"primary", 2}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			c, targets, pool := startCluster(t, "--cluster-node-timeout", "1000")
			for _, o := range []int{0, 1} {
				if err := pool.Client(targets[o].Addr).ConfigSet(ctx, "cluster-node-timeout", "60000").Err(); err != nil {
					t.Fatal(err)
				}
			}
			var mem viewMemory
			ids := nodeIDs(observeRedis(ctx, pool, targets, &mem).Nodes)
			pid := c.Nodes()[tc.stopped].Pid()
			if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
			// The instances with the short timeout flag it.
			var flaggers []int
			for o := range 6 {
				if o != 0 && o != 1 && o != tc.stopped {
					flaggers = append(flaggers, o)
				}
			}
			deadline := time.Now().Add(20 * time.Second)
			for {
				own := fullObservation(ctx, pool, targets)
				all := true
				for _, o := range flaggers {
					all = all && slices.Equal(own[o].Failing, []string{ids[tc.stopped]})
				}
				if len(own[0].Failing) > 0 || len(own[1].Failing) > 0 {
					t.Fatalf("the primaries with the long timeout flag %v, %v", own[0].Failing, own[1].Failing)
				}
				if all {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("not flagged by %v after 20s: %+v", flaggers, own)
				}
				time.Sleep(100 * time.Millisecond)
			}
			found := map[int]bool{}
			for tick := range 6 {
				ro := observeRedis(ctx, pool, targets, &mem)
				if ro.Reference != 0 || len(ro.Nodes[0].Failing) > 0 || ro.Nodes[tc.stopped].Reachable {
					t.Fatalf("tick %d: reference %d flags %v; stopped instance reachable: %v", tick, ro.Reference, ro.Nodes[0].Failing, ro.Nodes[tc.stopped].Reachable)
				}
				for _, o := range flaggers {
					if slices.Equal(ro.Nodes[o].Failing, []string{ids[tc.stopped]}) {
						found[o] = true
					} else if found[o] {
						t.Fatalf("tick %d: ordinal %d flagged %s, then not (%v)", tick, o, ids[tc.stopped], ro.Nodes[o].Failing)
					}
				}
				if tc.name == "primary" && len(found) != len(flaggers) {
					t.Fatalf("tick %d: a primary's failure must be seen at once by %v; seen by %v", tick, flaggers, slices.Sorted(maps.Keys(found)))
				}
				as := guard.Assess(input(ro.Nodes, ids, nil))
				if as.State != guard.StateDegraded {
					t.Fatalf("tick %d: state %s", tick, as.State)
				}
				if len(found) > 0 && !slices.ContainsFunc(as.Reasons, func(r string) bool { return strings.Contains(r, "flags 1 node(s) as failing") }) {
					t.Fatalf("tick %d: reasons %v", tick, as.Reasons)
				}
			}
			if len(found) != len(flaggers) {
				t.Fatalf("after a round of 6 ticks the flag is seen on %v, want %v", slices.Sorted(maps.Keys(found)), flaggers)
			}
			// Once it clears, the instances are no longer read every tick.
			if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
				t.Fatal(err)
			}
			deadline = time.Now().Add(20 * time.Second)
			for {
				ro := observeRedis(ctx, pool, targets, &mem)
				clear := len(ro.OwnViews) <= 1
				for _, n := range ro.Nodes {
					clear = clear && len(n.Failing) == 0 && n.Reachable
				}
				if clear && guard.Assess(input(ro.Nodes, ids, nil)).State == guard.StateHealthy {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("not clear 20s after SIGCONT: own views %v, nodes %+v", ro.OwnViews, ro.Nodes)
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
}

// TestObserveRedisEmptyNode: a replica comes back as a new, empty node (a
// hard reset: new node ID, it knows only itself, no slots): it is described
// by its own view, the guard finds it lost, and it never counts as a
// primary.
func TestObserveRedisEmptyNode(t *testing.T) {
	ctx := t.Context()
	_, targets, pool := startCluster(t)
	var mem viewMemory
	ids, known := baseline(ctx, pool, targets, &mem)
	if err := pool.Client(targets[4].Addr).ClusterResetHard(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	ro := observeRedis(ctx, pool, targets, &mem)
	want := fullObservation(ctx, pool, targets)
	sameNodes(t, "empty node", ro.Nodes, want, false)
	if n := ro.Nodes[4]; n.KnownNodes != 1 || n.Slots != 0 || n.NodeID == ids[4] || !slices.Contains(ro.OwnViews, 4) {
		t.Fatalf("reset instance: %+v (own views read %v)", n, ro.OwnViews)
	}
	as := guard.Assess(input(ro.Nodes, ids, known))
	if !slices.ContainsFunc(as.Lost, func(l guard.Lost) bool { return l.Ordinal == 4 && l.PodExists }) {
		t.Fatalf("lost = %+v, want ordinal 4", as.Lost)
	}
	if !maps.Equal(as.Primaries, map[int]int{0: 0, 1: 1, 2: 2}) || as.Relabel[4] == topology.RolePrimary {
		t.Fatalf("primaries %v, relabel %v", as.Primaries, as.Relabel)
	}
}

// BenchmarkObserveRedis compares one tick of observeRedis with the
// observation it replaced (every instance's CLUSTER NODES and INFO) on
// clusters of 3, 12 and 24 shards with one replica each, and reports per
// tick: the commands sent, the bytes the instances sent back
// (total_net_output_bytes) and the instances' own time in those commands
// (INFO commandstats usec), the readings' own INFO left out.
//
//	go test -run '^$' -bench ObserveRedis -benchtime 20x ./internal/activities/guardian/
func BenchmarkObserveRedis(b *testing.B) {
	for _, shards := range []int{3, 12, 24} {
		c := redistest.New(b, redistest.Options{Primaries: shards, ReplicasPerPrimary: 1})
		var targets []target
		for i, n := range c.Nodes() {
			targets = append(targets, target{Ordinal: i, Addr: n.Addr})
		}
		pool := clusteradmin.NewClientPool(clientOptions(""))
		ctx := b.Context()
		// out sums the instances' total_net_output_bytes and commandstats
		// calls and usec, INFO's apart (the readings are INFO, after a
		// CONFIG RESETSTAT, which is left out).
		out := func() (bytes, calls, usec, infoCalls, infoUsec float64) {
			for _, t := range targets {
				info, err := c.Pool.Client(t.Addr).Info(ctx, "stats", "commandstats").Result()
				if err != nil {
					b.Fatal(err)
				}
				kv := clusteradmin.ParseInfo(info)
				v, _ := strconv.ParseFloat(kv["total_net_output_bytes"], 64)
				bytes += v
				for k, s := range kv {
					if !strings.HasPrefix(k, "cmdstat_") || k == "cmdstat_config|resetstat" {
						continue
					}
					for f := range strings.SplitSeq(s, ",") {
						name, val, _ := strings.Cut(f, "=")
						x, _ := strconv.ParseFloat(val, 64)
						switch {
						case name == "calls" && k == "cmdstat_info":
							infoCalls += x
						case name == "usec" && k == "cmdstat_info":
							infoUsec += x
						case name == "calls":
							calls += x
						case name == "usec":
							usec += x
						}
					}
				}
			}
			return
		}
		for _, mode := range []string{"every-view", "reference"} {
			b.Run(fmt.Sprintf("shards=%d/%s", shards, mode), func(b *testing.B) {
				var mem viewMemory
				for _, t := range targets {
					if err := c.Pool.Client(t.Addr).ConfigResetStat(ctx).Err(); err != nil {
						b.Fatal(err)
					}
				}
				// Two readings: the second's growth is one reading's replies.
				b0, _, _, _, _ := out()
				b1, _, _, _, readingUsec := out() // the first reading's INFO
				readings := float64(len(targets))
				b.ResetTimer()
				for b.Loop() {
					if mode == "reference" {
						observeRedis(ctx, pool, targets, &mem)
					} else {
						parallel(len(targets), func(i int) { fullNode(ctx, pool.Client(targets[i].Addr)) })
					}
				}
				b.StopTimer()
				bytes, calls, usec, infoCalls, infoUsec := out()
				// Two readings' INFO (each one per instance) are counted.
				calls += infoCalls - 2*readings
				usec += infoUsec - 2*readingUsec
				// The readings' own INFO replies are in the bytes: the
				// second's, and about as many for the last.
				n := float64(b.N)
				b.ReportMetric(calls/n, "cmds/tick")
				b.ReportMetric((bytes-b1-(b1-b0))/n, "B/tick")
				b.ReportMetric(usec/n, "server-us/tick")
			})
		}
		_ = pool.Close()
		_ = c.Close()
	}
}

// TestObserveRedisTwoPrimariesClaimOneShard: the old primary of shard 0
// (ordinal 0) is cut off from its replica (CLUSTER FORGET on it: for 60 s it
// ignores that node and any news of its slots), and the replica (ordinal 3)
// takes over (CLUSTER FAILOVER TAKEOVER: a newer config epoch, no vote).
// Both now say they are shard 0's primary with its slots. The guardian picks
// the newer epoch, as Redis does: ordinal 3, a failover from 0, ordinal 0
// labelled replica and reported. Without the epochs (as before they were
// observed) the lowest ordinal won: the old primary, no failover, both Pods
// labelled primary.
func TestObserveRedisTwoPrimariesClaimOneShard(t *testing.T) {
	ctx := t.Context()
	_, targets, pool := startCluster(t)
	var mem viewMemory
	ids, known := baseline(ctx, pool, targets, &mem)
	if err := pool.Client(targets[0].Addr).ClusterForget(ctx, ids[3]).Err(); err != nil {
		t.Fatal(err)
	}
	if err := pool.Client(targets[3].Addr).Do(ctx, "CLUSTER", "FAILOVER", "TAKEOVER").Err(); err != nil {
		t.Fatal(err)
	}
	claims := func(n guard.Node) bool { return n.Role == topology.RolePrimary && n.Slots > 0 }
	var ro redisObservation
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		ro = observeRedis(ctx, pool, targets, &mem)
		if claims(ro.Nodes[0]) && claims(ro.Nodes[3]) && ro.Nodes[0].KnownNodes > 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no two claims of shard 0 after 20s: ordinal 0 %+v, ordinal 3 %+v", ro.Nodes[0], ro.Nodes[3])
		}
	}
	if e0, e3 := ro.Nodes[0].ConfigEpoch, ro.Nodes[3].ConfigEpoch; e3 <= e0 {
		t.Fatalf("config epochs: old primary %d, new %d; want the new one's newer", e0, e3)
	}
	as := guard.Assess(input(ro.Nodes, ids, known))
	if as.Primaries[0] != 3 || !slices.Contains(as.Failovers, guard.Failover{Shard: 0, From: 0, To: 3}) ||
		as.Relabel[0] != topology.RoleReplica || as.Relabel[3] != topology.RolePrimary || as.Known[0].Role != topology.RoleReplica {
		t.Fatalf("assessment: primaries %v, failovers %v, relabel %v, known[0] %+v", as.Primaries, as.Failovers, as.Relabel, as.Known[0])
	}
	if !slices.ContainsFunc(as.Reasons, func(r string) bool { return strings.Contains(r, "pod-0 claims shard-0 as primary with config epoch") }) {
		t.Fatalf("no reason names the stale claim: %v", as.Reasons)
	}
	// Again with the memory: the failover is reported once.
	if again := guard.Assess(input(ro.Nodes, ids, as.Known)); len(again.Failovers) != 0 || again.Primaries[0] != 3 {
		t.Fatalf("second assessment: primaries %v, failovers %v", again.Primaries, again.Failovers)
	}
	// The same observation without epochs: the mis-pick the epochs prevent.
	blind := maps.Clone(ro.Nodes)
	for o, n := range blind {
		n.ConfigEpoch = 0
		blind[o] = n
	}
	if old := guard.Assess(input(blind, ids, known)); old.Primaries[0] != 0 || len(old.Failovers) != 0 {
		t.Fatalf("without epochs: primaries %v, failovers %v (the test no longer shows the mis-pick)", old.Primaries, old.Failovers)
	}
}
