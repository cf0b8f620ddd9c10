// Package drain holds the chaos scenario of a primary's Pod deleted the
// graceful way, as a node drain, an eviction or `kubectl delete pod` does:
// the instance manager gets SIGTERM and, before redis-server gets it, has
// the shard's replica take over (package instance/stepaside), so the shard
// pauses for a handshake instead of refusing writes until Redis fails the
// stopped primary over. The guardian then sees the Pod gone and a recover
// brings the ordinal back, as after any lost Pod.
//
// What tells a handover from Redis' own failover is Redis' count of manual
// failovers a node started (CLUSTER INFO cluster_stats_messages_mfstart_sent):
// the promoted replica's must have grown. A scenario where it did not is an
// error: the primary stopped without stepping aside.
package drain

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dayops/dayops/bench/benchkit"
	"github.com/dayops/dayops/bench/chaosbench"
)

// Scenario is delete-primary's label.
const Scenario = "delete a primary Pod (graceful, as a node drain does)"

// Run runs delete-primary on shard.
func Run(ctx context.Context, b *chaosbench.Bench, shard int) (chaosbench.Figure, error) {
	p, err := b.PrimaryOf(ctx, shard)
	if err != nil {
		return chaosbench.Figure{}, err
	}
	reps, err := b.ReplicasOf(ctx, shard)
	if err != nil {
		return chaosbench.Figure{}, err
	}
	creds, err := b.Credentials(ctx)
	if err != nil {
		return chaosbench.Figure{}, err
	}
	before := map[string]int64{}
	for _, r := range reps {
		n, err := manualFailovers(ctx, r.Status.PodIP, creds.Password)
		if err != nil {
			return chaosbench.Figure{}, err
		}
		before[r.Status.PodIP] = n
	}
	f, err := b.Measure(ctx, Scenario, shard, true, func(ctx context.Context, f *chaosbench.Figure) error {
		if err := b.Kube.CoreV1().Pods(b.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil {
			return fmt.Errorf("delete pod %s: %w", p.Name, err)
		}
		f.Note = "Pod " + p.Name + " deleted (its grace period)"
		return nil
	})
	if err != nil {
		return f, err
	}
	var took []string
	for ip, n := range before {
		after, err := manualFailovers(ctx, ip, creds.Password)
		if err == nil && after > n {
			took = append(took, ip)
		}
	}
	if len(took) == 0 {
		return f, fmt.Errorf("%s: no replica of shard %d started a manual failover (mfstart_sent unchanged): %s stopped without stepping aside", Scenario, shard, p.Name)
	}
	f.Note += "; handed over to " + strings.Join(took, ",") + " (CLUSTER FAILOVER)"
	if n := len(b.Figures); n > 0 && b.Figures[n-1].Scenario == Scenario {
		b.Figures[n-1].Note = f.Note // the table's row
	}
	return f, nil
}

// manualFailovers is how many manual failovers the node at ip started.
func manualFailovers(ctx context.Context, ip, password string) (int64, error) {
	c := benchkit.PodClient(ip, password, 2*time.Second)
	defer c.Close()
	info, err := c.ClusterInfo(ctx).Result()
	if err != nil {
		return 0, fmt.Errorf("CLUSTER INFO of %s: %w", ip, err)
	}
	for _, l := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "cluster_stats_messages_mfstart_sent:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, nil // Redis prints a message type only once one was sent
}
