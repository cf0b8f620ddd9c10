// Package noaddr keeps a go-redis cluster client from dialing a node that
// the cluster names without a host.
//
// A Redis Cluster node that pings another node's address and gets a reply
// from a different node ID (Kubernetes gave the address to another Pod)
// forgets that node's address: it flags it noaddr, with an empty IP and
// port 0. Until the node is heard from at its new address, CLUSTER SLOTS
// asked there names the node's slots with host "" and port 0 (redis.io: ""
// "is returned if the node doesn't know its own IP address"), and MOVED
// replies name it ":0". go-redis (v9.23) takes port 0 for the port of the
// node it asked (replaceZeroPort, meant for TLS-only clusters) and dials
// ":6379", which Go dials on the local host: where every node listens on
// 6379, as in Kubernetes, a client with anything else on localhost:6379
// (seen: the distribution's own redis-server) sends the slots' commands
// there, and they succeed. Found by the chaos writer, whose SET ... GET came
// back with values no write to the cluster had replaced (809 of them in
// four runs of the whole-shard scenarios under load: every one a key on the
// local redis-server, none lost from the cluster).
//
// Guard makes such a dial fail (ErrNoHost): the command fails as it does
// while a node is unreachable, and the client's next refresh of the slot
// map (on the error) finds the node's address once the cluster has it.
package noaddr

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrNoHost is the error of a dial to an address without a host.
var ErrNoHost = errors.New("the cluster names this node without a host (its address is unknown to the node asked, which may be the moment its Pod moved): not dialing the local host in its place")

// Guard sets o's Dialer to go-redis' own dialer (with o's DialTimeout and
// TLSConfig) behind the check, and returns o. A Dialer o already has is
// kept behind the check.
func Guard(o *redis.ClusterOptions) *redis.ClusterOptions {
	dial := o.Dialer
	if dial == nil {
		dial = redis.NewDialer(&redis.Options{DialTimeout: cmp.Or(o.DialTimeout, 5*time.Second), TLSConfig: o.TLSConfig})
	}
	o.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if err := Check(network, addr); err != nil {
			return nil, err
		}
		return dial(ctx, network, addr)
	}
	return o
}

// Check returns ErrNoHost for a TCP address whose host is empty.
func Check(network, addr string) error {
	if network == "unix" {
		return nil
	}
	if host, _, err := net.SplitHostPort(addr); err == nil && host == "" {
		return fmt.Errorf("dial %q: %w", addr, ErrNoHost)
	}
	return nil
}
