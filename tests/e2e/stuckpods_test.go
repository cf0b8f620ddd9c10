package e2e

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/devcluster/devtest"
	"github.com/dayops/dayops/internal/testutil/dayopstest"
	"github.com/dayops/dayops/internal/workflows"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestStuckPodsFailFast: a Pod that cannot become Ready ends its operation
// within a bound instead of waiting out the six-hour step timeout. The local
// node agent has no image an unknown registry would serve (ErrImagePull);
// crash loops are covered on the same stack by the kube activities' test
// (a redis.conf redis-server refuses, which admission and the planner both
// refuse before any Pod exists) and by the upgrade workflow's scripted test.
//  1. A create with an image no registry has fails (PodImagePull), naming
//     the Pod.
//  2. An upgrade of a healthy cluster to that image rolls the recreated
//     replica back, and every Pod is Ready on the previous image.
func TestStuckPodsFailFast(t *testing.T) {
	env := devtest.Get(t)
	d := dayopstest.Start(t, env, dayopstest.Options{})
	h := &harness{t: t, d: d, ns: env.Namespace}
	const bad = "registry.invalid/redis:7.0"
	const bound = 3 * time.Minute

	began := time.Now()
	acc := h.start("/v1/clusters", nil, map[string]any{"name": "nopull", "namespace": h.ns, "shards": 1, "replicasPerShard": 0,
		"image": bad, "reason": "stuck pod e2e"})
	op := h.follow(acc.OperationID, bound, 250*time.Millisecond, nil)
	t.Logf("create with %s ended after %s: %s %s", bad, time.Since(began).Round(100*time.Millisecond), op.Progress.Outcome, op.Progress.Message)
	if op.Progress.Outcome != workflows.OutcomeFailed || !strings.Contains(op.Progress.Message, "nopull-0") || !strings.Contains(op.Progress.Message, "ErrImagePull") {
		t.Fatalf("create: outcome %s, want failed naming the Pod and ErrImagePull: %s", op.Progress.Outcome, op.Progress.Message)
	}

	const name = "stuckup"
	acc = h.start("/v1/clusters", nil, map[string]any{"name": name, "namespace": h.ns, "shards": 1, "replicasPerShard": 1, "reason": "stuck pod e2e"})
	h.wait(acc.OperationID, 5*time.Minute, nil)
	before := h.cluster(name)
	began = time.Now()
	acc = h.start("/v1/clusters/"+name+"/operations", url.Values{"namespace": {h.ns}}, map[string]any{"type": "upgrade", "image": bad, "autoApprove": true, "reason": "stuck pod e2e"})
	op = h.follow(acc.OperationID, bound, 250*time.Millisecond, nil)
	t.Logf("upgrade to %s ended after %s: %s %s", bad, time.Since(began).Round(100*time.Millisecond), op.Progress.Outcome, op.Progress.Message)
	if op.Progress.Outcome != workflows.OutcomeRolledBack || !strings.Contains(op.Progress.Message, "ErrImagePull") {
		t.Fatalf("upgrade: outcome %s, want rolled back naming ErrImagePull: %s", op.Progress.Outcome, op.Progress.Message)
	}
	after := h.cluster(name)
	if len(after.Instances) != len(before.Instances) {
		t.Fatalf("instances: %d before, %d after", len(before.Instances), len(after.Instances))
	}
	pods, err := env.Clientset.CoreV1().Pods(h.ns).List(t.Context(), metav1.ListOptions{LabelSelector: "dayops.io/cluster=" + name})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		ready := false
		for _, c := range p.Status.Conditions {
			ready = ready || (c.Type == "Ready" && c.Status == "True")
		}
		if !ready || p.Spec.Containers[0].Image == bad {
			t.Errorf("pod %s: ready %v, image %s after the rollback", p.Name, ready, p.Spec.Containers[0].Image)
		}
	}
}
