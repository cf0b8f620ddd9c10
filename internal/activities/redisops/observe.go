package redisops

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/dayops/dayops/internal/redis/clusteradmin"
	"github.com/dayops/dayops/internal/topology"
	"github.com/redis/go-redis/v9"
	"go.temporal.io/sdk/temporal"
	"golang.org/x/sync/errgroup"
)

// NodeState is what one node says of itself.
type NodeState struct {
	Addr      string        `json:"addr"`
	Reachable bool          `json:"reachable"`
	Error     string        `json:"error,omitempty"`
	NodeID    string        `json:"nodeId,omitempty"`
	Role      topology.Role `json:"role,omitempty"`
	PrimaryID string        `json:"primaryId,omitempty"`
	// PrimaryAddr is a replica's primary's address, from its view.
	PrimaryAddr string          `json:"primaryAddr,omitempty"`
	Slots       topology.Ranges `json:"slots,omitempty"`
	// StateOK is cluster_state:ok.
	StateOK bool `json:"stateOk"`
	// SeesProblems lists node IDs this node flags fail/pfail/handshake/noaddr
	// or whose link is down.
	SeesProblems []string `json:"seesProblems,omitempty"`
	OpenSlots    []int    `json:"openSlots,omitempty"`
	// KnownNodes is the number of nodes in this node's view.
	KnownNodes int `json:"knownNodes"`
	// CurrentEpoch is cluster_current_epoch; FailingSlots the slots whose
	// owner this node flags pfail or fail.
	CurrentEpoch int64 `json:"currentEpoch,omitempty"`
	FailingSlots int   `json:"failingSlots,omitempty"`
	// Problem is what keeps the reference's view of this node from
	// matching it (unknown to the reference, another role).
	Problem    string `json:"problem,omitempty"`
	UsedMemory int64  `json:"usedMemory"`
	// MaxMemory is maxmemory, or total_system_memory when maxmemory is 0.
	MaxMemory int64 `json:"maxMemory"`
	Keys      int64 `json:"keys"`
	// Offset is the replication offset; LinkUp is a replica's link state.
	Offset int64  `json:"offset"`
	LinkUp bool   `json:"linkUp"`
	RunID  string `json:"runId,omitempty"`
	// BiggestKey and BiggestKeyBytes are set when big keys were scanned.
	BiggestKey      string `json:"biggestKey,omitempty"`
	BiggestKeyBytes int64  `json:"biggestKeyBytes,omitempty"`
	// ScannedKeys is how many keys the big-key scan measured; ScanPartial
	// says it stopped at ObserveInput.ScanKeyBudget before the last key.
	ScannedKeys int64 `json:"scannedKeys,omitempty"`
	ScanPartial bool  `json:"scanPartial,omitempty"`
}

// ObserveInput names the nodes to look at.
type ObserveInput struct {
	Auth  Auth     `json:"auth"`
	Addrs []string `json:"addrs"`
	// ScanBigKeysOn lists addresses whose keys are all measured with MEMORY
	// USAGE (scale-in checks that no departing key is over the limit).
	ScanBigKeysOn []string `json:"scanBigKeysOn,omitempty"`
	// ScanKeyBudget bounds that scan: at most about this many keys per node
	// (0: every key). Admission scans a bounded sample so that a request
	// answers in seconds at any data size; the operation's own planning
	// step scans every key before it moves one.
	ScanKeyBudget int64 `json:"scanKeyBudget,omitempty"`
	// Instances is how many instances the cluster has, which every node
	// must know (default len(Addrs); set it when Addrs is a part of the
	// cluster).
	Instances int `json:"instances,omitempty"`
	// SkipOpenSlots leaves out the open-slot check and with it every
	// primary's CLUSTER NODES but the reference's (see ObserveRedis).
	SkipOpenSlots bool `json:"skipOpenSlots,omitempty"`
	// MaxLagBytes a replica may be behind its primary to count as in sync
	// (default DefaultMaxLagBytes: a replica of a primary under writes is
	// always a little behind at the instant both offsets are read).
	MaxLagBytes int64 `json:"maxLagBytes,omitempty"`
}

// DefaultMaxLagBytes is how far behind its primary an up-linked replica may
// be and still count as in sync.
const DefaultMaxLagBytes = 1 << 20

// ObserveResult is the cluster as its nodes describe it.
type ObserveResult struct {
	Nodes []NodeState `json:"nodes"`
	// Health summarises the nodes' views.
	StateOK      bool     `json:"stateOk"`
	AllConnected bool     `json:"allConnected"`
	OpenSlots    []int    `json:"openSlots,omitempty"`
	Problems     []string `json:"problems,omitempty"`
	// InSync lists the addresses of replicas whose link is up and whose
	// offset is within MaxLagBytes of their primary's.
	InSync []string `json:"inSync,omitempty"`
}

// observeParallel is how many nodes ObserveRedis asks at once.
const observeParallel = 16

// ObserveRedis observes every node and summarises health: cluster_state
// everywhere, every node connected to every other, no open slot, which
// replicas are in sync. An unreachable node is reported, not an error.
//
// What it reads grows linearly with the cluster, not with its square: every
// node answers CLUSTER MYID, CLUSTER INFO, INFO and DBSIZE (one pipeline, a
// constant size), and only one node, the reference (the first reachable
// primary in Addrs), is asked for CLUSTER NODES, whose reply has a line per
// node. Roles and offsets come from each node's own INFO; node IDs from its
// own CLUSTER MYID; slots and a replica's primary from the reference's view.
// Every node must report cluster_state ok, know Instances nodes and flag no
// slot's owner as failing (cluster_slots_pfail/fail); the reference's view
// must hold every node, unflagged and linked.
//
// Open slots show only in a primary's own CLUSTER NODES, so unless
// SkipOpenSlots, every primary's view is read as well (O(primaries x
// instances) bytes), and each such view also reports the nodes it flags.
func (a *Activities) ObserveRedis(ctx context.Context, in ObserveInput) (ObserveResult, error) {
	_, pool, err := a.admin(ctx, in.Auth)
	if err != nil {
		return ObserveResult{}, err
	}
	if in.MaxLagBytes <= 0 {
		in.MaxLagBytes = DefaultMaxLagBytes
	}
	if in.Instances <= 0 {
		in.Instances = len(in.Addrs)
	}
	out := ObserveResult{StateOK: true, AllConnected: true}
	nodes := make([]NodeState, len(in.Addrs))
	forEach(len(in.Addrs), func(i int) { nodes[i] = observeCheap(ctx, pool, in.Addrs[i]) })
	ref := reference(nodes)
	views := readViews(ctx, pool, nodes, ref, in.SkipOpenSlots)
	var rv *clusteradmin.ClusterView
	if ref >= 0 {
		rv = views[ref]
	}
	for i := range nodes {
		if nodes[i].Reachable {
			applyViews(&nodes[i], views[i], rv)
		}
	}
	open := map[int]bool{}
	for i, n := range nodes {
		if scan := slices.Contains(in.ScanBigKeysOn, n.Addr); n.Reachable && scan {
			if err := scanBigKeys(ctx, pool, &nodes[i], in.ScanKeyBudget); err != nil {
				return out, classify(fmt.Errorf("scan keys of %s: %w", n.Addr, err))
			}
			n = nodes[i]
		}
		out.judge(n, in.Instances)
		if n.Reachable {
			for _, s := range n.OpenSlots {
				open[s] = true
			}
		}
		out.Nodes = append(out.Nodes, n)
	}
	for s := range open {
		out.OpenSlots = append(out.OpenSlots, s)
	}
	slices.Sort(out.OpenSlots)
	out.InSync = inSync(out.Nodes, in.MaxLagBytes)
	return out, nil
}

// reference picks the node whose view is the reference: the first
// reachable primary (a replica's view of the slots is as good, but a
// primary's is read anyway for open slots); -1 when none is reachable.
func reference(nodes []NodeState) int {
	ref := -1
	for i, n := range nodes {
		if n.Reachable && (ref < 0 || (n.Role == topology.RolePrimary && nodes[ref].Role != topology.RolePrimary)) {
			ref = i
		}
	}
	return ref
}

// readViews reads the full views (CLUSTER NODES): the reference's, and
// every primary's for open slots unless skipOpen. A node whose view cannot
// be read is marked unreachable.
func readViews(ctx context.Context, pool *clusteradmin.ClientPool, nodes []NodeState, ref int, skipOpen bool) []*clusteradmin.ClusterView {
	views := make([]*clusteradmin.ClusterView, len(nodes))
	var full []int
	for i, n := range nodes {
		if n.Reachable && (i == ref || (!skipOpen && n.Role == topology.RolePrimary)) {
			full = append(full, i)
		}
	}
	forEach(len(full), func(j int) {
		i := full[j]
		text, err := pool.Client(nodes[i].Addr).ClusterNodes(ctx).Result()
		if err == nil {
			var v clusteradmin.ClusterView
			if v, err = clusteradmin.ParseClusterNodes(text); err == nil {
				views[i] = &v
				return
			}
		}
		nodes[i].Reachable, nodes[i].Error = false, err.Error()
	})
	return views
}

// applyViews completes a reachable node from its own view (v, nil if not
// read: open slots, flagged nodes, its primary and slots) and from the
// reference's view rv (nil if none), noting where the two disagree.
func applyViews(n *NodeState, v, rv *clusteradmin.ClusterView) {
	if v != nil {
		n.SeesProblems = seesProblems(*v, n.NodeID)
		for s := range v.Myself.Migrating {
			n.OpenSlots = append(n.OpenSlots, s)
		}
		for s := range v.Myself.Importing {
			n.OpenSlots = append(n.OpenSlots, s)
		}
		slices.Sort(n.OpenSlots)
		// What a node says of itself is the truth for its slots.
		n.PrimaryID, n.Slots = v.Myself.PrimaryID, v.Myself.Slots
	}
	if rv == nil {
		return
	}
	line, ok := rv.Nodes[n.NodeID]
	if !ok {
		n.Problem = fmt.Sprintf("the reference node %s does not know %s (%s)", rv.Myself.Addr, n.Addr, n.NodeID)
		return
	}
	if line.IsPrimary() != (n.Role == topology.RolePrimary) {
		n.Problem = fmt.Sprintf("%s is a %s, the reference node %s sees flags %s (role change in flight)", n.Addr, n.Role, rv.Myself.Addr, strings.Join(line.Flags, ","))
	}
	if v == nil {
		n.PrimaryID = line.PrimaryID
		if n.Role == topology.RolePrimary {
			n.Slots = line.Slots
		}
	}
}

// judge adds what n says of the cluster's health to out: an unreachable
// node, a cluster_state other than ok, a disagreement with the reference,
// flagged nodes or failing slots, a node count other than instances.
func (out *ObserveResult) judge(n NodeState, instances int) {
	if !n.Reachable {
		out.StateOK, out.AllConnected = false, false
		out.Problems = append(out.Problems, fmt.Sprintf("%s is unreachable: %s", n.Addr, n.Error))
		return
	}
	if !n.StateOK {
		out.StateOK = false
		out.Problems = append(out.Problems, fmt.Sprintf("%s reports cluster_state other than ok", n.Addr))
	}
	if n.Problem != "" {
		out.AllConnected = false
		out.Problems = append(out.Problems, n.Problem)
	}
	if len(n.SeesProblems) > 0 {
		out.AllConnected = false
		out.Problems = append(out.Problems, fmt.Sprintf("%s sees trouble with nodes %s", n.Addr, strings.Join(n.SeesProblems, ", ")))
	}
	if n.FailingSlots > 0 {
		out.AllConnected = false
		out.Problems = append(out.Problems, fmt.Sprintf("%s sees the owners of %d slots failing", n.Addr, n.FailingSlots))
	}
	if n.KnownNodes != instances {
		out.AllConnected = false
		out.Problems = append(out.Problems, fmt.Sprintf("%s knows %d nodes, the cluster has %d instances", n.Addr, n.KnownNodes, instances))
	}
}

// inSync lists the replicas whose link is up and whose offset is within
// maxLag bytes of their primary's.
func inSync(nodes []NodeState, maxLag int64) []string {
	primaryOffset := map[string]int64{}
	for _, n := range nodes {
		if n.Role == topology.RolePrimary {
			primaryOffset[n.NodeID] = n.Offset
		}
	}
	var out []string
	for _, n := range nodes {
		if n.Role != topology.RoleReplica || !n.LinkUp {
			continue
		}
		if po, ok := primaryOffset[n.PrimaryID]; ok && po-n.Offset <= maxLag {
			out = append(out, n.Addr)
		}
	}
	return out
}

// forEach runs f(0..n-1), observeParallel at a time.
func forEach(n int, f func(i int)) {
	var g errgroup.Group
	g.SetLimit(observeParallel)
	for i := range n {
		g.Go(func() error { f(i); return nil })
	}
	_ = g.Wait()
}

// observeCheap reads what a node says of itself in one pipeline whose
// replies do not grow with the cluster: CLUSTER MYID, CLUSTER INFO, INFO
// memory/replication/server and DBSIZE.
func observeCheap(ctx context.Context, pool *clusteradmin.ClientPool, addr string) NodeState {
	n := NodeState{Addr: addr}
	p := pool.Client(addr).Pipeline()
	myid := p.ClusterMyID(ctx)
	ci := p.ClusterInfo(ctx)
	info := p.Info(ctx, "memory", "replication", "server")
	keys := p.DBSize(ctx)
	if _, err := p.Exec(ctx); err != nil {
		n.Error = err.Error()
		return n
	}
	n.Reachable = true
	n.NodeID = myid.Val()
	cinfo := clusteradmin.ParseInfo(ci.Val())
	n.StateOK = cinfo["cluster_state"] == "ok"
	n.KnownNodes = int(atoi(cinfo["cluster_known_nodes"]))
	n.CurrentEpoch = atoi(cinfo["cluster_current_epoch"])
	n.FailingSlots = int(atoi(cinfo["cluster_slots_pfail"]) + atoi(cinfo["cluster_slots_fail"]))
	kv := clusteradmin.ParseInfo(info.Val())
	n.UsedMemory = atoi(kv["used_memory"])
	n.MaxMemory = atoi(kv["maxmemory"])
	if n.MaxMemory == 0 {
		n.MaxMemory = atoi(kv["total_system_memory"])
	}
	n.RunID = kv["run_id"]
	if kv["role"] == "master" {
		n.Role = topology.RolePrimary
		n.Offset = atoi(kv["master_repl_offset"])
	} else {
		n.Role = topology.RoleReplica
		n.Offset = atoi(kv["slave_repl_offset"])
		n.LinkUp = kv["master_link_status"] == "up"
	}
	n.Keys = keys.Val()
	return n
}

// seesProblems lists the node IDs a view flags fail/pfail/handshake/noaddr
// or has no link to.
func seesProblems(v clusteradmin.ClusterView, self string) []string {
	var out []string
	for _, id := range slices.Sorted(maps.Keys(v.Nodes)) {
		o := v.Nodes[id]
		if o.Has("fail") || o.Has("fail?") || o.Has("handshake") || o.Has("noaddr") || (id != self && !o.Connected) {
			out = append(out, id)
		}
	}
	return out
}

// observeNode reads one node's own CLUSTER NODES (its slots as it sees them,
// its open slots), CLUSTER INFO, INFO and DBSIZE: VerifyDrained asks the
// departing nodes themselves.
func (a *Activities) observeNode(ctx context.Context, pool *clusteradmin.ClientPool, addr string) NodeState {
	n := NodeState{Addr: addr}
	c := pool.Client(addr)
	fail := func(err error) NodeState {
		n.Reachable = false
		n.Error = err.Error()
		return n
	}
	text, err := c.ClusterNodes(ctx).Result()
	if err != nil {
		return fail(err)
	}
	n.Reachable = true
	v, err := clusteradmin.ParseClusterNodes(text)
	if err != nil {
		return fail(err)
	}
	n.NodeID, n.PrimaryID, n.Slots = v.Myself.ID, v.Myself.PrimaryID, v.Myself.Slots
	n.PrimaryAddr = v.Nodes[v.Myself.PrimaryID].Addr
	n.KnownNodes = len(v.Nodes)
	if v.Myself.IsPrimary() {
		n.Role = topology.RolePrimary
	} else {
		n.Role = topology.RoleReplica
	}
	for s := range v.Myself.Migrating {
		n.OpenSlots = append(n.OpenSlots, s)
	}
	for s := range v.Myself.Importing {
		n.OpenSlots = append(n.OpenSlots, s)
	}
	slices.Sort(n.OpenSlots)
	n.SeesProblems = seesProblems(v, n.NodeID)
	ci, err := c.ClusterInfo(ctx).Result()
	if err != nil {
		return fail(err)
	}
	n.StateOK = clusteradmin.ParseInfo(ci)["cluster_state"] == "ok"
	all, err := c.Info(ctx, "memory", "replication", "server").Result()
	if err != nil {
		return fail(err)
	}
	kv := clusteradmin.ParseInfo(all)
	n.UsedMemory = atoi(kv["used_memory"])
	n.MaxMemory = atoi(kv["maxmemory"])
	if n.MaxMemory == 0 {
		n.MaxMemory = atoi(kv["total_system_memory"])
	}
	n.RunID = kv["run_id"]
	if n.Role == topology.RolePrimary {
		n.Offset = atoi(kv["master_repl_offset"])
	} else {
		n.Offset = atoi(kv["slave_repl_offset"])
		n.LinkUp = kv["master_link_status"] == "up"
	}
	if n.Keys, err = c.DBSize(ctx).Result(); err != nil {
		return fail(err)
	}
	return n
}

// scanBigKeys measures every key of a node with MEMORY USAGE, pipelined, or
// about budget keys of it when budget > 0.
func scanBigKeys(ctx context.Context, pool *clusteradmin.ClientPool, n *NodeState, budget int64) error {
	c := pool.Client(n.Addr)
	var cursor uint64
	for {
		keys, next, err := c.Scan(ctx, cursor, "", 1000).Result()
		if err != nil {
			return err
		}
		pipe := c.Pipeline()
		cmds := make([]interface{ Val() int64 }, len(keys))
		for i, k := range keys {
			cmds[i] = pipe.MemoryUsage(ctx, k, 0)
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		for i, k := range keys {
			if b := cmds[i].Val(); b > n.BiggestKeyBytes {
				n.BiggestKey, n.BiggestKeyBytes = k, b
			}
		}
		n.ScannedKeys += int64(len(keys))
		cursor = next
		if cursor == 0 {
			return nil
		}
		if budget > 0 && n.ScannedKeys >= budget {
			n.ScanPartial = true
			return nil
		}
	}
}

// ErrTypeNotDrained is the error type of VerifyDrained's refusal.
const ErrTypeNotDrained = "NotDrained"

// VerifyDrainedInput names nodes that must own nothing.
type VerifyDrainedInput struct {
	Auth  Auth     `json:"auth"`
	Addrs []string `json:"addrs"`
}

// VerifyDrained fails (non-retryably) unless every listed node owns zero
// slots and holds zero keys: scale-in deletes nothing that holds data.
//
// A listed node that is a replica now (a failover in its shard during the
// scale-in: the instance manager's takeover of a restarted primary, or
// Redis') holds its primary's keys, or, for a moment after it starts to
// follow it, its own older copy until the resync ends (seen: 6,167 keys on
// a departing primary killed mid-drain, taken over, and checked 4 s later,
// which failed the scale-in). What must be drained then is its primary: a
// primary that owns no slot must hold no key; one that owns slots is a
// shard that stays, and the replica a copy of it.
func (a *Activities) VerifyDrained(ctx context.Context, in VerifyDrainedInput) error {
	_, pool, err := a.admin(ctx, in.Auth)
	if err != nil {
		return err
	}
	for _, addr := range in.Addrs {
		n := a.observeNode(ctx, pool, addr)
		if !n.Reachable {
			return classify(fmt.Errorf("verify drained: %s unreachable: %s", addr, n.Error))
		}
		if n.Role == topology.RoleReplica && n.Slots.Count() == 0 && n.PrimaryAddr != "" {
			primary := n.PrimaryAddr
			if n = a.observeNode(ctx, pool, primary); !n.Reachable {
				return classify(fmt.Errorf("verify drained: %s, the primary of %s, unreachable: %s", primary, addr, n.Error))
			}
			if n.Slots.Count() > 0 {
				continue // a copy of a shard that stays
			}
			addr = fmt.Sprintf("%s (the primary of %s)", primary, addr)
		}
		if n.Slots.Count() > 0 || n.Keys > 0 {
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
				"%s still owns %d slots and holds %d keys: not removing it", addr, n.Slots.Count(), n.Keys), ErrTypeNotDrained, nil)
		}
	}
	return nil
}

func atoi(s string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	return n
}
