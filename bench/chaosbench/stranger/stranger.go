// Package stranger holds the chaos scenario of a lost primary's IP given to
// another Pod of the cluster before Redis promotes its replica: the
// primary's Pod is force-deleted (its node vanished) and a Pod running an
// empty cluster node with the cluster's password (as a scale-out node or a
// recreated instance is before it is met) is started on the same
// Kubernetes node, where the node agent hands out the lowest free IP: the
// lost primary's. Two things go wrong without dayops:
//
//   - The replica reconnects to that address every second; the node there
//     takes its AUTH (same password) and PSYNC, and Redis has the replica
//     take a full resync of nothing, flushing the shard's only copy. The
//     instance manager's link guard (internal/instance/linkguard) locks the
//     replica's masterauth while its link is down and the address does not
//     answer as its primary.
//   - The other nodes ping the lost primary's bus address, hear another node
//     ID and flag the lost primary noaddr; Redis' failure detection skips
//     such a node, so it is never flagged failed and the replica never
//     promoted. The recover's wait for a live primary has the replica take
//     over (failover.TakeOverUnelectable).
package stranger

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dayops/dayops/bench/benchkit"
	"github.com/dayops/dayops/bench/chaosbench"
	"github.com/dayops/dayops/internal/kube/render"
)

// Scenario is stranger-at-address's label.
const Scenario = "force-delete a primary Pod and start an empty cluster node with its password at its IP before the promotion"

// tries bounds the strangers started until one has the lost primary's IP
// (each takes the lowest free IP of the node: one below it, or one taken
// while the lost Pod's IP was not yet released, is kept and the next one
// tried).
const tries = 12

// Run runs stranger-at-address on shard (it needs a replica there); the
// strangers are deleted once the shard is whole again.
func Run(ctx context.Context, b *chaosbench.Bench, shard int) (chaosbench.Figure, error) {
	var started []string
	defer func() {
		for _, name := range started {
			if err := b.Kube.CoreV1().Pods(b.Namespace).Delete(context.WithoutCancel(ctx), name, metav1.DeleteOptions{}); err != nil {
				b.Log.Warn("chaos: delete stranger", "pod", name, "err", err)
			}
		}
	}()
	return b.Measure(ctx, Scenario, shard, true, func(ctx context.Context, f *chaosbench.Figure) error {
		p, err := b.PrimaryOf(ctx, shard)
		if err != nil {
			return err
		}
		reps, err := b.ReplicasOf(ctx, shard)
		if err != nil || len(reps) == 0 {
			return fmt.Errorf("shard-%d's replicas: %d (%v)", shard, len(reps), err)
		}
		creds, err := b.Credentials(ctx)
		if err != nil {
			return err
		}
		ip, node := p.Status.PodIP, p.Spec.NodeName
		if err := benchkit.ForceDeletePod(ctx, b.Kube, b.Namespace, p.Name); err != nil {
			return err
		}
		got := ""
		for i := 0; i < tries && got != ip; i++ {
			name := fmt.Sprintf("%s-stranger-%d", b.Cluster, i)
			if got, err = start(ctx, b, name, node, p.Spec.Containers[0].Image, creds.Password); err != nil {
				return err
			}
			started = append(started, name)
		}
		if got != ip {
			return fmt.Errorf("no stranger got the lost primary's IP %s on node %s in %d tries (last: %s)", ip, node, tries, got)
		}
		rc := benchkit.PodClient(reps[0].Status.PodIP, creds.Password, time.Second)
		defer rc.Close()
		role, err := rc.Do(ctx, "ROLE").Slice()
		if err != nil || len(role) == 0 {
			return fmt.Errorf("role of %s: %w", reps[0].Name, err)
		}
		f.Note = fmt.Sprintf("an empty cluster node with the cluster's password answered at %s, the IP of lost %s, while %s was a %s",
			ip, p.Name, reps[0].Name, role[0])
		b.Log.Info("chaos: fault", "scenario", Scenario, "pod", p.Name, "ip", ip, "replica", reps[0].Name, "replica_role", role[0])
		return nil
	})
}

// start creates a Pod named name on node running an empty cluster node
// with password (as a scale-out node or a recreated instance is before it
// is met), and returns its IP once it answers there. A client whose slot
// map still names the lost primary is refused there (CLUSTERDOWN: it
// serves no slot).
func start(ctx context.Context, b *chaosbench.Bench, name, node, image, password string) (string, error) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: b.Namespace, Labels: map[string]string{"app": "chaos-stranger"}},
		Spec: corev1.PodSpec{NodeName: node, RestartPolicy: corev1.RestartPolicyNever,
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
			Containers: []corev1.Container{{
				Name: "redis", Image: image, Command: []string{"redis-server"},
				Args: []string{"--port", fmt.Sprint(render.RedisPort), "--bind", "$(POD_IP)", "--requirepass", password,
					"--cluster-enabled", "yes", "--dir", render.DataDir, "--save", "", "--appendonly", "no"},
				Env: []corev1.EnvVar{{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{
					FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}}},
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: render.DataDir}},
			}}},
	}
	if _, err := b.Kube.CoreV1().Pods(b.Namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return "", fmt.Errorf("create %s: %w", name, err)
	}
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); {
		got, err := b.Kube.CoreV1().Pods(b.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err == nil && got.Status.PodIP != "" {
			rc := benchkit.PodClient(got.Status.PodIP, password, 200*time.Millisecond)
			err := rc.Ping(ctx).Err()
			rc.Close()
			if err == nil {
				return got.Status.PodIP, nil
			}
		}
		if err := benchkit.Sleep(ctx, 20*time.Millisecond); err != nil {
			return "", err
		}
	}
	return "", fmt.Errorf("%s did not answer within 30 s", name)
}
