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

// Scenario is shard-lost's label, DataScenario shard-lost-data's.
const (
	Scenario     = "delete every Pod of one shard at once, volumes kept"
	DataScenario = "delete every Pod of one shard at once and its primary's volume"
)

// Run runs shard-lost on shard. The instances must come back with the node
// IDs they had (on their own volumes), and the guardian must have needed
// one recover, which succeeded.
func Run(ctx context.Context, b *chaosbench.Bench, shard int) (chaosbench.Figure, error) {
	return run(ctx, b, Scenario, shard, false)
}

// RunData runs shard-lost-data on shard: the primary's volume goes too, so
// the replica's copy is all that is left. The replica must come back with
// its node ID and take the primary's place, the former primary's ordinal
// with a new one (a new, empty volume), in one recover that succeeded; no
// acknowledged write (WAIT 1: the replica had it) may be lost.
func RunData(ctx context.Context, b *chaosbench.Bench, shard int) (chaosbench.Figure, error) {
	return run(ctx, b, DataScenario, shard, true)
}

func run(ctx context.Context, b *chaosbench.Bench, label string, shard int, primaryVolume bool) (chaosbench.Figure, error) {
	fail := func(f chaosbench.Figure, err error) (chaosbench.Figure, error) {
		f.Scenario = label
		return f, fmt.Errorf("%s: %w", label, err)
	}
	before, err := b.Health(ctx)
	if err != nil {
		return fail(chaosbench.Figure{}, err)
	}
	pods, err := shardPods(ctx, b, shard)
	if err != nil {
		return fail(chaosbench.Figure{}, err)
	}
	primary := pods[0].Name
	ids := nodeIDs(pods)
	f, err := b.Measure(ctx, label, shard, false, func(ctx context.Context, f *chaosbench.Figure) error {
		if primaryVolume {
			if err := deleteVolumes(ctx, b, pods[0]); err != nil {
				return err
			}
		}
		var names []string
		for _, p := range pods {
			if err := b.Kube.CoreV1().Pods(b.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil {
				return fmt.Errorf("delete pod %s: %w", p.Name, err)
			}
			names = append(names, p.Name)
		}
		f.Note = fmt.Sprintf("Pods %v deleted together", names)
		if primaryVolume {
			f.Note += fmt.Sprintf(", and %s's volume", primary)
		}
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
	if started != 1 || op.Status != "Completed" {
		return fail(f, fmt.Errorf("want one recover that completed, got %d, the last %s (%s)", started, op.Status, op.Error))
	}
	got := nodeIDs(now)
	if !primaryVolume {
		if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(ids))) {
			return fail(f, fmt.Errorf("node IDs %v after, %v before: an instance did not come back on its volume", got, ids))
		}
		f.Note += "; every instance back with its node ID"
		return f, nil
	}
	// The replica (ids[1:]) kept its ID and is the primary now; the former
	// primary's ordinal has a new ID.
	if now[0].Name == primary || !slices.Contains(ids, nodeIDs(now[:1])[0]) || slices.Contains(got, ids[0]) {
		return fail(f, fmt.Errorf("node IDs %v after (primary first), %v before: want the replica primary with its ID, %s with a new one", got, ids, primary))
	}
	f.Note += fmt.Sprintf("; %s took over with its node ID, %s back with a new one", now[0].Name, primary)
	return f, nil
}

// deleteVolumes deletes the PVCs of p (they go once p is gone).
func deleteVolumes(ctx context.Context, b *chaosbench.Bench, p corev1.Pod) error {
	for _, v := range p.Spec.Volumes {
		if v.PersistentVolumeClaim == nil {
			continue
		}
		if err := b.Kube.CoreV1().PersistentVolumeClaims(b.Namespace).Delete(ctx, v.PersistentVolumeClaim.ClaimName, metav1.DeleteOptions{}); err != nil {
			return fmt.Errorf("delete pvc %s: %w", v.PersistentVolumeClaim.ClaimName, err)
		}
	}
	return nil
}

// shardPods are the Pods of shard's primary (first) and replicas (by
// name).
func shardPods(ctx context.Context, b *chaosbench.Bench, shard int) ([]corev1.Pod, error) {
	prim, err := b.PrimaryOf(ctx, shard)
	if err != nil {
		return nil, err
	}
	reps, err := b.ReplicasOf(ctx, shard)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(reps, func(a, b corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	return append([]corev1.Pod{prim}, reps...), nil
}

// nodeIDs are the Pods' Redis node IDs (their annotation), in order.
func nodeIDs(pods []corev1.Pod) []string {
	out := make([]string, len(pods))
	for i, p := range pods {
		out[i] = p.Name + "=" + p.Annotations[render.AnnotationNodeID]
	}
	return out
}
