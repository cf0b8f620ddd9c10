// Package linkguard keeps a running replica from taking a full resync of a
// stranger at its primary's address.
//
// A replica whose link to its primary is down reconnects to the address it
// last had every second. Kubernetes reuses Pod IPs: when the primary's Pod
// is gone (its node lost, the Pod deleted) the address may go to another
// Pod of the cluster before Redis promotes a replica or the primary comes
// back elsewhere: a scaled-out node, another shard's recovered instance, or
// the lost primary's ordinal recreated empty. That node has the cluster's
// password, so the replica's PSYNC succeeds with a full resync of the
// stranger's data: it flushes its copy, the shard's last one when the
// primary's volume is gone, while the cluster bus still calls it the
// primary's replica. addrguard closes the same door when redis-server
// starts; Watch closes it while it runs.
//
// Watch looks at the node every Interval. While it is a replica whose link
// is down, the address Redis connects to is asked for its node ID with the
// real password. Unless it answers as the primary the cluster names for
// this node (nothing answers, or another node does), masterauth is replaced
// by a token no node accepts (a lock: a stranger's AUTH fails, the replica
// keeps its data and retries every second); once it answers as the
// primary, masterauth is given back and the next attempt syncs. A link
// that is up, or a node that is a primary, unlocks.
// The lock lives in the running server only (CONFIG SET, never rewritten to
// the configuration file): a restart of the Pod's redis-server starts with
// the real password.
package linkguard

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dayops/dayops/internal/instance/addrguard"
	"github.com/dayops/dayops/internal/redis/clusteradmin"
)

// DefaultInterval is how often Watch looks (one INFO replication).
const DefaultInterval = 250 * time.Millisecond

// Options of Watch.
type Options struct {
	// Addr is this node's redis-server and Password its requirepass.
	Addr, Password string
	// Interval between looks (default DefaultInterval).
	Interval time.Duration
	Log      *slog.Logger
}

// Watch guards the node's replication link until ctx ends.
func Watch(ctx context.Context, o Options) {
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	self := redis.NewClient(&redis.Options{Addr: o.Addr, Password: o.Password, Protocol: 2, DisableIdentity: true,
		MaxRetries: -1, DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second})
	defer self.Close()
	g := &guard{self: self, log: o.Log}
	t := time.NewTicker(o.Interval)
	defer t.Stop()
	for {
		g.look(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

type guard struct {
	self *redis.Client
	log  *slog.Logger
	// auth is the real masterauth (read once, before any lock); locked
	// says a lock is on.
	auth             string
	haveAuth, locked bool
	// stranger is the last other node found at the primary's address
	// (logged once per node).
	stranger string
}

// link is the node's replication state.
type link struct {
	replica, up bool
	addr        string // the primary's address Redis connects to
}

func (g *guard) look(ctx context.Context) {
	l, err := readLink(ctx, g.self)
	if err != nil {
		return // redis-server busy or going: the next look
	}
	if !l.replica || l.up {
		g.unlock(ctx, "the replication link is up, or the node is a primary")
		return
	}
	if !g.haveAuth {
		cur, err := g.self.ConfigGet(ctx, "masterauth").Result()
		if err != nil {
			return
		}
		g.auth, g.haveAuth = cur["masterauth"], true
	}
	want, err := primaryID(ctx, g.self)
	if err != nil || want == "" {
		return
	}
	found := addrguard.AskID(ctx, l.addr, g.auth)
	if found == want {
		g.unlock(ctx, "the primary answers at "+l.addr)
		return
	}
	g.lock(ctx)
	if found != "" && found != g.stranger {
		g.stranger = found
		g.log.Warn("another node answers at the primary's address (Kubernetes reused the IP): masterauth stays locked so that "+
			"the replica does not take a full resync of its data", "primary", short(want), "addr", l.addr, "found", short(found))
	}
}

// lock replaces masterauth with a token no node accepts.
func (g *guard) lock(ctx context.Context) {
	if g.locked {
		return
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	if err := g.self.ConfigSet(ctx, "masterauth", "dayops-linkguard-"+hex.EncodeToString(b)).Err(); err != nil {
		return
	}
	g.locked = true
	g.log.Info("replication link down and its primary's address does not answer as the primary: masterauth locked until it does")
}

func (g *guard) unlock(ctx context.Context, why string) {
	if !g.locked {
		return
	}
	if err := g.self.ConfigSet(ctx, "masterauth", g.auth).Err(); err != nil {
		g.log.Warn("could not give masterauth back (next look retries)", "err", err)
		return
	}
	g.locked, g.stranger = false, ""
	g.log.Info("masterauth given back: " + why)
}

// readLink reads INFO replication.
func readLink(ctx context.Context, c *redis.Client) (link, error) {
	s, err := c.Info(ctx, "replication").Result()
	if err != nil {
		return link{}, err
	}
	kv := clusteradmin.ParseInfo(s)
	return link{replica: kv["role"] == "slave", up: kv["master_link_status"] == "up",
		addr: net.JoinHostPort(kv["master_host"], kv["master_port"])}, nil
}

// primaryID is the node ID the cluster names as this node's primary
// (CLUSTER NODES' myself line), "" when it names none.
func primaryID(ctx context.Context, c *redis.Client) (string, error) {
	s, err := c.ClusterNodes(ctx).Result()
	if err != nil {
		return "", err
	}
	v, err := clusteradmin.ParseClusterNodes(s)
	return v.Myself.PrimaryID, err
}

func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}
