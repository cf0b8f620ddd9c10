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
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dayops/dayops/bench/benchkit"
	"github.com/dayops/dayops/bench/chaosbench"
	"github.com/dayops/dayops/internal/instance"
	"github.com/dayops/dayops/internal/kube/render"
)

// Scenario is shard-lost's label, DataScenario shard-lost-data's,
// ReplicaDataScenario shard-lost-replica-data's.
const (
	Scenario            = "delete every Pod of one shard at once, volumes kept"
	DataScenario        = "delete every Pod of one shard at once and its primary's volume"
	ReplicaDataScenario = "delete every Pod of one shard at once and its replica's volume"
	CrashScenario       = "SIGKILL a primary's redis-server as its replica's Pod and volume go"
	CrashKeptScenario   = "SIGKILL a primary's redis-server as its replica's Pod goes, volume kept"
)

// Run runs shard-lost on shard. The instances must come back with the node
// IDs they had (on their own volumes), and the guardian must have needed
// one recover, which succeeded.
func Run(ctx context.Context, b *chaosbench.Bench, shard int) (chaosbench.Figure, error) {
	return run(ctx, b, Scenario, shard, -1)
}

// RunData runs shard-lost-data on shard: the primary's volume goes too, so
// the replica's copy is all that is left. The replica must come back with
// its node ID and take the primary's place, the former primary's ordinal
// with a new one (a new, empty volume), in one recover that succeeded; no
// acknowledged write (WAIT 1: the replica had it) may be lost.
func RunData(ctx context.Context, b *chaosbench.Bench, shard int) (chaosbench.Figure, error) {
	return run(ctx, b, DataScenario, shard, 0)
}

// RunReplicaData runs shard-lost-replica-data on shard: the replica's
// volume goes too. The primary comes back on its volume, a former primary
// whose replica is gone with its data: the recover names it on the Pod,
// so its fence serves at once instead of waiting its 60 s for a replica
// that will never answer. The primary must keep its node ID, the replica's
// ordinal come back with a new one, in one recover that succeeded.
func RunReplicaData(ctx context.Context, b *chaosbench.Bench, shard int) (chaosbench.Figure, error) {
	return run(ctx, b, ReplicaDataScenario, shard, 1)
}

// RunCrash runs crash-lost-replica-data on shard: the replica's Pod is
// force-deleted with its volume (its node lost) and the primary's
// redis-server SIGKILLed at once. The primary restarts in place, fenced:
// its Pod was kept, so nothing named the gone replica on it, and its
// nodes.conf lists the replica. The recover tells its manager the replica
// is gone with its data (instance/gonenotice), and the fence serves
// decided, well before its 60 s wait for the replica would have ended
// (before: the shard refused writes those 60 s, then served unverified).
func RunCrash(ctx context.Context, b *chaosbench.Bench, shard int) (chaosbench.Figure, error) {
	return run(ctx, b, CrashScenario, shard, crashVolume)
}

// RunCrashKept runs crash-lost-replica on shard: RunCrash with the
// replica's volume kept. The replica must come back on it with its node ID
// and the primary's fence serve decided, having found the replica, not
// after waiting out its 60 s for it.
func RunCrashKept(ctx context.Context, b *chaosbench.Bench, shard int) (chaosbench.Figure, error) {
	return run(ctx, b, CrashKeptScenario, shard, crashKept)
}

// crashVolume and crashKept are run's volume for RunCrash and RunCrashKept:
// the primary's redis-server SIGKILLed instead of its Pod deleted, the
// replica's Pod force-deleted, with its volume or not.
const (
	crashVolume = -2
	crashKept   = -3
)

// run deletes the shard's Pods together, and the volume of pods[volume]
// (the primary first) unless volume is -1; crashVolume: see RunCrash.
func run(ctx context.Context, b *chaosbench.Bench, label string, shard int, volume int) (chaosbench.Figure, error) {
	fail := func(f chaosbench.Figure, err error) (chaosbench.Figure, error) {
		f.Scenario = label
		renote(b, f)
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
	f, err := b.Measure(ctx, label, shard, false, func(ctx context.Context, f *chaosbench.Figure) error {
		if volume == crashVolume || volume == crashKept {
			return crash(ctx, b, pods, volume == crashVolume, f)
		}
		if volume >= 0 {
			if err := deleteVolumes(ctx, b, pods[volume]); err != nil {
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
		if volume >= 0 {
			f.Note += fmt.Sprintf(", and %s's volume", pods[volume].Name)
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
	var note string
	switch volume {
	case crashVolume:
		note, err = checkBack(ctx, pods, now, 1) // the replica's volume is gone, the primary kept its place
	case crashKept:
		// The former primary's fence must have decided; the shard's primary
		// after may be either (Redis elects the replica when the primary's
		// restart outlasts cluster-node-timeout: a restart back-off).
		if note, err = checkBack(ctx, pods, now, -1); err == nil {
			i := slices.IndexFunc(now, func(p corev1.Pod) bool { return p.Name == pods[0].Name })
			var fence string
			fence, err = fenceOf(ctx, now[max(i, 0)], true)
			note += fmt.Sprintf("; %s the primary after; %s's fence: %s", now[0].Name, pods[0].Name, fence)
		}
	default:
		note, err = checkBack(ctx, pods, now, volume)
	}
	f.Note += note
	if err != nil {
		return fail(f, err)
	}
	renote(b, f)
	return f, nil
}

// crash force-deletes the replica's Pod (pods[1]) and its volume (unless
// not volume), and SIGKILLs the primary's redis-server.
func crash(ctx context.Context, b *chaosbench.Bench, pods []corev1.Pod, volume bool, f *chaosbench.Figure) error {
	rep := pods[1]
	if volume {
		if err := deleteVolumes(ctx, b, rep); err != nil {
			return err
		}
	}
	if err := b.Kube.CoreV1().Pods(b.Namespace).Delete(ctx, rep.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		return fmt.Errorf("force-delete pod %s: %w", rep.Name, err)
	}
	pids, err := benchkit.SignalRedis(pods[0].Status.PodIP, syscall.SIGKILL)
	if err != nil {
		return err
	}
	what := " and its volume"
	if !volume {
		what = " (its volume kept)"
	}
	f.Note = fmt.Sprintf("%s%s force-deleted, SIGKILL to redis-server %v of %s", rep.Name, what, pids, pods[0].Name)
	return nil
}

// renote puts f's note on its row of the bench's table, which the bench
// recorded before the checks after the repair.
func renote(b *chaosbench.Bench, f chaosbench.Figure) {
	if n := len(b.Figures); n > 0 && b.Figures[n-1].Scenario == f.Scenario {
		b.Figures[n-1].Note = f.Note
	}
}

// checkBack checks the shard's instances once recovered (now, the primary
// first) against those before (pods) when the volume of pods[volume] (-1:
// none) was deleted with them, and says what came back.
func checkBack(ctx context.Context, pods, now []corev1.Pod, volume int) (string, error) {
	ids, got, primary := nodeIDs(pods), nodeIDs(now), pods[0].Name
	switch volume {
	case -1:
		if !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(ids))) {
			return "", fmt.Errorf("node IDs %v after, %v before: an instance did not come back on its volume", got, ids)
		}
		return "; every instance back with its node ID", nil
	case 0:
		// The replica (ids[1:]) kept its ID and is the primary now; the
		// former primary's ordinal has a new ID.
		if now[0].Name == primary || !slices.Contains(ids, got[0]) || slices.Contains(got, ids[0]) {
			return "", fmt.Errorf("node IDs %v after (primary first), %v before: want the replica primary with its ID, %s with a new one", got, ids, primary)
		}
		return fmt.Sprintf("; %s took over with its node ID, %s back with a new one", now[0].Name, primary), nil
	}
	// The primary kept its ID and its place; the replica's ordinal has a
	// new ID, and the primary's fence did not wait for it.
	if now[0].Name != primary || got[0] != ids[0] || slices.Contains(got, ids[volume]) {
		return "", fmt.Errorf("node IDs %v after (primary first), %v before: want %s primary with its ID, %s with a new one",
			got, ids, primary, pods[volume].Name)
	}
	note := fmt.Sprintf("; %s back as the primary with its node ID, %s with a new one", primary, pods[volume].Name)
	fence, err := fenceOf(ctx, now[0], false)
	return note + "; its fence: " + fence, err
}

// fenceOf asks the instance manager of p (a former primary back on its
// volume) how its fence ended: it must have served decided, not after
// waiting out --unreachable-timeout for a replica (gone with its data, or
// not brought back while the recover waited for the primary); decided:
// a takeover or a follow counts too.
func fenceOf(ctx context.Context, p corev1.Pod, decided bool) (string, error) {
	addr := net.JoinHostPort(p.Status.PodIP, strconv.Itoa(render.InstanceStatusPort))
	st, err := instance.FetchStatus(ctx, &http.Client{Timeout: 5 * time.Second}, addr)
	if err != nil {
		return "", fmt.Errorf("fence status of %s: %w", p.Name, err)
	}
	m := st.Marker
	if m == nil {
		return "", fmt.Errorf("fence of %s: no record, want one that served decided", p.Name)
	}
	a := m.Decision.Action
	if ok := a == instance.Serve || (decided && a != instance.Wait); !ok || m.Unverified {
		return "", fmt.Errorf("fence of %s: %s after %s (%s; unverified %v), want it to serve decided, not after its wait for a replica",
			p.Name, a, m.ServeAfter.Round(10*time.Millisecond), m.Decision.Reason, m.Unverified)
	}
	return fmt.Sprintf("%s after %s (%s)", a, m.ServeAfter.Round(10*time.Millisecond), m.Decision.Reason), nil
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
