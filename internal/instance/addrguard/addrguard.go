// Package addrguard keeps a restarting replica from replicating a stranger.
//
// A replica's nodes.conf holds its primary's address from its last run. On
// start Redis connects its replication to that address at once, and a
// primary that came back elsewhere (a recreated Pod gets a new IP) may have
// left it to another Pod: Kubernetes reuses Pod IPs. If that Pod is another
// Redis node of the cluster (same password), the replica asks it for a
// partial resync, is refused, and takes a full resync of the stranger's data:
// it flushes its own copy (and its AOF: the only copy left when the shard's
// primary lost its volume) and then follows the stranger's stream, while the
// cluster bus still calls it the replica of its old primary. Checked on Redis
// 7.0.15: the replica stayed linked to the other shard's primary.
//
// Guard runs before redis-server starts: when nodes.conf says this node is
// a replica and its primary's address answers as another node (CLUSTER
// MYID), or is this node's own address, it writes an address where nothing
// answers in its place (Placeholder). Redis then learns the primary's new
// address from the cluster bus (the primary's own packets, or the gossip of
// nodes that reach it once the placeholder is marked failing) and syncs
// from the real primary; meanwhile the replica keeps the data it loaded.
package addrguard

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dayops/dayops/internal/atomicfile"
)

// Placeholder is the address written in place of a stranger's: port 1 on
// the loopback, where nothing listens (cluster bus port 2).
const Placeholder = "127.0.0.1:1@2"

// askTimeout bounds the question to the address.
const askTimeout = 500 * time.Millisecond

// Result says what Guard found and did.
type Result struct {
	// PrimaryID and Addr are the primary and its address in nodes.conf
	// (empty when this node is not a replica).
	PrimaryID, Addr string
	// Found is the node ID that answered at Addr ("self" for this node's
	// own address, "" when nothing answered).
	Found string
	// Rewritten: the address was replaced by Placeholder.
	Rewritten bool
}

// Guard checks the primary's address in the nodes.conf at path (see the
// package doc); own is this node's address (ip:port), password the
// cluster's. A missing nodes.conf, a primary, or an address that does not
// answer (or refuses the password: not this cluster's node) leaves the file
// as it is.
func Guard(ctx context.Context, path, own, password string) (Result, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Result{}, nil
	}
	if err != nil {
		return Result{}, fmt.Errorf("read %s: %w", path, err)
	}
	lines := strings.Split(string(b), "\n")
	var res Result
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) >= 4 && slices.Contains(strings.Split(f[2], ","), "myself") && f[3] != "-" {
			res.PrimaryID = f[3]
		}
	}
	if res.PrimaryID == "" {
		return res, nil
	}
	at := -1
	for i, l := range lines {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == res.PrimaryID {
			at = i
			res.Addr, _, _ = strings.Cut(f[1], "@")
		}
	}
	if at < 0 || res.Addr == "" || strings.HasPrefix(res.Addr, ":") || res.Addr == strings.SplitN(Placeholder, "@", 2)[0] {
		return res, nil
	}
	if res.Addr == own {
		res.Found = "self"
	} else {
		res.Found = AskID(ctx, res.Addr, password)
	}
	if res.Found == "" || res.Found == res.PrimaryID {
		return res, nil
	}
	f := strings.Fields(lines[at])
	if _, host, ok := strings.Cut(f[1], ","); ok {
		f[1] = Placeholder + "," + host
	} else {
		f[1] = Placeholder
	}
	lines[at] = strings.Join(f, " ")
	if err := writeAtomic(path, []byte(strings.Join(lines, "\n"))); err != nil {
		return res, err
	}
	res.Rewritten = true
	return res, nil
}

// AskID is the node ID answering at addr with password (CLUSTER MYID,
// within half a second), "" when none answers or the password is refused.
func AskID(ctx context.Context, addr, password string) string {
	ctx, cancel := context.WithTimeout(ctx, askTimeout)
	defer cancel()
	c := redis.NewClient(&redis.Options{Addr: addr, Password: password, Protocol: 2, DisableIdentity: true,
		DialTimeout: askTimeout, ReadTimeout: askTimeout, WriteTimeout: askTimeout, MaxRetries: -1})
	defer c.Close()
	id, err := c.Do(ctx, "cluster", "myid").Text()
	if err != nil {
		return ""
	}
	return id
}

// writeAtomic replaces path with b (a temporary file renamed over it),
// keeping its mode.
func writeAtomic(path string, b []byte) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	return atomicfile.Write(path, b, st.Mode().Perm())
}
