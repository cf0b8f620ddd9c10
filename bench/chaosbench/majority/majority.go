// Package majority holds the chaos scenario of a Kubernetes node lost while
// it held most of the cluster's primaries (placement spreads a cluster's
// Pods over nodes but keeps only a shard's own instances apart, and
// failovers move primaries: two of three primaries on one node is an
// ordinary state). Redis flags a node failed only on the reports of a
// majority of the primaries that own slots, and elects a replica only on
// their votes: with most primaries lost no replica is ever promoted and the
// cluster serves nothing, for good. The recover's wait for a live primary
// has the replica furthest ahead take over (failover.TakeOverUnelectable,
// NoMajority); with a majority live again Redis fails the other lost
// primaries over by itself.
package majority

import (
	"context"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dayops/dayops/bench/benchkit"
	"github.com/dayops/dayops/bench/chaosbench"
)

// Scenario is lose-majority's label.
const Scenario = "force-delete the primary Pods of most shards at once (a node that held them lost)"

// Run force-deletes at once the primary Pods of shards 0, 1, ... as many as
// leave no majority of the primaries (2 of 3, 2 of 4, 3 of 5), measured on
// shard 0. Every lost shard needs a replica.
func Run(ctx context.Context, b *chaosbench.Bench) (chaosbench.Figure, error) {
	return b.Measure(ctx, Scenario, 0, true, func(ctx context.Context, f *chaosbench.Figure) error {
		all, err := b.Kube.CoreV1().Pods(b.Namespace).List(ctx, metav1.ListOptions{
			LabelSelector: "dayops.io/role=primary,dayops.io/cluster=" + b.Cluster})
		if err != nil {
			return fmt.Errorf("list primaries: %w", err)
		}
		shards := len(all.Items)
		lose := shards - shards/2 // the fewest that leave fewer than shards/2+1
		var names []string
		for s := range lose {
			p, err := b.PrimaryOf(ctx, s)
			if err != nil {
				return err
			}
			if _, err := b.FirstReplicaOf(ctx, s); err != nil {
				return err
			}
			names = append(names, p.Name)
		}
		for _, name := range names {
			if err := benchkit.ForceDeletePod(ctx, b.Kube, b.Namespace, name); err != nil {
				return err
			}
		}
		f.Note = fmt.Sprintf("%d of %d primaries lost at once (%s): no majority left to fail them over", lose, shards, strings.Join(names, ", "))
		b.Log.Info("chaos: fault", "scenario", Scenario, "pods", names, "shards", shards)
		return nil
	})
}
