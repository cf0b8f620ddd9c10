package clusteradmin

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dayops/dayops/internal/topology"
	"golang.org/x/sync/errgroup"
)

// ParseInfo parses INFO / CLUSTER INFO text into key -> value.
func ParseInfo(text string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			out[k] = v
		}
	}
	return out
}

// poll calls check every PollInterval until it reports done, returns a
// non-transient error, or timeout (0: only ctx) passes. The last reason
// check gave for not being done is part of the timeout error.
func (a *Admin) poll(ctx context.Context, timeout time.Duration, what string, check func(context.Context) (done bool, reason string, err error)) error {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	tick := time.NewTicker(a.limits().PollInterval)
	defer tick.Stop()
	reason := "not checked yet"
	for {
		done, why, err := check(ctx)
		switch {
		case err != nil && !IsTransient(err) && ctx.Err() == nil:
			return fmt.Errorf("%s: %w", what, err)
		case err != nil && ctx.Err() != nil:
			// The deadline cut this check short: the state before it says
			// why the wait did not end (a flake of TestIncrDelDuringMigration
			// reported only "cluster info of ...: context deadline exceeded").
		case err != nil:
			reason = err.Error()
		case done:
			return nil
		default:
			reason = why
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (last state: %s)", what, ctx.Err(), reason)
		case <-tick.C:
		}
	}
}

// eachAddr runs f for every address, 16 at a time, and returns the first
// error.
func eachAddr(ctx context.Context, addrs []string, f func(ctx context.Context, i int, addr string) error) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i, addr := range addrs {
		g.Go(func() error { return f(ctx, i, addr) })
	}
	return g.Wait()
}

// WaitConvergedInput names the nodes that must agree.
type WaitConvergedInput struct {
	Addrs []string
	// RequireStateOK also waits for cluster_state:ok on every node (all slots
	// covered and reachable).
	RequireStateOK bool
	// Timeout bounds the wait (0: the context's deadline only).
	Timeout time.Duration
}

// WaitConvergedResult is the agreed view.
type WaitConvergedResult struct {
	// NodeIDs maps each address to its node ID.
	NodeIDs map[string]string
	// Layout is the slot layout every node agrees on.
	Layout topology.Layout
}

// WaitConverged waits until every node knows every other (no handshake, no
// failure flags, links connected), all nodes agree on who owns each slot, and
// optionally cluster_state is ok everywhere.
//
// Each poll first asks every node for CLUSTER INFO, whose reply has a
// constant size: until every node knows at least len(Addrs) nodes, reports
// the same cluster_current_epoch (gossip has spread the last configuration
// change) and, with RequireStateOK, cluster_state ok, it polls again. Only
// then does it read CLUSTER NODES of every node (len(Addrs) replies of
// len(Addrs) lines) for the exact check, usually once per wait instead of
// once per poll.
func (a *Admin) WaitConverged(ctx context.Context, in WaitConvergedInput) (WaitConvergedResult, error) {
	var res WaitConvergedResult
	err := a.poll(ctx, in.Timeout, "wait for cluster convergence", func(ctx context.Context) (bool, string, error) {
		infos := make([]map[string]string, len(in.Addrs))
		if err := eachAddr(ctx, in.Addrs, func(ctx context.Context, i int, addr string) (err error) {
			infos[i], err = a.clusterInfo(ctx, addr)
			return err
		}); err != nil {
			return false, "", err
		}
		for i, info := range infos {
			if n, _ := strconv.Atoi(info["cluster_known_nodes"]); n < len(in.Addrs) {
				return false, fmt.Sprintf("%s knows %d nodes, want %d", in.Addrs[i], n, len(in.Addrs)), nil
			}
			if e0, e := infos[0]["cluster_current_epoch"], info["cluster_current_epoch"]; e != e0 {
				return false, fmt.Sprintf("%s is at epoch %s, %s at %s", in.Addrs[0], e0, in.Addrs[i], e), nil
			}
			if in.RequireStateOK && info["cluster_state"] != "ok" {
				return false, fmt.Sprintf("%s: cluster_state:%s", in.Addrs[i], info["cluster_state"]), nil
			}
		}
		views := make([]ClusterView, len(in.Addrs))
		if err := eachAddr(ctx, in.Addrs, func(ctx context.Context, i int, addr string) (err error) {
			if views[i], err = a.ViewOnce(ctx, addr); err != nil {
				return fmt.Errorf("cluster nodes of %s: %w", addr, err)
			}
			return nil
		}); err != nil {
			return false, "", err
		}
		ids := map[string]string{}
		for i, addr := range in.Addrs {
			ids[addr] = views[i].Myself.ID
		}
		var owners0 []string
		for i, v := range views {
			for addr, id := range ids {
				n, ok := v.Nodes[id]
				if !ok {
					return false, fmt.Sprintf("%s does not know %s", in.Addrs[i], addr), nil
				}
				for _, f := range []string{"handshake", "noaddr", "fail", "fail?"} {
					if n.Has(f) {
						return false, fmt.Sprintf("%s sees %s as %s", in.Addrs[i], addr, f), nil
					}
				}
				if id != v.Myself.ID && !n.Connected {
					return false, fmt.Sprintf("%s has no link to %s", in.Addrs[i], addr), nil
				}
			}
			owners := v.Owners()
			if i == 0 {
				owners0 = owners
			} else if !slices.Equal(owners0, owners) {
				return false, fmt.Sprintf("%s and %s disagree on slot owners", in.Addrs[0], in.Addrs[i]), nil
			}
		}
		res = WaitConvergedResult{NodeIDs: ids}
		if len(views) > 0 {
			res.Layout = views[0].Layout()
		}
		return true, "", nil
	})
	return res, err
}

// MeetInput lists the nodes that must form (or join) one cluster.
type MeetInput struct {
	// Addrs are host:port of every node; the first that answers introduces
	// the others.
	Addrs          []string
	RequireStateOK bool
	Timeout        time.Duration
	// FenceWait bounds the wait for a node that refuses the cluster's
	// password (default DefaultFenceWait); BusPorts gives the cluster-bus
	// port of such a node when it is not its port + 10000 (Redis' default,
	// dayops' Pods).
	FenceWait time.Duration
	BusPorts  map[string]int
}

// DefaultFenceWait is how long Meet waits for a fenced node by default:
// past the instance manager's bound on following a promoted replica (2
// minutes) and a container restart.
const DefaultFenceWait = 5 * time.Minute

// MeetResult maps addresses to node IDs.
type MeetResult struct {
	NodeIDs map[string]string
}

// Meet introduces every node to the first one that answers (only those
// that do not know it yet) and waits for convergence (see WaitConverged).
//
// A node that refuses the cluster's password is fenced: dayops' instance
// manager serves it with a one-time password while it decides how the
// node rejoins (docs/self-healing.md), and a recovered former primary may
// be fenced until it has become the replica of its promoted one. It cannot
// tell its ID, so it is met blind (CLUSTER MEET needs no password: the
// others learn its new address and their gossip can reach it, which a
// fence that waits to follow may need), then waited for, up to FenceWait,
// before the usual check. Before, Meet failed at once on such a node
// (WRONGPASS, a permanent error), and the recover of a former primary
// whose fence outlasted its Pod's readiness (a TCP check: a fenced
// redis-server listens) failed.
func (a *Admin) Meet(ctx context.Context, in MeetInput) (MeetResult, error) {
	if len(in.Addrs) == 0 {
		return MeetResult{}, errors.New("meet: no address")
	}
	views, first, err := a.meetViews(ctx, in)
	if err != nil {
		return MeetResult{}, err
	}
	for i := range in.Addrs {
		if i == first {
			continue
		}
		if _, known := views[first].Nodes[views[i].Myself.ID]; known {
			if _, back := views[i].Nodes[views[first].Myself.ID]; back {
				continue
			}
		}
		if err := a.meetOne(ctx, in.Addrs[first], in.Addrs[i], views[i].Myself.BusPort); err != nil {
			return MeetResult{}, err
		}
	}
	res, err := a.WaitConverged(ctx, WaitConvergedInput{Addrs: in.Addrs, RequireStateOK: in.RequireStateOK, Timeout: in.Timeout})
	if err != nil {
		return MeetResult{}, fmt.Errorf("meet: %w", err)
	}
	return MeetResult{NodeIDs: res.NodeIDs}, nil
}

// meetViews reads every node's view, and returns them with the index of
// the first node that answered. Fenced nodes (IsAuthError) are met blind
// from it, then waited for until they answer.
func (a *Admin) meetViews(ctx context.Context, in MeetInput) ([]ClusterView, int, error) {
	views := make([]ClusterView, len(in.Addrs))
	first := -1
	var fenced []int
	for i, addr := range in.Addrs {
		v, err := a.view(ctx, addr)
		switch {
		case err == nil:
			views[i] = v
			if first < 0 {
				first = i
			}
		case IsAuthError(err):
			fenced = append(fenced, i)
		default:
			return nil, 0, fmt.Errorf("meet: %w", err)
		}
	}
	if len(fenced) == 0 {
		return views, first, nil
	}
	if first < 0 {
		return nil, 0, fmt.Errorf("meet: every node refuses the cluster's password (%s): none to meet the others from", strings.Join(in.Addrs, ", "))
	}
	for _, i := range fenced {
		bus := in.BusPorts[in.Addrs[i]] // 0: Redis takes port + 10000
		if err := a.meetOne(ctx, in.Addrs[first], in.Addrs[i], bus); err != nil {
			return nil, 0, err
		}
	}
	wait := cmp.Or(in.FenceWait, DefaultFenceWait)
	for _, i := range fenced {
		addr := in.Addrs[i]
		a.log().InfoContext(ctx, "meet: waiting for a fenced node", "addr", addr, "limit", wait)
		err := a.poll(ctx, wait, "wait for "+addr+" to lift its fence", func(ctx context.Context) (bool, string, error) {
			v, err := a.view(ctx, addr)
			if IsAuthError(err) {
				return false, addr + " refuses the cluster's password: fenced", nil
			}
			views[i] = v
			return err == nil, "", err
		})
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil { // the wait's own limit
			return nil, 0, fmt.Errorf("meet: %w", &FencedError{Addr: addr, Wait: wait, Err: err})
		}
		if err != nil {
			return nil, 0, fmt.Errorf("meet: %w", err)
		}
	}
	return views, first, nil
}

// meetOne has from meet to (CLUSTER MEET ip port [bus]; bus 0: Redis takes
// port + 10000).
func (a *Admin) meetOne(ctx context.Context, from, to string, bus int) error {
	ip, port, err := a.resolve(ctx, to)
	if err != nil {
		return fmt.Errorf("meet: %w", err)
	}
	args := []any{"cluster", "meet", ip, port}
	if bus > 0 {
		args = append(args, bus)
	}
	err = a.retry(ctx, "cluster meet", func(ctx context.Context) error {
		return a.client(from).Do(ctx, args...).Err()
	})
	if err != nil {
		return fmt.Errorf("meet %s from %s: %w", to, from, err)
	}
	a.log().InfoContext(ctx, "cluster meet", "from", from, "to", to)
	return nil
}

// resolve turns host:port into an IP and a port (CLUSTER MEET takes IPs).
func (a *Admin) resolve(ctx context.Context, addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		return "", 0, fmt.Errorf("address %q: %w", addr, err)
	}
	if net.ParseIP(host) != nil {
		return host, port, nil
	}
	ips, err := net.DefaultResolver.LookupHost(ctx, host)
	if err != nil || len(ips) == 0 {
		return "", 0, fmt.Errorf("resolve %q: %w", host, err)
	}
	return ips[0], port, nil
}

// AssignSlotsInput gives slots to one primary that nobody owns yet.
type AssignSlotsInput struct {
	Addr   string
	Ranges topology.Ranges
}

// AssignSlotsResult says how many slots were added now.
type AssignSlotsResult struct {
	Added int
}

// AssignSlots adds the slots of Ranges the node does not own yet
// (CLUSTER ADDSLOTSRANGE). A slot owned by another node is a
// PlanConflictError.
func (a *Admin) AssignSlots(ctx context.Context, in AssignSlotsInput) (AssignSlotsResult, error) {
	v, err := a.view(ctx, in.Addr)
	if err != nil {
		return AssignSlotsResult{}, fmt.Errorf("assign slots: %w", err)
	}
	owners := v.Owners()
	var missing []int
	for _, s := range in.Ranges.Slots() {
		switch owners[s] {
		case v.Myself.ID:
		case "":
			missing = append(missing, s)
		default:
			return AssignSlotsResult{}, &PlanConflictError{Slot: s, Reason: fmt.Sprintf("owned by %s, cannot assign to %s", owners[s], v.Myself.ID)}
		}
	}
	rs := topology.RangesOf(missing)
	if len(rs) == 0 {
		return AssignSlotsResult{}, nil
	}
	args := []any{"cluster", "addslotsrange"}
	for _, r := range rs {
		args = append(args, r.Start, r.End)
	}
	if err := a.retry(ctx, "cluster addslotsrange", func(ctx context.Context) error {
		return a.client(in.Addr).Do(ctx, args...).Err()
	}); err != nil {
		return AssignSlotsResult{}, fmt.Errorf("assign slots %s to %s: %w", rs, in.Addr, err)
	}
	return AssignSlotsResult{Added: len(missing)}, nil
}

// ReplicateInput attaches a replica to a primary.
type ReplicateInput struct {
	ReplicaAddr string
	PrimaryAddr string
	Timeout     time.Duration
}

// ReplicateResult names both nodes.
type ReplicateResult struct {
	ReplicaID string
	PrimaryID string
	// Changed is false when the replica already followed the primary.
	Changed bool
}

// Replicate makes ReplicaAddr a replica of PrimaryAddr (CLUSTER REPLICATE),
// after waiting until the replica knows the primary. Already following it is
// success.
func (a *Admin) Replicate(ctx context.Context, in ReplicateInput) (ReplicateResult, error) {
	pv, err := a.view(ctx, in.PrimaryAddr)
	if err != nil {
		return ReplicateResult{}, fmt.Errorf("replicate: %w", err)
	}
	res := ReplicateResult{PrimaryID: pv.Myself.ID}
	err = a.poll(ctx, in.Timeout, "replicate", func(ctx context.Context) (bool, string, error) {
		rv, err := a.view(ctx, in.ReplicaAddr)
		if err != nil {
			return false, "", err
		}
		res.ReplicaID = rv.Myself.ID
		if rv.Myself.Has("slave") && rv.Myself.PrimaryID == pv.Myself.ID {
			return true, "", nil
		}
		if _, ok := rv.Nodes[pv.Myself.ID]; !ok {
			return false, "replica does not know the primary yet", nil
		}
		if err := a.client(in.ReplicaAddr).Do(ctx, "cluster", "replicate", pv.Myself.ID).Err(); err != nil {
			if IsTransient(err) || hasMsg(err, "Unknown node") {
				return false, err.Error(), nil
			}
			return false, "", fmt.Errorf("cluster replicate %s: %w", pv.Myself.ID, err)
		}
		res.Changed = true
		return false, "replicate sent", nil
	})
	if err != nil {
		return ReplicateResult{}, fmt.Errorf("replicate %s to %s: %w", in.ReplicaAddr, in.PrimaryAddr, err)
	}
	return res, nil
}

// RolesInput lists the nodes to inspect.
type RolesInput struct {
	Addrs []string
}

// NodeRole is what a node says about itself.
type NodeRole struct {
	Addr      string        `json:"addr"`
	NodeID    string        `json:"node_id"`
	Role      topology.Role `json:"role"`
	PrimaryID string        `json:"primary_id,omitempty"`
	// Offset is master_repl_offset for a primary, slave_repl_offset for a
	// replica.
	Offset int64 `json:"offset"`
	// LinkUp is master_link_status:up (replicas only).
	LinkUp bool            `json:"link_up"`
	Slots  topology.Ranges `json:"slots,omitempty"`
}

// RolesResult lists the roles in input order.
type RolesResult struct {
	Nodes []NodeRole
}

// Roles detects each node's role from CLUSTER NODES, ROLE and INFO
// replication, and fails if they disagree (a role change in flight is
// transient).
func (a *Admin) Roles(ctx context.Context, in RolesInput) (RolesResult, error) {
	var res RolesResult
	for _, addr := range in.Addrs {
		r, err := a.role(ctx, addr)
		if err != nil {
			return RolesResult{}, err
		}
		res.Nodes = append(res.Nodes, r)
	}
	return res, nil
}

func (a *Admin) role(ctx context.Context, addr string) (NodeRole, error) {
	v, err := a.view(ctx, addr)
	if err != nil {
		return NodeRole{}, err
	}
	c := a.client(addr)
	roleReply, err := c.Do(ctx, "role").Slice()
	if err != nil || len(roleReply) == 0 {
		return NodeRole{}, fmt.Errorf("role of %s: %w", addr, err)
	}
	text, err := c.Info(ctx, "replication").Result()
	if err != nil {
		return NodeRole{}, fmt.Errorf("info replication of %s: %w", addr, err)
	}
	info := ParseInfo(text)
	r := NodeRole{Addr: addr, NodeID: v.Myself.ID, PrimaryID: v.Myself.PrimaryID, Slots: v.Myself.Slots}
	roleName, _ := roleReply[0].(string)
	switch {
	case roleName == "master" && info["role"] == "master" && v.Myself.IsPrimary():
		r.Role = topology.RolePrimary
		r.Offset, _ = strconv.ParseInt(info["master_repl_offset"], 10, 64)
	case roleName == "slave" && info["role"] == "slave" && v.Myself.Has("slave"):
		r.Role = topology.RoleReplica
		r.Offset, _ = strconv.ParseInt(info["slave_repl_offset"], 10, 64)
		r.LinkUp = info["master_link_status"] == "up"
	default:
		return NodeRole{}, fmt.Errorf("role of %s: ROLE=%s INFO=%s flags=%v: role change in flight: %w",
			addr, roleName, info["role"], v.Myself.Flags, errRoleInFlight)
	}
	return r, nil
}

// errRoleInFlight is transient: the three sources agree again shortly.
var errRoleInFlight = transientError("role change in flight")

// WaitInSyncInput names a replica and how far behind it may be.
type WaitInSyncInput struct {
	ReplicaAddr string
	// MaxLagBytes is how far behind the primary's offset (read once at the
	// start) the replica may be.
	MaxLagBytes int64
	Timeout     time.Duration
}

// WaitInSyncResult reports the offsets compared.
type WaitInSyncResult struct {
	PrimaryAddr   string
	PrimaryOffset int64
	ReplicaOffset int64
}

// WaitInSync reads the primary's replication offset once, then waits until
// the replica's link is up and its offset has reached it (minus MaxLagBytes).
func (a *Admin) WaitInSync(ctx context.Context, in WaitInSyncInput) (WaitInSyncResult, error) {
	var res WaitInSyncResult
	err := a.poll(ctx, in.Timeout, "wait for replica in sync", func(ctx context.Context) (bool, string, error) {
		text, err := a.client(in.ReplicaAddr).Info(ctx, "replication").Result()
		if err != nil {
			return false, "", err
		}
		info := ParseInfo(text)
		if info["role"] != "slave" {
			return false, "", &PreconditionError{Addr: in.ReplicaAddr, Reason: "is not a replica"}
		}
		if info["master_link_status"] != "up" {
			return false, "link to primary is " + info["master_link_status"], nil
		}
		if res.PrimaryAddr == "" {
			res.PrimaryAddr = net.JoinHostPort(info["master_host"], info["master_port"])
			ptext, err := a.client(res.PrimaryAddr).Info(ctx, "replication").Result()
			if err != nil {
				res.PrimaryAddr = ""
				return false, "", err
			}
			res.PrimaryOffset, _ = strconv.ParseInt(ParseInfo(ptext)["master_repl_offset"], 10, 64)
		}
		res.ReplicaOffset, _ = strconv.ParseInt(info["slave_repl_offset"], 10, 64)
		if res.ReplicaOffset+in.MaxLagBytes >= res.PrimaryOffset {
			return true, "", nil
		}
		return false, fmt.Sprintf("replica offset %d, primary offset %d", res.ReplicaOffset, res.PrimaryOffset), nil
	})
	if err != nil {
		return WaitInSyncResult{}, fmt.Errorf("replica %s: %w", in.ReplicaAddr, err)
	}
	return res, nil
}

// ForgetInput removes a node from the view of the others.
type ForgetInput struct {
	NodeID string
	// Addrs are the nodes that must forget it (the node itself is skipped).
	Addrs []string
}

// ForgetResult lists where FORGET was sent.
type ForgetResult struct {
	ForgottenOn []string
}

// Forget sends CLUSTER FORGET to every node that still knows NodeID. All
// nodes must forget within 60 seconds or gossip brings the node back, so the
// calls are made back to back; calling again is safe.
func (a *Admin) Forget(ctx context.Context, in ForgetInput) (ForgetResult, error) {
	var res ForgetResult
	for _, addr := range in.Addrs {
		v, err := a.view(ctx, addr)
		if err != nil {
			return res, fmt.Errorf("forget: %w", err)
		}
		if v.Myself.ID == in.NodeID {
			continue
		}
		if _, ok := v.Nodes[in.NodeID]; !ok {
			continue
		}
		if v.Myself.PrimaryID == in.NodeID {
			return res, &PreconditionError{Addr: addr, Reason: "replicates the node to forget"}
		}
		if err := a.client(addr).Do(ctx, "cluster", "forget", in.NodeID).Err(); err != nil && !hasMsg(err, "Unknown node") {
			return res, fmt.Errorf("cluster forget %s on %s: %w", in.NodeID, addr, err)
		}
		res.ForgottenOn = append(res.ForgottenOn, addr)
	}
	return res, nil
}

// ResetInput resets one node's cluster state.
type ResetInput struct {
	Addr string
	// Hard also gives the node a new ID and zeroes its epochs.
	Hard bool
	// Flush deletes the node's keys first; without it a primary holding keys
	// is a PreconditionError (Redis refuses to reset it).
	Flush bool
}

// ResetResult is the node ID after the reset.
type ResetResult struct {
	NodeID string
}

// Reset runs CLUSTER RESET; a node that already knows only itself and owns
// no slot is left alone.
func (a *Admin) Reset(ctx context.Context, in ResetInput) (ResetResult, error) {
	v, err := a.view(ctx, in.Addr)
	if err != nil {
		return ResetResult{}, fmt.Errorf("reset: %w", err)
	}
	if len(v.Nodes) == 1 && len(v.Myself.Slots) == 0 && v.Myself.IsPrimary() {
		return ResetResult{NodeID: v.Myself.ID}, nil
	}
	c := a.client(in.Addr)
	if v.Myself.IsPrimary() {
		n, err := c.DBSize(ctx).Result()
		if err != nil {
			return ResetResult{}, fmt.Errorf("reset %s: dbsize: %w", in.Addr, err)
		}
		if n > 0 && !in.Flush {
			return ResetResult{}, &PreconditionError{Addr: in.Addr, Reason: fmt.Sprintf("primary holds %d keys; reset would need Flush", n)}
		}
		if n > 0 {
			if err := c.FlushAll(ctx).Err(); err != nil {
				return ResetResult{}, fmt.Errorf("reset %s: flushall: %w", in.Addr, err)
			}
		}
	}
	mode := "soft"
	if in.Hard {
		mode = "hard"
	}
	if err := c.Do(ctx, "cluster", "reset", mode).Err(); err != nil {
		return ResetResult{}, fmt.Errorf("cluster reset %s on %s: %w", mode, in.Addr, err)
	}
	id, err := c.ClusterMyID(ctx).Result()
	if err != nil {
		return ResetResult{}, fmt.Errorf("reset %s: myid: %w", in.Addr, err)
	}
	return ResetResult{NodeID: id}, nil
}

// Poll calls check until it reports done, an error, or timeout passes
// (the error then names what and the last reason).
func (a *Admin) Poll(ctx context.Context, timeout time.Duration, what string, check func(context.Context) (done bool, reason string, err error)) error {
	return a.poll(ctx, timeout, what, check)
}

// Resolve returns the IP and port addr resolves to, as CLUSTER MEET and
// MIGRATE need them.
func (a *Admin) Resolve(ctx context.Context, addr string) (string, int, error) {
	return a.resolve(ctx, addr)
}
