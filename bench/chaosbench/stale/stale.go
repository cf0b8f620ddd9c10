// Package stale holds the chaos scenario of a primary lost while its
// replica has been cut off from it for over a minute (a full sync failing
// in a loop, a partition between the two): Redis finds the replica too old
// to elect (cluster-replica-validity-factor: 10 x cluster-node-timeout +
// repl-ping-replica-period, 60 s with dayops' defaults) and the shard has no
// primary. The primary's Pod is deleted with its volume left: the shard's
// data is there, and the recover's wait for a live primary brings the
// primary back on it (selfheal.restartPrimary). The cut is an ACL on the
// primary that refuses its default user PSYNC and SYNC (the replica's
// reconnects fail with NOPERM); it lives in the running server only, so the
// restarted primary takes its replica again.
package stale

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dayops/dayops/bench/benchkit"
	"github.com/dayops/dayops/bench/chaosbench"
)

// Scenario is stale-replica's label.
const Scenario = "delete a primary Pod (its volume left) after its replica was cut off from it for over a minute"

// CutFor is how long the replica is cut off before the primary's Pod is
// deleted: past the 60 s Redis allows, with the cluster-node-timeout Redis
// subtracts and a margin.
const CutFor = 75 * time.Second

// Run runs stale-replica on shard.
func Run(ctx context.Context, b *chaosbench.Bench, shard int) (chaosbench.Figure, error) {
	p, err := b.PrimaryOf(ctx, shard)
	if err != nil {
		return chaosbench.Figure{}, err
	}
	rep, err := b.FirstReplicaOf(ctx, shard)
	if err != nil {
		return chaosbench.Figure{}, err
	}
	creds, err := b.Credentials(ctx)
	if err != nil {
		return chaosbench.Figure{}, err
	}
	pc := benchkit.PodClient(p.Status.PodIP, creds.Password, time.Second)
	defer pc.Close()
	rc := benchkit.PodClient(rep.Status.PodIP, creds.Password, time.Second)
	defer rc.Close()
	if err := pc.Do(ctx, "ACL", "SETUSER", "default", "-psync", "-sync").Err(); err != nil {
		return chaosbench.Figure{}, fmt.Errorf("cut %s off from %s: %w", rep.Name, p.Name, err)
	}
	if err := pc.Do(ctx, "CLIENT", "KILL", "TYPE", "replica").Err(); err != nil {
		return chaosbench.Figure{}, fmt.Errorf("drop %s's replica link: %w", p.Name, err)
	}
	// The link is down within a second or two of the kill: a cut that did
	// not take is told apart from one undone later.
	if err := waitLinkDown(ctx, rc, 10*time.Second); err != nil {
		return chaosbench.Figure{}, fmt.Errorf("%s's link is not down 10 s after the cut (%v): %s", rep.Name, err, describe(ctx, pc, rc, p.Name, rep.Name))
	}
	b.Log.Info("chaos: replica cut off", "scenario", Scenario, "primary", p.Name, "replica", rep.Name, "for", CutFor)
	if err := benchkit.Sleep(ctx, CutFor); err != nil {
		return chaosbench.Figure{}, err
	}
	if err := waitLinkDown(ctx, rc, 0); err != nil {
		return chaosbench.Figure{}, fmt.Errorf("%s's link is not down after %s (%v): the cut did not hold: %s", rep.Name, CutFor, err, describe(ctx, pc, rc, p.Name, rep.Name))
	}
	return b.Measure(ctx, Scenario, shard, false, func(ctx context.Context, f *chaosbench.Figure) error {
		if err := benchkit.ForceDeletePod(ctx, b.Kube, b.Namespace, p.Name); err != nil {
			return err
		}
		f.Note = fmt.Sprintf("%s cut off from %s for %s (PSYNC refused), then %s force-deleted, its volume left", rep.Name, p.Name, CutFor, p.Name)
		return nil
	})
}

// waitLinkDown waits up to limit (one look for 0) for the replica to say
// master_link_status:down.
func waitLinkDown(ctx context.Context, rc *redis.Client, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		info, err := rc.Info(ctx, "replication").Result()
		if err == nil && strings.Contains(info, "master_link_status:down") {
			return nil
		}
		if err == nil {
			err = errors.New("not down")
		}
		if !time.Now().Before(deadline) {
			return err
		}
		if err := benchkit.Sleep(ctx, 250*time.Millisecond); err != nil {
			return err
		}
	}
}

// describe says what the two nodes report of their link and the cut, for
// an error that must tell why the cut did not hold.
func describe(ctx context.Context, pc, rc *redis.Client, primary, replica string) string {
	fields := func(c *redis.Client, keys ...string) string {
		info, err := c.Info(ctx, "replication", "server").Result()
		if err != nil {
			return err.Error()
		}
		var out []string
		for _, l := range strings.Split(info, "\r\n") {
			for _, k := range keys {
				if strings.HasPrefix(l, k+":") {
					out = append(out, l)
				}
			}
		}
		return strings.Join(out, " ")
	}
	acl, err := pc.Do(ctx, "ACL", "GETUSER", "default").Result()
	if err != nil {
		acl = err
	}
	return fmt.Sprintf("%s: %s; %s: %s; %s's default user: %v", replica,
		fields(rc, "role", "master_host", "master_link_status", "master_link_down_since_seconds", "master_sync_in_progress", "uptime_in_seconds"),
		primary, fields(pc, "role", "connected_slaves", "uptime_in_seconds"), primary, acl)
}
