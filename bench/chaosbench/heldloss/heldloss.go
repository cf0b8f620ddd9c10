// Package heldloss holds the chaos scenario held-loss: a shard's primary
// Pod is force-deleted while its replicas are held from failover
// (cluster-replica-no-failover yes), as a slot move whose workflow was
// terminated while its worker was down leaves them. Redis does not promote
// a held replica, and no mover runs to take the primary over: the instance
// manager of a replica does (instance/holdwatch), once the primary has
// carried the fail flag for holdwatch.DefaultGrace. The guardian then
// relabels and recovers as after any lost primary.
package heldloss

import (
	"context"
	"fmt"
	"net"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/dayops/dayops/bench/benchkit"
	"github.com/dayops/dayops/bench/chaosbench"
	"github.com/dayops/dayops/internal/instance/holdwatch"
	"github.com/dayops/dayops/internal/kube/render"
)

// Scenario is held-loss's label.
const Scenario = "force-delete a primary Pod whose replicas a terminated move left held from failover"

// Run runs held-loss on shard. A promotion sooner than the manager's grace
// is an error: the hold was not in place, Redis failed the shard over.
func Run(ctx context.Context, b *chaosbench.Bench, shard int) (chaosbench.Figure, error) {
	f, err := b.Measure(ctx, Scenario, shard, true, func(ctx context.Context, f *chaosbench.Figure) error {
		creds, err := b.Credentials(ctx)
		if err != nil {
			return err
		}
		reps, err := b.ReplicasOf(ctx, shard)
		if err != nil {
			return err
		}
		for _, p := range reps {
			c := redis.NewClient(&redis.Options{Addr: net.JoinHostPort(p.Status.PodIP, strconv.Itoa(render.RedisPort)),
				Password: creds.Password, Protocol: 2, DisableIdentity: true})
			err := c.ConfigSet(ctx, "cluster-replica-no-failover", "yes").Err()
			c.Close()
			if err != nil {
				return fmt.Errorf("hold replica %s: %w", p.Name, err)
			}
		}
		p, err := b.PrimaryOf(ctx, shard)
		if err != nil {
			return err
		}
		f.Note = fmt.Sprintf("%d replicas held from failover before the loss", len(reps))
		return benchkit.ForceDeletePod(ctx, b.Kube, b.Namespace, p.Name)
	})
	if err == nil && f.Promoted < holdwatch.DefaultGrace {
		err = fmt.Errorf("%s: promoted %s after the loss, before the manager's grace (%s): the hold was not in place",
			Scenario, f.Promoted, holdwatch.DefaultGrace)
	}
	return f, err
}
