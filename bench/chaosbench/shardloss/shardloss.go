// Package shardloss holds the chaos scenario of a shard that loses every
// instance at once: the Pods of its primary and of its replicas are deleted
// together (default grace: their redis-servers write their AOF on the way
// out), their volumes kept, as a careless `kubectl delete pod -l ...`, an
// eviction or a drain of both nodes does. Redis has nothing to promote,
// and with cluster-require-full-coverage every shard refuses writes until
// the shard has a primary again. The guardian's recover must bring the
// instances back on their volumes (each with its node ID) without waiting
// for a promotion that cannot come; every acknowledged write and every
// filled key must read back.
package shardloss

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dayops/dayops/bench/chaosbench"
	"github.com/dayops/dayops/internal/kube/render"
)

// Scenario is shard-lost's label.
const Scenario = "delete every Pod of one shard at once, volumes kept"

// Run runs shard-lost on shard. The instances must come back with the node
// IDs they had (on their own volumes), and the guardian must have needed
// one recover, which succeeded.
func Run(ctx context.Context, b *chaosbench.Bench, shard int) (chaosbench.Figure, error) {
	fail := func(f chaosbench.Figure, err error) (chaosbench.Figure, error) {
		f.Scenario = Scenario
		return f, fmt.Errorf("%s: %w", Scenario, err)
	}
	before, err := b.Health(ctx)
	if err != nil {
		return fail(chaosbench.Figure{}, err)
	}
	pods, err := shardPods(ctx, b, shard)
	if err != nil {
		return fail(chaosbench.Figure{}, err)
	}
	ids := nodeIDs(pods)
	f, err := b.Measure(ctx, Scenario, shard, false, func(ctx context.Context, f *chaosbench.Figure) error {
		var names []string
		for _, p := range pods {
			if err := b.Kube.CoreV1().Pods(b.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil {
				return fmt.Errorf("delete pod %s: %w", p.Name, err)
			}
			names = append(names, p.Name)
		}
		f.Note = fmt.Sprintf("Pods %v deleted together", names)
		return nil
	})
	if err != nil {
		return f, err
	}
	after, err := b.Health(ctx)
	if err != nil {
		return fail(f, err)
	}
	op, err := b.WaitOperation(ctx, after.LastRecovery, chaosbench.RepairLimit)
	if err != nil {
		return fail(f, err)
	}
	now, err := shardPods(ctx, b, shard)
	if err != nil {
		return fail(f, err)
	}
	started := after.Recoveries - before.Recoveries
	f.Note += fmt.Sprintf("; %d recover started, the last %s in %s", started, op.Status, op.ClosedAt.Sub(op.StartedAt).Round(100*time.Millisecond))
	switch got := nodeIDs(now); {
	case started != 1 || op.Status != "Completed":
		return fail(f, fmt.Errorf("want one recover that completed, got %d, the last %s (%s)", started, op.Status, op.Error))
	case !slices.Equal(got, ids):
		return fail(f, fmt.Errorf("node IDs %v after, %v before: an instance did not come back on its volume", got, ids))
	}
	f.Note += "; every instance back with its node ID"
	return f, nil
}

// shardPods are the Pods of shard's primary and replicas, by name.
func shardPods(ctx context.Context, b *chaosbench.Bench, shard int) ([]corev1.Pod, error) {
	prim, err := b.PrimaryOf(ctx, shard)
	if err != nil {
		return nil, err
	}
	reps, err := b.ReplicasOf(ctx, shard)
	if err != nil {
		return nil, err
	}
	pods := append([]corev1.Pod{prim}, reps...)
	slices.SortFunc(pods, func(a, b corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	return pods, nil
}

// nodeIDs are the Pods' Redis node IDs (their annotation), in order.
func nodeIDs(pods []corev1.Pod) []string {
	out := make([]string, len(pods))
	for i, p := range pods {
		out[i] = p.Name + "=" + p.Annotations[render.AnnotationNodeID]
	}
	return out
}
