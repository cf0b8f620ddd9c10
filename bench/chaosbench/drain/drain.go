// Package drain holds the chaos scenario of a primary's Pod deleted the
// graceful way, as a node drain, an eviction or `kubectl delete pod` does:
// the instance manager gets SIGTERM and, before redis-server gets it, has
// the shard's replica take over (package instance/stepaside), so the shard
// pauses for a handshake instead of refusing writes until Redis fails the
// stopped primary over. The guardian then sees the Pod gone and a recover
// brings the ordinal back, as after any lost Pod.
//
// What tells a handover from Redis' own failover is Redis' count of the
// failover messages the promoted replica sent (CLUSTER INFO
// cluster_stats_messages_*_sent): a handover by a coordinated CLUSTER
// FAILOVER starts a manual failover (mfstart), one by a paused takeover (a
// replica that had asked for votes before) asks for no votes (auth-req),
// and Redis' own failover after the primary stopped asks for votes without
// a manual failover. A scenario whose promoted replica did the latter is an
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
	before := map[string]failoverCounts{}
	for _, r := range reps {
		n, err := counts(ctx, r.Status.PodIP, creds.Password)
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
	var took, elected []string
	for ip, n := range before {
		after, err := counts(ctx, ip, creds.Password)
		switch {
		case err != nil || !after.primary:
		case after.mfstart > n.mfstart:
			took = append(took, ip+" (CLUSTER FAILOVER)")
		case after.authReq == n.authReq:
			took = append(took, ip+" (a takeover: no vote asked)")
		default:
			elected = append(elected, ip)
		}
	}
	if len(took) == 0 {
		return f, fmt.Errorf("%s: no replica of shard %d was handed the shard (elected by Redis: %v): %s stopped without stepping aside",
			Scenario, shard, elected, p.Name)
	}
	f.Note += "; handed over to " + strings.Join(took, ",")
	if n := len(b.Figures); n > 0 && b.Figures[n-1].Scenario == Scenario {
		b.Figures[n-1].Note = f.Note // the table's row
	}
	return f, nil
}

// failoverCounts is what a node's CLUSTER INFO and ROLE say of the
// failovers it took part in.
type failoverCounts struct {
	primary bool
	// mfstart and authReq count the manual failovers the node started and
	// the votes it asked for.
	mfstart, authReq int64
}

// counts reads the failover counts of the node at ip.
func counts(ctx context.Context, ip, password string) (failoverCounts, error) {
	c := benchkit.PodClient(ip, password, 2*time.Second)
	defer c.Close()
	info, err := c.ClusterInfo(ctx).Result()
	if err != nil {
		return failoverCounts{}, fmt.Errorf("CLUSTER INFO of %s: %w", ip, err)
	}
	role, err := c.Do(ctx, "ROLE").Slice()
	if err != nil || len(role) == 0 {
		return failoverCounts{}, fmt.Errorf("ROLE of %s: %v", ip, err)
	}
	n := failoverCounts{primary: role[0] == "master"}
	for _, l := range strings.Split(info, "\n") {
		// Redis prints a message type only once one was sent.
		k, v, _ := strings.Cut(strings.TrimSpace(l), ":")
		switch k {
		case "cluster_stats_messages_mfstart_sent":
			n.mfstart, _ = strconv.ParseInt(v, 10, 64)
		case "cluster_stats_messages_auth-req_sent":
			n.authReq, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return n, nil
}
