// Package stepaside hands a serving primary's shard to its replica before
// the primary stops: the in-Pod instance manager runs it on the first
// SIGTERM (a Pod deleted, a node drained, an eviction), before redis-server
// gets the signal.
//
// Without it a stopping primary saves and exits, and its shard refuses
// writes until Redis has flagged it failed and elected the replica:
// cluster-node-timeout and an election later (5-7 s with dayops' 5 s), for
// every primary a node drain moves. With it the replica furthest ahead is
// asked for a coordinated manual failover (CLUSTER FAILOVER without FORCE or
// TAKEOVER): the primary pauses its writers until the replica has its whole
// stream, the replica takes the slots with a new epoch, and the writers are
// sent there (MOVED). No write the primary acknowledged is left behind, and
// the shard pauses for the handshake only (milliseconds).
//
// It steps aside only where that is safe and useful, and says why not
// otherwise (Result.Reason): the node must be a primary owning slots, with
// no slot open (a move's MIGRATING or IMPORTING state is the node's own and a
// manual failover drops it; the mover hands it over itself), and with a
// replica whose link is up and that no slot move holds from failover
// (cluster-replica-no-failover). A failover that is not done within Wait is
// left to Redis (the node stops anyway): the stop is delayed by Wait at the
// most, well inside the Pod's 30 s grace period with Redis' own
// shutdown-timeout after it. A force-deleted Pod on a real kubelet gets 2 s
// of SIGTERM: the handover usually fits, and a SIGKILL in the middle is a
// crash like any other (the replica has every acknowledged write).
package stepaside

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dayops/dayops/internal/redis/clusteradmin"
)

// DefaultWait bounds the wait for the replica to take over (the CLI's
// default).
const DefaultWait = 5 * time.Second

// Options of Run.
type Options struct {
	// Addr is this node's redis-server; Password every node's.
	Addr, Password string
	// Wait bounds the failover; 0 turns stepping aside off.
	Wait time.Duration
	Log  *slog.Logger
}

// Result says what Run did.
type Result struct {
	// HandedOver: the replica To is the shard's primary and this node its
	// replica.
	HandedOver bool
	// To is the replica asked to take over ("" when none was).
	To string
	// Reason is why the node did not step aside, or how the failover
	// failed ("" when it handed over).
	Reason string
	// Took is how long the handover took, from the request to this node
	// seeing itself a replica.
	Took time.Duration
}

// Run steps the node at o.Addr aside (see the package doc).
func Run(ctx context.Context, o Options) Result {
	log := o.Log
	if log == nil {
		log = slog.Default()
	}
	if o.Wait <= 0 {
		return Result{Reason: "turned off"}
	}
	ctx, cancel := context.WithTimeout(ctx, o.Wait+2*time.Second)
	defer cancel()
	self := client(o.Addr, o.Password)
	defer self.Close()
	to, v, why, err := pick(ctx, self, o.Password)
	if err != nil || to == "" {
		res := Result{Reason: why}
		if err != nil {
			res.Reason = err.Error()
		}
		log.Info("stopping without a handover: "+res.Reason, "addr", o.Addr)
		return res
	}
	res := Result{To: to}
	start := time.Now()
	rep := client(to, o.Password)
	defer rep.Close()
	if err := rep.Do(ctx, "CLUSTER", "FAILOVER").Err(); err != nil {
		res.Reason = fmt.Sprintf("%s refused CLUSTER FAILOVER: %v", to, err)
		log.Warn("stopping without a handover: "+res.Reason, "addr", o.Addr)
		return res
	}
	log.Info("stepping aside: replica asked to take over (CLUSTER FAILOVER)", "addr", o.Addr, "replica", to, "wait", o.Wait)
	deadline := start.Add(o.Wait)
	gone := 0 // looks in a row the replica did not answer
	for i := 0; ; i++ {
		if r, err := role(ctx, self); err == nil && r == "slave" {
			res.HandedOver, res.Took = true, time.Since(start)
			until := time.Now().Add(2 * time.Second)
			if deadline.Before(until) {
				until = deadline
			}
			left := announced(ctx, v, o.Password, until)
			log.Info("stepped aside: the replica is the shard's primary", "addr", o.Addr, "primary", to, "took", res.Took,
				"nodes_still_seeing_a_primary", left, "announced_after", time.Since(start))
			return res
		}
		// A replica stopping as well (the whole cluster deleted, a node
		// drained of both) ends the wait: nobody is taking over.
		if i%10 == 9 {
			if _, err := role(ctx, rep); err != nil {
				gone++
			} else {
				gone = 0
			}
		}
		if gone >= 2 || time.Now().After(deadline) {
			res.Reason = fmt.Sprintf("%s did not take over within %s (left to Redis' failover)", to, time.Since(start).Round(time.Millisecond))
			if gone >= 2 {
				res.Reason = fmt.Sprintf("%s stopped answering (stopping too?)", to)
			}
			log.Warn("stopping without a handover: "+res.Reason, "addr", o.Addr)
			return res
		}
		select {
		case <-ctx.Done():
			res.Reason = ctx.Err().Error()
			return res
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// pick returns the replica to hand over to and the node's view, or why
// there is none.
func pick(ctx context.Context, self *redis.Client, password string) (to string, v clusteradmin.ClusterView, why string, err error) {
	r, err := role(ctx, self)
	if err != nil {
		return "", v, "", fmt.Errorf("ROLE: %w", err)
	}
	if r != "master" {
		return "", v, "not a primary (" + r + ")", nil
	}
	text, err := self.ClusterNodes(ctx).Result()
	if err != nil {
		return "", v, "", fmt.Errorf("CLUSTER NODES: %w", err)
	}
	if v, err = clusteradmin.ParseClusterNodes(text); err != nil {
		return "", v, "", err
	}
	if len(v.Myself.Slots) == 0 {
		return "", v, "owns no slot", nil
	}
	if len(v.Myself.Migrating)+len(v.Myself.Importing) > 0 {
		return "", v, "a slot move is open on this node (its mover hands it over)", nil
	}
	var cands []candidate
	var whys []string
	for _, n := range v.Nodes {
		if n.PrimaryID != v.Myself.ID || n.Has("fail") || n.Has("fail?") || n.Has("noaddr") {
			continue
		}
		c, why := look(ctx, n.Addr, password)
		if why != "" {
			whys = append(whys, n.Addr+": "+why)
			continue
		}
		cands = append(cands, c)
	}
	if len(cands) == 0 {
		slices.Sort(whys)
		return "", v, "no replica to hand over to" + strings.Join(append([]string{""}, whys...), "; "), nil
	}
	best := slices.MaxFunc(cands, func(a, b candidate) int {
		if a.offset != b.offset {
			return cmp.Compare(a.offset, b.offset)
		}
		return strings.Compare(b.addr, a.addr) // the lowest address on a tie
	})
	return best.addr, v, "", nil
}

// announced waits until every other node of v that answers lists this
// node as a replica, or until: the cluster hears a node's role from the
// node's own pings, and one that stops right after the handover would stay
// a slotless "primary" in some views until Redis flags it failed
// (cluster-node-timeout later), which tools then wait on. It returns how
// many nodes still saw a primary.
func announced(ctx context.Context, v clusteradmin.ClusterView, password string, until time.Time) int {
	var pending []string
	for id, n := range v.Nodes {
		if id != v.Myself.ID && !n.Has("fail") && !n.Has("noaddr") && !n.Has("handshake") {
			pending = append(pending, n.Addr)
		}
	}
	for len(pending) > 0 && time.Now().Before(until) && ctx.Err() == nil {
		next := pending[:0]
		for _, addr := range pending {
			c := client(addr, password)
			text, err := c.ClusterNodes(ctx).Result()
			c.Close()
			if err != nil {
				continue // not answering: nothing to tell it
			}
			if pv, err := clusteradmin.ParseClusterNodes(text); err == nil {
				if n, ok := pv.Nodes[v.Myself.ID]; !ok || !n.IsPrimary() {
					continue
				}
			}
			next = append(next, addr)
		}
		pending = next
		if len(pending) > 0 {
			time.Sleep(50 * time.Millisecond)
		}
	}
	return len(pending)
}

type candidate struct {
	addr   string
	offset int64
}

// look checks one replica: linked to its primary and not held.
func look(ctx context.Context, addr, password string) (candidate, string) {
	c := client(addr, password)
	defer c.Close()
	info, err := c.Info(ctx, "replication").Result()
	if err != nil {
		return candidate{}, err.Error()
	}
	kv := clusteradmin.ParseInfo(info)
	if kv["master_link_status"] != "up" {
		return candidate{}, "link to the primary " + kv["master_link_status"]
	}
	held, err := c.ConfigGet(ctx, "cluster-replica-no-failover").Result()
	if err != nil {
		return candidate{}, err.Error()
	}
	if held["cluster-replica-no-failover"] == "yes" {
		return candidate{}, "held from failover by a slot move"
	}
	off, _ := strconv.ParseInt(kv["slave_repl_offset"], 10, 64)
	return candidate{addr: addr, offset: off}, ""
}

// role is the first element of ROLE: master, slave or sentinel.
func role(ctx context.Context, c *redis.Client) (string, error) {
	v, err := c.Do(ctx, "ROLE").Slice()
	if err != nil {
		return "", err
	}
	if len(v) == 0 {
		return "", errors.New("empty ROLE reply")
	}
	s, _ := v[0].(string)
	return s, nil
}

func client(addr, password string) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: addr, Password: password, Protocol: 2, DisableIdentity: true, DialTimeout: time.Second,
		ReadTimeout: time.Second, WriteTimeout: time.Second, MaxRetries: -1, PoolSize: 1})
}
