package guardian

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dayops/dayops/internal/guard"
	"github.com/dayops/dayops/internal/redis/clusteradmin"
	"github.com/dayops/dayops/internal/topology"
)

// target is one instance to ask: a Pod's ordinal and redis-server address.
type target struct {
	Ordinal int
	Addr    string
}

// cheap is what an instance says of itself in one pipeline whose replies do
// not grow with the cluster: CLUSTER MYID, CLUSTER INFO and INFO server
// replication persistence.
type cheap struct {
	ok      bool
	id      string
	role    string // INFO's role: master or slave
	offset  int64
	linkUp  bool
	down    int64 // master_link_down_since_seconds (link down only)
	diskErr bool  // aof_last_write_status or rdb_last_bgsave_status err
	known   int   // cluster_known_nodes
	stateOK bool
	// failingSlots is cluster_slots_pfail + cluster_slots_fail: slots whose
	// owner this instance flags fail? or fail.
	failingSlots int
	uptime       time.Duration
	// epoch is cluster_my_epoch: its config epoch (a replica's primary's).
	epoch uint64
}

// cheapCommands is the number of commands in the cheap pipeline.
const cheapCommands = 3

// How long one observation waits for an instance's answer, connecting
// included (the guardian's clients honour a context's deadline): the whole
// answerTimeout when it answered the previous observation, silentTimeout
// when it did not. A hung instance (stopped, or its host stalled) accepts
// the connection and the request and never answers: each observation of it
// ends at the timeout, and every observation waits for all its answers.
// Before these bounds (go-redis' own timeouts only, 2 s with a new
// connection) a tick took 2 s while a primary hung, and the first one that
// saw Redis promote its replica ended seconds after the promotion, and
// with it the Service's move (TestObserveRedisHungPrimaryPromoted logs the
// ticks' durations). An instance taken for unreachable is not lost by that
// alone (guard: only when its Kubernetes node is not Ready or its Pod is
// deleted), so an answer that is merely slow on a loaded host costs a
// Degraded reason, not a recovery.
const (
	answerTimeout = time.Second
	silentTimeout = 500 * time.Millisecond
)

// clientOptions are the options of the guardian's Redis clients: short
// timeouts, two connections per instance, and context deadlines honoured
// (observeRedis bounds each instance's answer).
func clientOptions(password string) redis.Options {
	return redis.Options{Password: password, DialTimeout: answerTimeout, ReadTimeout: answerTimeout, WriteTimeout: answerTimeout,
		PoolSize: 2, ContextTimeoutEnabled: true}
}

func askCheap(ctx context.Context, cl *clusteradmin.ClientPool, addr string, timeout time.Duration) cheap {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	p := cl.Client(addr).Pipeline()
	myid := p.ClusterMyID(ctx)
	ci := p.ClusterInfo(ctx)
	info := p.Info(ctx, "server", "replication", "persistence")
	if _, err := p.Exec(ctx); err != nil {
		return cheap{uptime: 1 << 62}
	}
	c := cheap{ok: true, id: myid.Val(), uptime: 1 << 62}
	cinfo := clusteradmin.ParseInfo(ci.Val())
	c.known = atoi(cinfo["cluster_known_nodes"])
	c.stateOK = cinfo["cluster_state"] == "ok"
	c.failingSlots = atoi(cinfo["cluster_slots_pfail"]) + atoi(cinfo["cluster_slots_fail"])
	c.epoch, _ = strconv.ParseUint(strings.TrimSpace(cinfo["cluster_my_epoch"]), 10, 64)
	kv := clusteradmin.ParseInfo(info.Val())
	if s, err := strconv.ParseInt(kv["uptime_in_seconds"], 10, 64); err == nil {
		c.uptime = time.Duration(s) * time.Second
	}
	c.role = kv["role"]
	c.diskErr = kv["aof_last_write_status"] == "err" || kv["rdb_last_bgsave_status"] == "err"
	switch c.role {
	case "master":
		c.offset, _ = strconv.ParseInt(kv["master_repl_offset"], 10, 64)
	case "slave":
		c.offset, _ = strconv.ParseInt(kv["slave_repl_offset"], 10, 64)
		c.linkUp = kv["master_link_status"] == "up"
		if !c.linkUp {
			c.down, _ = strconv.ParseInt(strings.TrimSpace(kv["master_link_down_since_seconds"]), 10, 64)
		}
	}
	return c
}

func atoi(s string) int {
	n, _ := strconv.Atoi(strings.TrimSpace(s))
	return n
}

// node builds the guard.Node of an instance from its cheap answer and a
// CLUSTER NODES line describing it: its own "myself" line, or the reference's
// line for its node ID. The rules are those of an instance's own view: INFO's
// role and the line's flags must agree, else the role change is in flight
// and the instance counts as not (yet) in the cluster.
func node(c cheap, line clusteradmin.NodeInfo, known int, failing []string) guard.Node {
	n := guard.Node{Reachable: true, NodeID: c.id, PrimaryID: line.PrimaryID, Slots: line.Slots.Count(), KnownNodes: known, Failing: failing,
		DiskError: c.diskErr}
	switch {
	case c.role == "master" && line.IsPrimary():
		n.Role = topology.RolePrimary
		n.Offset = c.offset
		n.ConfigEpoch = c.epoch
	case c.role == "slave" && line.Has("slave"):
		n.Role = topology.RoleReplica
		n.Offset = c.offset
		n.LinkUp, n.LinkDownSeconds = c.linkUp, c.down
		n.ConfigEpoch = c.epoch
	default:
		n.KnownNodes = 0
	}
	return n
}

// flagged lists the node IDs a view flags fail or fail?.
func flagged(v clusteradmin.ClusterView) []string {
	var out []string
	for _, id := range slices.Sorted(maps.Keys(v.Nodes)) {
		if o := v.Nodes[id]; o.Has("fail") || o.Has("fail?") {
			out = append(out, id)
		}
	}
	return out
}

// fromOwnView is the guard.Node of an instance whose own CLUSTER NODES was
// read: everything as the instance itself sees it.
func fromOwnView(c cheap, v clusteradmin.ClusterView) guard.Node {
	n := node(c, v.Myself, len(v.Nodes), flagged(v))
	n.NodeID = v.Myself.ID
	for _, id := range slices.Sorted(maps.Keys(v.Nodes)) {
		if v.Nodes[id].Has("noaddr") {
			n.Unaddressed = append(n.Unaddressed, id)
		}
	}
	return n
}

// viewMemory is what the observations of one cluster keep between ticks.
type viewMemory struct {
	// next is the ordinal from which the rotation looks for the next
	// instance whose own view it reads.
	next int
	// flagged are the ordinals whose own view, when last read, flagged a
	// node: their view is read at every tick until it flags none.
	flagged map[int]bool
	// silent are the ordinals that did not answer the last observation:
	// they get silentTimeout rather than answerTimeout.
	silent map[int]bool
}

// redisObservation is every instance's answer to one tick.
type redisObservation struct {
	Nodes  map[int]guard.Node
	Uptime map[int]time.Duration
	// Commands sent; FullViews is how many of them were CLUSTER NODES.
	Commands  int
	FullViews int
	// Reference is the ordinal whose CLUSTER NODES gave the other
	// instances' slots and primary (-1: none).
	Reference int
	// OwnViews are the other ordinals whose own CLUSTER NODES was read.
	OwnViews []int
}

// observeRedis asks every instance what the guardian needs, at a cost that
// grows linearly with the cluster rather than with its square:
//
//   - every instance answers CLUSTER MYID, CLUSTER INFO and INFO server
//     replication in one pipeline (node ID, role, offsets, link, uptime,
//     cluster_known_nodes, cluster_state, cluster_slots_pfail/fail,
//     cluster_my_epoch);
//   - one instance, the reference (a reachable primary that knows the most
//     nodes, the lowest ordinal among equals; the next one if it does not
//     answer), is asked for CLUSTER NODES: it gives every other instance's
//     slots and primary, and its own flags;
//   - an instance's own CLUSTER NODES is read as before, and it then counts
//     as it sees itself, whenever its cheap answer does not fit the
//     reference's view: the reference does not know it, sees another role,
//     or knows another number of nodes; it flags a slot's owner as failing
//     or reports cluster_state other than ok. Also, in turn, one more
//     instance per tick, and every tick each instance whose own view last
//     flagged a node: a node flagged fail? by one instance alone (a replica,
//     whose failure shows in no CLUSTER INFO field) is found within one
//     round of the cluster's instances and stays reported until it clears.
//
// An instance that does not answer (either request) is unreachable, as when
// every instance's CLUSTER NODES was read. guard.Node.Failing is what the
// instance's own view flags, so it is empty for an instance whose view was
// not read this tick.
func observeRedis(ctx context.Context, cl *clusteradmin.ClientPool, targets []target, mem *viewMemory) redisObservation {
	out := redisObservation{Nodes: map[int]guard.Node{}, Uptime: map[int]time.Duration{}, Reference: -1}
	slices.SortFunc(targets, func(x, y target) int { return x.Ordinal - y.Ordinal })
	answers := make([]cheap, len(targets))
	parallel(len(targets), func(i int) {
		timeout := answerTimeout
		if mem.silent[targets[i].Ordinal] {
			timeout = silentTimeout
		}
		answers[i] = askCheap(ctx, cl, targets[i].Addr, timeout)
	})
	out.Commands += cheapCommands * len(targets)
	mem.silent = map[int]bool{}
	for i, t := range targets {
		out.Nodes[t.Ordinal] = guard.Node{}
		out.Uptime[t.Ordinal] = answers[i].uptime
		if !answers[i].ok {
			mem.silent[t.Ordinal] = true
		}
	}
	if mem.flagged == nil {
		mem.flagged = map[int]bool{}
	}
	readView := func(i int) (clusteradmin.ClusterView, bool) {
		ctx, cancel := context.WithTimeout(ctx, answerTimeout)
		defer cancel()
		text, err := cl.Client(targets[i].Addr).ClusterNodes(ctx).Result()
		if err != nil {
			return clusteradmin.ClusterView{}, false
		}
		v, err := clusteradmin.ParseClusterNodes(text)
		return v, err == nil
	}
	own := make([]bool, len(targets)) // own view read (or tried) this tick
	rv := readReference(targets, answers, own, readView, mem, &out)
	reads := ownReads(targets, answers, own, rv, mem)
	views := make([]*clusteradmin.ClusterView, len(targets))
	parallel(len(reads), func(j int) {
		if v, ok := readView(reads[j]); ok {
			views[reads[j]] = &v
		}
	})
	out.Commands += len(reads)
	out.FullViews += len(reads)
	for _, i := range reads {
		own[i] = true
		o := targets[i].Ordinal
		out.OwnViews = append(out.OwnViews, o)
		if views[i] == nil {
			answers[i].ok = false
			delete(mem.flagged, o)
			continue
		}
		out.Nodes[o] = fromOwnView(answers[i], *views[i])
		mem.flagged[o] = len(out.Nodes[o].Failing) > 0
	}

	// Everyone else, from the reference's view.
	for i, c := range answers {
		if !c.ok || own[i] {
			continue
		}
		out.Nodes[targets[i].Ordinal] = node(c, rv.Nodes[c.id], c.known, nil)
	}
	slices.Sort(out.OwnViews)
	for o := range mem.flagged {
		if !mem.flagged[o] || !slices.ContainsFunc(targets, func(t target) bool { return t.Ordinal == o }) {
			delete(mem.flagged, o)
		}
	}
	return out
}

// readReference reads the CLUSTER NODES of the reference: the first
// reachable primary that knows the most nodes (the next one when it does not
// answer, which then counts as unreachable). It describes the reference
// from its own view and returns that view (nil: no reference).
func readReference(targets []target, answers []cheap, own []bool, readView func(int) (clusteradmin.ClusterView, bool), mem *viewMemory, out *redisObservation) *clusteradmin.ClusterView {
	var cands []int
	for i, c := range answers {
		if c.ok && c.known > 1 {
			cands = append(cands, i)
		}
	}
	slices.SortStableFunc(cands, func(x, y int) int {
		px, py := answers[x].role == "master", answers[y].role == "master"
		if px != py {
			if px {
				return -1
			}
			return 1
		}
		return cmp.Compare(answers[y].known, answers[x].known)
	})
	for _, i := range cands {
		own[i] = true
		out.Commands++
		out.FullViews++
		v, ok := readView(i)
		if !ok {
			answers[i].ok = false // unreachable, as its own view is unreadable
			continue
		}
		out.Nodes[targets[i].Ordinal] = fromOwnView(answers[i], v)
		mem.flagged[targets[i].Ordinal] = len(out.Nodes[targets[i].Ordinal].Failing) > 0
		out.Reference = targets[i].Ordinal
		return &v
	}
	return nil
}

// ownReads lists the instances whose own CLUSTER NODES this tick reads:
// those whose cheap answer does not fit the reference's view (or with no
// reference), those whose view last flagged a node, and one more in turn.
func ownReads(targets []target, answers []cheap, own []bool, rv *clusteradmin.ClusterView, mem *viewMemory) []int {
	var reads []int
	for i, c := range answers {
		if !c.ok || own[i] {
			continue
		}
		if rv == nil || c.failingSlots > 0 || !c.stateOK || c.known != len(rv.Nodes) || mem.flagged[targets[i].Ordinal] {
			reads = append(reads, i)
			continue
		}
		line, ok := rv.Nodes[c.id]
		if !ok || (c.role == "master") != line.IsPrimary() || (c.role == "slave") != line.Has("slave") {
			reads = append(reads, i)
		}
	}
	// In turn, one more.
	if len(targets) > 0 {
		start, _ := slices.BinarySearchFunc(targets, mem.next, func(t target, o int) int { return t.Ordinal - o })
		for k := range targets {
			i := (start + k) % len(targets)
			if answers[i].ok && !own[i] && !slices.Contains(reads, i) {
				reads = append(reads, i)
				mem.next = targets[i].Ordinal + 1
				break
			}
		}
	}
	return reads
}

// parallel runs f(0..n-1) at once and waits for all.
func parallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { f(i) })
	}
	wg.Wait()
}
