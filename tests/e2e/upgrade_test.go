package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/cli"
	"github.com/dayops/dayops/internal/devcluster/devtest"
	"github.com/dayops/dayops/internal/eventstore"
	"github.com/dayops/dayops/internal/httpapi"
	"github.com/dayops/dayops/internal/operation"
	"github.com/dayops/dayops/internal/testutil/dayopstest"
	"github.com/dayops/dayops/internal/testutil/redistest"
	"github.com/dayops/dayops/internal/workflows"
	"github.com/redis/go-redis/v9"
	"go.temporal.io/sdk/client"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// gapProbe writes, per shard, one key of that shard's slots in a loop through
// the cluster client and records the longest time between two acknowledged
// writes: the write gap a client of that shard's primary sees.
type gapProbe struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	last   map[int]time.Time
	gaps   map[int][]span // every gap over 5ms, to match with handovers
	gap    map[int]time.Duration
	at     map[int]time.Time
	acked  map[int]int64
	failed map[int]int64
}

func startGapProbe(ctx context.Context, t *testing.T, cc *redis.ClusterClient, shardOfSlot func(int) int, shards []int) *gapProbe {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	g := &gapProbe{cancel: cancel, last: map[int]time.Time{}, gaps: map[int][]span{}, gap: map[int]time.Duration{}, at: map[int]time.Time{},
		acked: map[int]int64{}, failed: map[int]int64{}}
	for _, s := range shards {
		key := ""
		for i := range 100000 {
			k := fmt.Sprintf("gap:%d:%d", s, i)
			slot, err := cc.ClusterKeySlot(ctx, k).Result()
			if err != nil {
				t.Fatalf("cluster keyslot: %v", err)
			}
			if shardOfSlot(int(slot)) == s {
				key = k
				break
			}
		}
		g.wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				err := cc.Set(ctx, key, i, 0).Err()
				now := time.Now()
				g.mu.Lock()
				if err == nil {
					if l, ok := g.last[s]; ok && now.Sub(l) > g.gap[s] {
						g.gap[s], g.at[s] = now.Sub(l), now
					}
					if l, ok := g.last[s]; ok && now.Sub(l) > 5*time.Millisecond {
						g.gaps[s] = append(g.gaps[s], span{l, now})
					}
					g.last[s] = now
					g.acked[s]++
				} else if ctx.Err() == nil {
					g.failed[s]++
				}
				g.mu.Unlock()
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	return g
}

type span struct{ from, to time.Time }

// during returns the longest write gap of shard that overlaps [from, to].
func (g *gapProbe) during(shard int, from, to time.Time) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	var longest time.Duration
	for _, sp := range g.gaps[shard] {
		if sp.to.After(from) && sp.from.Before(to) {
			longest = max(longest, sp.to.Sub(sp.from))
		}
	}
	return longest
}

// handoverGaps matches the operation's Handover steps (their start and end
// as the audit log recorded them, plus a second for clients to follow the
// redirection) with the write gaps of their shard.
func handoverGaps(t *testing.T, d *dayopstest.Dayops, cluster, opID string, g *gapProbe) string {
	t.Helper()
	started := map[string]time.Time{}
	shardOf := map[string]int{}
	var parts []string
	for _, e := range d.Events(t, eventstore.Filter{Cluster: cluster}) {
		p, err := audit.Decode(e.Type, e.SchemaVersion, e.Payload)
		if err != nil {
			continue
		}
		switch v := p.(type) {
		case *audit.StepStarted:
			if v.OperationID == opID && v.Name == "Handover" {
				started[v.StepID] = e.RecordedAt
				var s int
				fmt.Sscanf(v.Target, "shard-%d:", &s)
				shardOf[v.StepID] = s
			}
		case *audit.StepCompleted:
			if from, ok := started[v.StepID]; ok && v.OperationID == opID {
				s := shardOf[v.StepID]
				parts = append(parts, fmt.Sprintf("shard-%d %s", s, g.during(s, from, e.RecordedAt.Add(time.Second)).Round(time.Millisecond)))
			}
		}
	}
	return strings.Join(parts, ", ")
}

// take returns the longest gap per shard since the last call and starts anew.
func (g *gapProbe) take() (gaps map[int]time.Duration, at map[int]time.Time, acked, failed map[int]int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	gaps, at, acked, failed = g.gap, g.at, g.acked, g.failed
	g.gap, g.at, g.acked, g.failed = map[int]time.Duration{}, map[int]time.Time{}, map[int]int64{}, map[int]int64{}
	g.gaps = map[int][]span{}
	return
}

func (g *gapProbe) stop() { g.cancel(); g.wg.Wait() }

type podRun struct {
	uid, image, runID string
}

// pods reads every Pod of the cluster with its image and the run_id its
// redis-server reports.
func pods(t *testing.T, env *devtest.Env, ns, name, password string) map[string]podRun {
	t.Helper()
	l, err := env.Clientset.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "dayops.io/cluster=" + name})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]podRun{}
	for _, p := range l.Items {
		c := redis.NewClient(&redis.Options{Addr: p.Status.PodIP + ":6379", Password: password})
		info, err := c.Info(t.Context(), "server").Result()
		c.Close()
		run := ""
		for _, line := range strings.Split(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "run_id:"); ok {
				run = v
			}
		}
		if err != nil {
			t.Errorf("info server of %s: %v", p.Name, err)
		}
		out[p.Name] = podRun{uid: string(p.UID), image: p.Spec.Containers[0].Image, runID: run}
	}
	return out
}

func podShard(l []corev1.Pod) map[string]string {
	out := map[string]string{}
	for _, p := range l {
		out[p.Name] = p.Labels["dayops.io/shard"]
	}
	return out
}

// onePrimaryPerShard: every shard has exactly one primary, and the cluster
// is healthy.
func onePrimaryPerShard(t *testing.T, c httpapi.ClusterDetail) {
	t.Helper()
	n := map[int]int{}
	for _, i := range c.Instances {
		if i.Role == "primary" {
			n[i.Shard]++
		}
	}
	for s := range c.Spec.Shards {
		if n[s] != 1 {
			t.Errorf("shard-%d has %d primaries: %+v", s, n[s], c.Instances)
		}
	}
	if !c.Healthy {
		t.Errorf("cluster unhealthy: %v", c.Health.Problems)
	}
}

// TestUpgrade runs canary rolling upgrades of a 3 x 1 cluster under a writer
// that records every acknowledged write and a probe that measures each
// shard's longest write gap: a good image with auto-approve; a bad image the
// gate catches on the canary (rolled back, other shards untouched); an abort
// during the bake; a manual approval with the worker killed mid-handover.
func TestUpgrade(t *testing.T) {
	env := devtest.Get(t)
	ctx := t.Context()
	bin := buildDayops(t, env.Root)
	d := dayopstest.Start(t, env, dayopstest.Options{NoWorker: true})
	w := startWorker(t, bin, d, 1)
	h := &harness{t: t, d: d, ns: env.Namespace}
	const name = "upg"
	nsq := url.Values{"namespace": {h.ns}}

	acc := h.start("/v1/clusters", nil, map[string]any{"name": name, "namespace": h.ns, "shards": 3, "replicasPerShard": 1, "reason": "upgrade e2e"})
	h.wait(acc.OperationID, 5*time.Minute, nil)
	creds := credentials(t, d, h.ns, name)
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: creds.Addresses, Password: creds.Password, MaxRedirects: 16})
	defer cc.Close()
	if err := redistest.Fill(ctx, cc, "fill:", 20_000, 100, 4); err != nil {
		t.Fatal(err)
	}
	writer := redistest.StartWriter(ctx, cc, redistest.WriterOptions{Keys: 5_000, Workers: 4})
	// Shards own fixed slots during an upgrade: map slots to shards once.
	c0 := h.cluster(name)
	shardOf := map[string]int{}
	for _, i := range c0.Instances {
		shardOf[i.Address] = i.Shard
	}
	slotsOf, err := cc.ClusterSlots(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	shardOfSlot := func(slot int) int {
		for _, s := range slotsOf {
			if slot >= int(s.Start) && slot <= int(s.End) {
				return shardOf[s.Nodes[0].Addr]
			}
		}
		return -1
	}
	gaps := startGapProbe(ctx, t, cc, shardOfSlot, []int{0, 1, 2})
	defer gaps.stop()

	gate := map[string]any{"maxLatency": "1s", "interval": "5s"}
	report := func(label string, began time.Time, op httpapi.Operation) {
		t.Helper()
		t.Logf("%s: write gap during each handover: %s", label, handoverGaps(t, d, operation.ClusterKey(h.ns, name), op.OperationID, gaps))
		g, at, acked, failed := gaps.take()
		var parts []string
		for _, s := range slices.Sorted(func(yield func(int) bool) {
			for s := range g {
				if !yield(s) {
					return
				}
			}
		}) {
			parts = append(parts, fmt.Sprintf("shard-%d %s (at %s; %d acked, %d failed)", s, g[s].Round(time.Millisecond),
				at[s].Format("15:04:05.000"), acked[s], failed[s]))
		}
		t.Logf("%s: %s in %s; longest write gap per shard over the whole operation: %s", label, op.Progress.Outcome,
			time.Since(began).Round(time.Millisecond), strings.Join(parts, ", "))
	}

	// 1. The good image, with auto-approve, through the CLI.
	before := pods(t, env, h.ns, name, creds.Password)
	t.Setenv("DAYOPS_API", d.URL)
	t.Setenv("DAYOPS_TOKEN", dayopstest.OperatorToken)
	// The plan first; bad input names its fields and starts nothing.
	out, err := runCLI(t, cli.ClusterCmd(), "upgrade", name, "-n", h.ns, "--image", "redis:7.0-next", "--dry-run")
	if err != nil || !strings.Contains(out, "Dry run") || !strings.Contains(out, "canary shard-0: recreate replica ordinal 1") ||
		!strings.Contains(out, "hand primary ordinal 0 over (CLUSTER FAILOVER)") || !strings.Contains(out, "wait for approval") {
		t.Fatalf("upgrade --dry-run: %v\n%s", err, out)
	}
	t.Logf("dayops cluster upgrade --dry-run:\n%s", out)
	for _, bad := range []struct {
		args  []string
		field string
	}{
		{[]string{"--image", "redis 8"}, "image"},
		{[]string{"--image", "redis:7.0-next", "--canary-shards", "7"}, "canary.shards[0]"},
		{[]string{"--image", "redis:7.0-next", "--gate-max-error-rate", "3"}, "gate.maxErrorRate"},
		{[]string{"--config", "port=7000"}, "config[port]"},
		{[]string{"--image", "redis:7.0"}, "image"}, // nothing to change
	} {
		head := d.Head(t)
		_, err := runCLI(t, cli.ClusterCmd(), append([]string{"upgrade", name, "-n", h.ns}, bad.args...)...)
		var apiErr *cli.APIError
		if !errors.As(err, &apiErr) || apiErr.Status != 422 || !strings.Contains(err.Error(), bad.field+":") {
			t.Errorf("upgrade %v: want a 422 naming %s, got %v", bad.args, bad.field, err)
		}
		if ev := d.OperationEventsAfter(t, head); len(ev) > 0 {
			t.Errorf("upgrade %v wrote operation events (first %s)", bad.args, ev[0].Type)
		}
	}

	gaps.take()
	began := time.Now()
	out, err = runCLI(t, cli.ClusterCmd(), "upgrade", name, "-n", h.ns, "--image", "redis:7.0-next", "--auto-approve",
		"--bake", "10s", "--gate-interval", "5s", "--gate-max-latency", "1s", "--reason", "upgrade e2e", "-o", "json")
	if err != nil {
		t.Fatalf("dayops cluster upgrade: %v\n%s", err, out)
	}
	id := between(out, `"operationId": "`, `"`)
	op := h.follow(id, 15*time.Minute, 200*time.Millisecond, nil)
	if op.Progress.Outcome != workflows.OutcomeSucceeded {
		t.Fatalf("upgrade to redis:7.0-next ended %s/%s: %s %s", op.Status, op.Progress.Outcome, op.Error, op.Progress.Message)
	}
	report("upgrade 3x1 redis:7.0 -> redis:7.0-next (bake 10s)", began, op)
	h.recordHistory(op, "upgrade", false)
	after := pods(t, env, h.ns, name, creds.Password)
	for p, b := range before {
		a := after[p]
		if a.image != "redis:7.0-next" || a.runID == "" || a.runID == b.runID || a.uid == b.uid {
			t.Errorf("%s: image %s run_id %s (was %s), uid changed %v", p, a.image, a.runID, b.runID, a.uid != b.uid)
		}
	}
	c := h.cluster(name)
	checkZones(t, c)
	onePrimaryPerShard(t, c)
	checkServices(t, env, h.ns, name, c)
	if c.Spec.Image != "redis:7.0-next" {
		t.Errorf("cluster spec image %s after the upgrade", c.Spec.Image)
	}
	if _, err := writer.Verify(ctx, cc); err != nil {
		t.Fatalf("after the good upgrade: %v", err)
	}
	out, err = runCLI(t, cli.OpCmd(), "get", id)
	if err != nil || !strings.Contains(out, "upgrade:  redis:7.0 -> redis:7.0-next") || !strings.Contains(out, "shards 3/3") {
		t.Errorf("op get: %v\n%s", err, out)
	}

	// 2. The bad image: the canary fails the gate and is rolled back; the
	// other shards are never touched.
	before = pods(t, env, h.ns, name, creds.Password)
	l, _ := env.Clientset.CoreV1().Pods(h.ns).List(ctx, metav1.ListOptions{LabelSelector: "dayops.io/cluster=" + name})
	shardOfPod := podShard(l.Items)
	gaps.take()
	began = time.Now()
	acc = h.start("/v1/clusters/"+name+"/operations", nsq, map[string]any{"type": "upgrade", "image": "redis:7.0-bad", "autoApprove": true,
		"bake": "10s", "gate": gate, "reason": "bad image"})
	op = h.follow(acc.OperationID, 15*time.Minute, 200*time.Millisecond, nil)
	report("upgrade to redis:7.0-bad (canary fails the gate, rolled back)", began, op)
	h.recordHistory(op, "upgrade-rollback", false)
	if op.Progress.Outcome != workflows.OutcomeRolledBack || !strings.Contains(op.Progress.Message, "health gate failed") ||
		op.Progress.Upgrade == nil || !op.Progress.Upgrade.RolledBack {
		t.Fatalf("bad image: %s/%s: %s %s", op.Status, op.Progress.Outcome, op.Error, op.Progress.Message)
	}
	t.Logf("bad image rolled back: %s", op.Progress.Message)
	after = pods(t, env, h.ns, name, creds.Password)
	recreated := 0
	for p, b := range before {
		a := after[p]
		switch shardOfPod[p] {
		case "0":
			if a.image != "redis:7.0-next" {
				t.Errorf("canary %s after the rollback runs %s", p, a.image)
			}
			if a.uid != b.uid {
				recreated++
			}
		default:
			if a != b {
				t.Errorf("%s of shard-%s was touched: %+v -> %+v", p, shardOfPod[p], b, a)
			}
		}
	}
	if recreated == 0 {
		t.Error("no canary instance was recreated: the bad image never ran")
	}
	c = h.cluster(name)
	onePrimaryPerShard(t, c)
	checkZones(t, c)
	checkServices(t, env, h.ns, name, c)
	if c.Spec.Image != "redis:7.0-next" {
		t.Errorf("cluster spec image %s after the rollback", c.Spec.Image)
	}
	if _, err := writer.Verify(ctx, cc); err != nil {
		t.Fatalf("after the bad upgrade: %v", err)
	}

	// 3. Abort during the bake: rolled back, the actor recorded.
	gaps.take()
	began = time.Now()
	acc = h.start("/v1/clusters/"+name+"/operations", nsq, map[string]any{"type": "upgrade", "image": "redis:7.0", "bake": "10m",
		"gate": gate, "reason": "abort test"})
	aborted := false
	op = h.follow(acc.OperationID, 15*time.Minute, 200*time.Millisecond, func(op httpapi.Operation) {
		if aborted || op.Progress.Upgrade == nil || op.Progress.Upgrade.Stage != workflows.StageBaking || op.Progress.Upgrade.GateEvaluations < 1 {
			return
		}
		var ans httpapi.DecisionAnswer
		if err := d.Operator.Do(ctx, http.MethodPost, "/v1/operations/"+acc.OperationID+"/abort", nil, httpapi.DecisionBody{Reason: "e2e abort"}, &ans); err != nil {
			t.Fatalf("abort: %v", err)
		}
		aborted = true
		t.Logf("abort during the bake: %+v", ans)
	})
	report("upgrade to redis:7.0 aborted during the bake", began, op)
	h.recordHistory(op, "upgrade-abort", false)
	if !aborted || op.Progress.Outcome != workflows.OutcomeRolledBack || op.Progress.Upgrade.AbortedBy != "test-operator" {
		t.Fatalf("abort: sent %v, %s/%s: %s %+v", aborted, op.Status, op.Progress.Outcome, op.Progress.Message, op.Progress.Upgrade)
	}
	var refused *cli.APIError
	if err := d.Operator.Do(ctx, http.MethodPost, "/v1/operations/"+acc.OperationID+"/approve", nil, httpapi.DecisionBody{}, nil); !errors.As(err, &refused) || refused.Status != 409 {
		t.Errorf("approving an ended upgrade: want 409, got %v", err)
	}
	for _, p := range pods(t, env, h.ns, name, creds.Password) {
		if p.image != "redis:7.0-next" {
			t.Errorf("after the abort a pod runs %s", p.image)
		}
	}

	// 4. Manual approval; the worker is killed during a handover after it.
	gaps.take()
	began = time.Now()
	acc = h.start("/v1/clusters/"+name+"/operations", nsq, map[string]any{"type": "upgrade", "image": "redis:7.0", "bake": "5s",
		"config": map[string]string{"hz": "20"}, "gate": gate, "reason": "approve test"})
	approved, killed := false, false
	pause := 0 // 0: not sent, 1: sent, 2: seen paused, 3: resumed
	var pausedAt time.Time
	var pausedSteps int
	// Polled every 50 ms: on a quiet machine a handover step lasts a few
	// hundred milliseconds, and at 200 ms both of this upgrade's post-approval
	// handovers were once missed (stop 22's suite), so no kill was injected.
	op = h.follow(acc.OperationID, 20*time.Minute, 50*time.Millisecond, func(op httpapi.Operation) {
		u := op.Progress.Upgrade
		if u == nil {
			return
		}
		switch {
		case pause == 0 && u.Stage == workflows.StageCanary:
			if out, err := runCLI(t, cli.OpCmd(), "pause", acc.OperationID, "--reason", "lunch"); err != nil {
				t.Fatalf("dayops op pause: %v\n%s", err, out)
			}
			pause = 1
		case pause == 1 && u.Paused && op.Progress.Phase == "paused":
			pause, pausedAt, pausedSteps = 2, time.Now(), op.Progress.StepsDone
		case pause == 2 && time.Since(pausedAt) > 3*time.Second:
			if op.Progress.StepsDone != pausedSteps || !u.Paused {
				t.Errorf("paused upgrade went on: steps %d -> %d, paused %v", pausedSteps, op.Progress.StepsDone, u.Paused)
			}
			out, err := runCLI(t, cli.OpCmd(), "resume", acc.OperationID)
			if err != nil {
				t.Fatalf("dayops op resume: %v\n%s", err, out)
			}
			pause = 3
			t.Logf("paused by %s for %s at step %d, then resumed", u.PausedBy, time.Since(pausedAt).Round(time.Millisecond), pausedSteps)
		}
		if !approved && u.Stage == workflows.StageAwaitingApproval {
			// Someone who reaches the Temporal frontend but not the API
			// (no call key) cannot approve in anyone's name.
			uh, err := env.TemporalClient(t).UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: op.WorkflowID, RunID: op.RunID,
				UpdateName: workflows.UpdateApprove, Args: []any{workflows.Decision{Actor: "mallory"}}, WaitForStage: client.WorkflowUpdateStageCompleted})
			if err == nil {
				err = uh.Get(ctx, nil)
			}
			if err == nil || !strings.Contains(err.Error(), "signature") {
				t.Fatalf("an approve sent straight to Temporal, without the API's signature: %v", err)
			}
			out, err := runCLI(t, cli.OpCmd(), "approve", acc.OperationID, "--reason", "canary looks fine")
			if err != nil {
				t.Fatalf("dayops op approve: %v\n%s", err, out)
			}
			approved = true
			t.Logf("approved: %s", strings.TrimSpace(out))
		}
		if approved && !killed && u.Stage == workflows.StageRolling && strings.HasPrefix(op.Progress.Step, "hand over") {
			w.kill(syscall.SIGKILL)
			killed = true
			t.Logf("worker killed during %q", op.Progress.Step)
			w = startWorker(t, bin, d, 2)
		}
	})
	report("upgrade to redis:7.0 + config hz=20, approved by hand, worker SIGKILLed mid-handover", began, op)
	h.recordHistory(op, "upgrade-approve", false)
	if op.Progress.Outcome != workflows.OutcomeSucceeded || op.Progress.Upgrade.ApprovedBy != "test-operator" {
		t.Fatalf("approve: %s/%s: %s %+v", op.Status, op.Progress.Outcome, op.Progress.Message, op.Progress.Upgrade)
	}
	if !killed {
		t.Error("the worker was never killed during a handover (it finished between two polls)")
	}
	if pause != 3 {
		t.Errorf("pause/resume did not go through (state %d)", pause)
	}
	for p, r := range pods(t, env, h.ns, name, creds.Password) {
		if r.image != "redis:7.0" {
			t.Errorf("%s runs %s after the approved upgrade", p, r.image)
		}
	}
	// The config change reached every instance (each Pod mounts the
	// redis.conf revision it was created for) and the cluster's spec.
	l, _ = env.Clientset.CoreV1().Pods(h.ns).List(ctx, metav1.ListOptions{LabelSelector: "dayops.io/cluster=" + name})
	for _, p := range l.Items {
		rc := redis.NewClient(&redis.Options{Addr: p.Status.PodIP + ":6379", Password: creds.Password})
		hz, err := rc.ConfigGet(ctx, "hz").Result()
		rc.Close()
		if err != nil || hz["hz"] != "20" {
			t.Errorf("%s: CONFIG GET hz = %v (%v), want 20", p.Name, hz, err)
		}
	}
	c = h.cluster(name)
	if c.Spec.Config["hz"] != "20" || c.Spec.Image != "redis:7.0" {
		t.Errorf("cluster spec after the approved upgrade: image %s config %v", c.Spec.Image, c.Spec.Config)
	}
	checkZones(t, c)
	onePrimaryPerShard(t, c)
	checkServices(t, env, h.ns, name, c)

	stats := writer.Stop()
	checked, err := writer.Verify(ctx, cc)
	if err != nil {
		t.Fatalf("acknowledged writes lost: %v", err)
	}
	t.Logf("writer: %d acked, %d failed, %d keys verified", stats.Acked, stats.Failed, checked)
	if err := d.Operator.Do(ctx, http.MethodGet, "/v1/clusters/"+name+"/credentials", nsq, nil, &creds); err != nil {
		t.Fatal(err)
	}
	clusterCheck(t, creds)
	checkUpgradeAudit(t, d, operation.ClusterKey(h.ns, name))

	// The anchor: shard-0's primary rolled the way a StatefulSet rolls it,
	// without a handover (Pod deleted and created again on its volume).
	rollWithoutHandover(t, env, h, name, gaps)
}

// rollWithoutHandover deletes shard-0's primary Pod and creates it again
// (same spec, volume and node), measuring shard-0's write gap meanwhile.
func rollWithoutHandover(t *testing.T, env *devtest.Env, h *harness, name string, gaps *gapProbe) {
	t.Helper()
	ctx := t.Context()
	var pod string
	for _, i := range h.cluster(name).Instances {
		if i.Shard == 0 && i.Role == "primary" {
			pod = i.Pod
		}
	}
	pods := env.Clientset.CoreV1().Pods(h.ns)
	old, err := pods.Get(ctx, pod, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gaps.take()
	began := time.Now()
	if err := pods.Delete(ctx, pod, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := pods.Get(ctx, pod, metav1.GetOptions{}); err != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	fresh := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: old.Name, Namespace: old.Namespace, Labels: old.Labels,
		Annotations: old.Annotations, OwnerReferences: old.OwnerReferences}, Spec: old.Spec}
	if _, err := pods.Create(ctx, fresh, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		c := h.cluster(name)
		primaries := 0
		for _, i := range c.Instances {
			if i.Shard == 0 && i.Role == "primary" {
				primaries++
			}
		}
		if c.Healthy && primaries == 1 && len(c.Instances) == 6 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("shard-0 did not recover after its primary was rolled without a handover: %v", c.Health.Problems)
		}
		time.Sleep(500 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	g, _, acked, failed := gaps.take()
	t.Logf("anchor: shard-0 primary rolled WITHOUT a handover (pod deleted and recreated): longest write gap %s (%d acked, %d failed); healthy again after %s",
		g[0].Round(time.Millisecond), acked[0], failed[0], time.Since(began).Round(time.Millisecond))
}

// checkUpgradeAudit: every step is recorded once, every operation starts
// once and ends once, and the decisions name their actor.
func checkUpgradeAudit(t *testing.T, d *dayopstest.Dayops, cluster string) {
	t.Helper()
	a := tallyAudit(t, d, cluster)
	var decisions []string
	for _, v := range a.Completed {
		if strings.HasPrefix(v.StepID, "upgrade/approve") || strings.HasPrefix(v.StepID, "upgrade/abort") ||
			strings.HasPrefix(v.StepID, "upgrade/pause") || strings.HasPrefix(v.StepID, "upgrade/resume") {
			decisions = append(decisions, v.Detail)
		}
	}
	var kinds []string
	for _, k := range a.Ops {
		if len(k) != 2 || k[0] != "started" {
			t.Errorf("audit: an operation has %v", k)
		}
		kinds = append(kinds, strings.Join(k, "+"))
	}
	sort.Strings(kinds)
	want := []string{"started+cancelled", "started+completed", "started+completed", "started+completed", "started+failed(rolled back true)"}
	if !slices.Equal(kinds, want) {
		t.Errorf("audit: operations %v, want %v", kinds, want)
	}
	joined := strings.Join(decisions, "; ")
	for _, w := range []string{"auto-approved (requested by test-operator)", "aborted by test-operator (e2e abort)",
		"approved by test-operator (canary looks fine)", "paused by test-operator (lunch)", "resumed by test-operator"} {
		if !strings.Contains(joined, w) {
			t.Errorf("audit: no decision %q in %q", w, joined)
		}
	}
	t.Logf("audit: %d events, %d operations, %d step records, each once; decisions: %s", a.Events, len(a.Ops), len(a.Steps), joined)
}

func between(s, from, to string) string {
	_, rest, ok := strings.Cut(s, from)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, to)
	return v
}
