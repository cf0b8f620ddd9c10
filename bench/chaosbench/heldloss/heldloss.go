// Package heldloss holds two chaos scenarios of a failover hold
// (cluster-replica-no-failover yes on a shard's replicas) that a slot move
// whose workflow was terminated while its worker was down leaves behind:
//
//   - held-loss: the shard's primary Pod is force-deleted at once, with the
//     hold in place. Redis does not promote a held replica, and no mover
//     runs to take the primary over: the instance manager of a replica does
//     (instance/holdwatch), once the primary has carried the fail flag for
//     holdwatch.DefaultGrace. The guardian then relabels and recovers as
//     after any lost primary.
//   - stale-hold: the hold is left in place until the guardian clears it
//     (no operation runs, the cluster is healthy, no slot is open: its
//     hold sweep), then the primary Pod is force-deleted and Redis fails
//     the shard over by itself, without the manager's grace.
package heldloss

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"

	"github.com/dayops/dayops/bench/benchkit"
	"github.com/dayops/dayops/bench/chaosbench"
	"github.com/dayops/dayops/internal/instance/holdwatch"
)

// Scenario is held-loss's label, StaleScenario stale-hold's.
const (
	Scenario      = "force-delete a primary Pod whose replicas a terminated move left held from failover"
	StaleScenario = "force-delete a primary Pod after the guardian cleared the failover hold a terminated move left"
)

// ReleaseLimit bounds stale-hold's wait for the guardian to clear the hold
// (it sweeps every 15 s and clears a hold two sweeps found).
const ReleaseLimit = 2 * time.Minute

// Run runs held-loss on shard. A promotion sooner than the manager's grace
// is an error: the hold was not in place, Redis failed the shard over.
func Run(ctx context.Context, b *chaosbench.Bench, shard int) (chaosbench.Figure, error) {
	f, err := b.Measure(ctx, Scenario, shard, true, func(ctx context.Context, f *chaosbench.Figure) error {
		reps, err := replicas(ctx, b, shard)
		if err != nil {
			return err
		}
		defer reps.close()
		held, err := reps.hold(ctx, "yes")
		if err != nil {
			return err
		}
		f.Note = fmt.Sprintf("%d replicas held from failover before the loss", len(held))
		return forceDeletePrimary(ctx, b, shard)
	})
	if err == nil && f.Promoted < holdwatch.DefaultGrace {
		err = fmt.Errorf("%s: promoted %s after the loss, before the manager's grace (%s): the hold was not in place",
			Scenario, f.Promoted, holdwatch.DefaultGrace)
	}
	return f, err
}

// RunStale runs stale-hold on shard: an error when the guardian does not
// clear the hold within ReleaseLimit.
func RunStale(ctx context.Context, b *chaosbench.Bench, shard int) (chaosbench.Figure, error) {
	fail := func(err error) (chaosbench.Figure, error) { return chaosbench.Figure{Scenario: StaleScenario}, err }
	reps, err := replicas(ctx, b, shard)
	if err != nil {
		return fail(err)
	}
	defer reps.close()
	held, err := reps.hold(ctx, "yes")
	if err != nil {
		return fail(err)
	}
	set := time.Now()
	for {
		still, err := reps.hold(ctx, "")
		if err != nil {
			return fail(err)
		}
		if len(still) == 0 {
			break
		}
		if time.Since(set) > ReleaseLimit {
			return fail(fmt.Errorf("%s: %d of %d replicas still held from failover %s after the hold was left: the guardian did not clear it",
				StaleScenario, len(still), len(held), ReleaseLimit))
		}
		time.Sleep(500 * time.Millisecond)
	}
	released := time.Since(set).Round(100 * time.Millisecond)
	b.Log.Info("chaos: the guardian cleared the failover hold", "scenario", StaleScenario, "after", released)
	return b.Measure(ctx, StaleScenario, shard, true, func(ctx context.Context, f *chaosbench.Figure) error {
		f.Note = fmt.Sprintf("the guardian cleared the hold of %d replicas %s after it was left", len(held), released)
		return forceDeletePrimary(ctx, b, shard)
	})
}

// replicaSet is a shard's replica Pods with a client to each.
type replicaSet struct {
	pods    []corev1.Pod
	clients []*redis.Client
}

// replicas returns shard's replicas with a client to each (close them).
func replicas(ctx context.Context, b *chaosbench.Bench, shard int) (*replicaSet, error) {
	creds, err := b.Credentials(ctx)
	if err != nil {
		return nil, err
	}
	pods, err := b.ReplicasOf(ctx, shard)
	if err != nil {
		return nil, err
	}
	rs := &replicaSet{pods: pods}
	for _, p := range pods {
		rs.clients = append(rs.clients, redis.NewClient(&redis.Options{Addr: benchkit.PodAddr(p.Status.PodIP),
			Password: creds.Password, Protocol: 2, DisableIdentity: true}))
	}
	return rs, nil
}

func (rs *replicaSet) close() {
	for _, c := range rs.clients {
		c.Close()
	}
}

// hold sets cluster-replica-no-failover to v on the replicas ("": only
// reads it) and returns the replicas that hold it ("yes") afterwards.
func (rs *replicaSet) hold(ctx context.Context, v string) ([]corev1.Pod, error) {
	var held []corev1.Pod
	for i, p := range rs.pods {
		c := rs.clients[i]
		var err error
		if v != "" {
			err = c.ConfigSet(ctx, "cluster-replica-no-failover", v).Err()
		}
		var got map[string]string
		if err == nil {
			got, err = c.ConfigGet(ctx, "cluster-replica-no-failover").Result()
		}
		if err != nil {
			return nil, fmt.Errorf("hold replica %s: %w", p.Name, err)
		}
		if got["cluster-replica-no-failover"] == "yes" {
			held = append(held, p)
		}
	}
	return held, nil
}

func forceDeletePrimary(ctx context.Context, b *chaosbench.Bench, shard int) error {
	p, err := b.PrimaryOf(ctx, shard)
	if err != nil {
		return err
	}
	return benchkit.ForceDeletePod(ctx, b.Kube, b.Namespace, p.Name)
}
