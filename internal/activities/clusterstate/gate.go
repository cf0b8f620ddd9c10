package clusterstate

import (
	"context"
	"time"

	"github.com/dayops/dayops/internal/activities/kube"
	"github.com/dayops/dayops/internal/activities/redisops"
)

// GateInput is one evaluation of the upgrade health gate's Kubernetes and
// Redis parts. Nothing in it grows with the cluster in a healthy upgrade:
// the instances' addresses and shards are read from Kubernetes by the
// activity, and the restart baseline lists only the Pods that had
// restarted when it was taken.
type GateInput struct {
	Namespace string `json:"namespace"`
	Cluster   string `json:"cluster"`
	// Restarted is the part of the upgrade's restart baseline (Pod name to
	// run) whose Pods had restarted (kube.RestartedOnly).
	Restarted map[string]kube.PodRun `json:"restarted,omitempty"`
	// Gate bounds the Redis part; its Addrs and Shards are left empty (the
	// activity fills them in from Kubernetes).
	Gate redisops.GateInput `json:"gate"`
}

// StepTarget names the gate in audit step events.
func (in GateInput) StepTarget() string { return in.Gate.Label }

// ClusterHealthGate evaluates the health gate of an upgrade in one activity:
// the Pods are steady (kube.CheckInstancesSteady against the baseline),
// then the Redis checks and the probe client (redisops.HealthGate) on the
// instances Kubernetes lists now. It returns the gate's report, a summary of
// constant size: before it, a gate observed the whole cluster (an
// ObserveCluster result, one entry per instance, three times over) in the
// workflow's history only to pass the addresses on, so an upgrade's history
// grew with the square of the shard count. Failures are as the two parts
// classify them (GateFailed is non-retryable).
func (a *Activities) ClusterHealthGate(ctx context.Context, in GateInput) (redisops.GateReport, error) {
	stop := redisops.HeartbeatEvery(ctx, 5*time.Second)
	defer stop()
	restarted := in.Restarted
	if restarted == nil {
		restarted = map[string]kube.PodRun{} // nil would only record a baseline
	}
	if _, err := a.Kube.CheckInstancesSteady(ctx, kube.SteadyInput{Namespace: in.Namespace, Cluster: in.Cluster,
		Baseline: restarted, RestartedOnly: true, Label: in.Gate.Label}); err != nil {
		return redisops.GateReport{}, err
	}
	k, err := a.Kube.Observe(ctx, kube.ObserveInput{Namespace: in.Namespace, Cluster: in.Cluster})
	if err != nil {
		return redisops.GateReport{}, err
	}
	g := in.Gate
	g.Addrs, g.Shards = nil, map[string]int{}
	for _, p := range k.Instances {
		if p.Addr() != "" {
			g.Addrs = append(g.Addrs, p.Addr())
			g.Shards[p.Addr()] = p.Shard
		}
	}
	return a.Redis.HealthGate(ctx, g)
}
