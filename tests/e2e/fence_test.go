package e2e

import (
	"context"
	"encoding/json"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"

	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/devcluster/devtest"
	"github.com/dayops/dayops/internal/eventstore"
	"github.com/dayops/dayops/internal/instance"
	"github.com/dayops/dayops/internal/kube/render"
	"github.com/dayops/dayops/internal/operation"
	"github.com/dayops/dayops/internal/testutil/dayopstest"
	"github.com/dayops/dayops/internal/workflows"
)

// TestFenceEmptyPrimary is the night existing operators lose a shard: a
// cluster without persistence, its primary's redis-server SIGKILLed and
// restarted by the kubelet within a second, empty, still primary in every
// node's view. Without a fence its replica full-syncs from it and the shard's
// data is gone. Under dayops' instance manager the restarted node starts
// fenced, sees that its replica is ahead and hands the shard to it (CLUSTER
// FAILOVER TAKEOVER), then syncs from it: every acknowledged write and every
// key written before survives.
func TestFenceEmptyPrimary(t *testing.T) {
	env := devtest.Get(t)
	ctx := t.Context()
	bin := buildDayops(t, env.Root)
	d := dayopstest.Start(t, env, dayopstest.Options{NoWorker: true})
	h := &healHarness{harness: &harness{t: t, d: d, ns: env.Namespace}, env: env, name: "fence", bin: bin}
	h.startWorker() // its DAYOPS_INSTANCE_IMAGE defaults to dayops:dev, the stack maps it to bin/dayops

	acc := h.start("/v1/clusters", nil, map[string]any{"name": h.name, "namespace": h.ns, "shards": 3, "replicasPerShard": 1,
		"persistence": map[string]any{"mode": "none"}, "reason": "fence e2e"})
	h.wait(acc.OperationID, 5*time.Minute, nil)
	b := h.bench()
	if _, err := b.WaitWhole(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}

	primary, err := b.PrimaryOf(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	pod := primary.Name
	if len(primary.Spec.InitContainers) == 0 || !strings.HasPrefix(strings.Join(primary.Spec.Containers[0].Command, " "), render.InstanceManagerDir) {
		t.Fatalf("%s does not run redis-server under the instance manager: command %v", pod, primary.Spec.Containers[0].Command)
	}

	// A failure here is a lost shard: keep what the instance managers and
	// redis-servers said before the namespace goes (make test's stop
	// 2026-12-04 20:38 lost shard 0 once, and the logs went with it).
	var dumped bool
	dump := func() {
		if t.Failed() && !dumped {
			dumped = true
			dumpRedisLogs(t, env, h.ns, h.name, pod)
		}
	}
	t.Cleanup(dump) // after a Fatal

	const filled = 30_000
	if err := b.Fill(ctx, filled, 100); err != nil {
		t.Fatal(err)
	}
	// The replica must hold every filled key before the crash, or a loss
	// would be the crash's (persistence none), not the fence's.
	replicaHasAll(t, credentials(t, d, h.ns, h.name).Password, primary)
	// No WAIT: a cache client, acknowledged by the primary alone.
	if err := b.StartWriter(ctx, 0); err != nil {
		t.Fatal(err)
	}

	f, err := b.KillRedisPrimary(ctx, 0, "SIGKILL a primary redis-server (persistence none, fenced)")
	if err != nil {
		t.Fatal(err)
	}
	// Without persistence and without WAIT, a write the primary
	// acknowledged in the instant before its crash and had not yet sent to
	// its replica is gone whatever happens next: a figure, not a failure.
	t.Logf("%s: promoted after %s, Service followed %s after the promotion, full redundancy after %s, longest write gap %s; "+
		"%d acknowledged writes lost (in flight to the replica at the crash), %d of %d filled keys lost. %s",
		f.Scenario, f.Promoted.Round(time.Millisecond), f.ServiceAfterPromotion.Round(time.Millisecond), f.Redundancy.Round(time.Millisecond),
		f.Gap.Round(time.Millisecond), f.AckedLost, f.KeysLost, f.KeysBefore, f.Note)
	if f.KeysLost != 0 {
		t.Errorf("%d of %d filled keys lost: the restarted primary's emptiness reached its replica", f.KeysLost, f.KeysBefore)
	}

	wr, err := b.Stop(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if wr.VerifyErr != nil {
		t.Fatalf("acknowledged writes lost: %v", wr.VerifyErr)
	}
	checked := wr.Verified
	var keys int64
	for _, i := range h.cluster(h.name).Instances {
		if i.Role == "primary" {
			keys += i.Keys
		}
	}
	// Verify counts a key whose only writes failed (outcome unknown) as
	// checked when it is absent: at most wr.Failed such keys.
	if want := int64(filled+checked) - wr.Failed; keys < want {
		t.Fatalf("primaries hold %d keys after the crash, want at least %d: the restarted primary's data was lost", keys, want)
	}
	t.Logf("writer: %d acked, %d failed (unknown outcome), %d keys verified; primaries hold %d keys: nothing lost", wr.Acked, wr.Failed, checked, keys)

	// The fence's own record on the crashed instance's volume.
	out := env.Kubectl(t, "exec", "-n", h.ns, pod, "-c", "redis", "--", "cat", "/data/"+instance.MarkerFile)
	var m instance.Marker
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("fence marker of %s: %v\n%s", pod, err, out)
	}
	t.Logf("fence of %s: %s (%s) after %s, decisions %+v", pod, m.Decision.Action, m.Decision.Reason, m.ServeAfter, m.Decisions)
	if m.Decision.Action == instance.Serve {
		t.Errorf("the empty former primary served its (empty) data: %+v", m)
	}
	// The guardian reads the record from the instance manager's status
	// endpoint and records it once, with the system actor.
	checkFencedEvent(t, d, operation.ClusterKey(h.ns, h.name), m)
	// A running guardian's history with a fence in it, for the replay test.
	h.saveHistory(workflows.GuardianWorkflowID(h.ns, h.name), "", "guardian-fence")
	clusterCheck(t, credentials(t, d, h.ns, h.name))

	dump() // after an Error, before the cluster goes
	acc = h.start("/v1/clusters/"+h.name, url.Values{"namespace": {h.ns}, "deleteVolumes": {"true"}, "reason": {"e2e done"}}, nil)
	h.wait(acc.OperationID, 5*time.Minute, nil)
}

// dumpRedisLogs logs the redis containers' logs of
// the cluster's Pods (the instance manager's decisions and redis-server's
// replication lines), the killed Pod's previous container's too, and its
// fence record.
func dumpRedisLogs(t *testing.T, env *devtest.Env, ns, cluster, killed string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmds := [][]string{{"logs", "-n", ns, "-l", render.LabelCluster + "=" + cluster, "-c", "redis", "--prefix", "--timestamps", "--tail", "300"}}
	if killed != "" {
		cmds = append(cmds, []string{"logs", "-n", ns, killed, "-c", "redis", "--previous", "--timestamps"},
			[]string{"exec", "-n", ns, killed, "-c", "redis", "--", "cat", "/data/" + instance.MarkerFile})
	}
	// Every container that restarted: how its last run ended, and its
	// last lines (a fault's own restarts, or one nobody started).
	list := []string{"get", "pods", "-n", ns, "-l", render.LabelCluster + "=" + cluster, "-o",
		`jsonpath={range .items[*]}{.metadata.name} {.status.containerStatuses[?(@.name=="redis")].restartCount} {.status.containerStatuses[?(@.name=="redis")].lastState.terminated}{"\n"}{end}`}
	if out, err := env.KubectlE(ctx, list...); err == nil {
		t.Logf("restarts (pod, count, last end):\n%s", out)
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[1] != "0" && f[0] != killed {
				cmds = append(cmds, []string{"logs", "-n", ns, f[0], "-c", "redis", "--previous", "--timestamps", "--tail", "100"})
			}
		}
	}
	for _, args := range cmds {
		out, err := env.KubectlE(ctx, args...)
		t.Logf("kubectl %s (err %v):\n%s", strings.Join(args, " "), err, out)
	}
}

// checkFencedEvent waits until the guardian has recorded the fence m as a
// Fenced event and checks that it did so exactly once, as the system.
func checkFencedEvent(t *testing.T, d *dayopstest.Dayops, cluster string, m instance.Marker) {
	t.Helper()
	var got []audit.Fenced
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		got = got[:0]
		for _, e := range d.Events(t, eventstore.Filter{Cluster: cluster, Types: []string{audit.TypeFenced}}) {
			var f audit.Fenced
			if err := json.Unmarshal(e.Payload, &f); err != nil {
				t.Fatalf("Fenced event: %v", err)
			}
			if e.Metadata.Actor != audit.SystemActor {
				t.Errorf("Fenced recorded by %q, want %q", e.Metadata.Actor, audit.SystemActor)
			}
			if f.FenceID == m.ID {
				got = append(got, f)
			}
		}
		if len(got) > 0 || time.Now().After(deadline) {
			break
		}
	}
	// A few more watches must not record it again.
	time.Sleep(3 * time.Second)
	n := 0
	for _, e := range d.Events(t, eventstore.Filter{Cluster: cluster, Types: []string{audit.TypeFenced}}) {
		var f audit.Fenced
		if json.Unmarshal(e.Payload, &f) == nil && f.FenceID == m.ID {
			n++
		}
	}
	if len(got) == 0 || n != 1 {
		t.Fatalf("Fenced events for fence %s: %d (want exactly 1)", m.ID, n)
	}
	f := got[0]
	t.Logf("Fenced event: ordinal %d, %s (%s), role %s, fenced %d ms, own offset %d, replica offset %d",
		f.Ordinal, f.Action, f.Reason, f.Role, f.ServeAfterMS, f.SelfOffset, f.ReplicaOffset)
	if f.Action != string(m.Decision.Action) || f.Role != m.Role || f.ServeAfterMS != m.ServeAfter.Milliseconds() {
		t.Errorf("Fenced event %+v does not match the instance's record %+v", f, m)
	}
}

// replicaHasAll rewrites one key the primary holds (a fill key, its own
// value) and WAITs for a replica to acknowledge it: the replica then holds
// every write before it. It logs the primary's replication section, which
// lists each replica's offset beside its own.
func replicaHasAll(t *testing.T, password string, primary corev1.Pod) {
	t.Helper()
	ctx := t.Context()
	c := redis.NewClient(&redis.Options{Addr: net.JoinHostPort(primary.Status.PodIP, strconv.Itoa(render.RedisPort)), Password: password})
	defer c.Close()
	key, err := c.RandomKey(ctx).Result()
	if err != nil {
		t.Fatalf("RANDOMKEY on %s: %v", primary.Name, err)
	}
	v, err := c.Get(ctx, key).Result()
	if err != nil {
		t.Fatalf("GET %s on %s: %v", key, primary.Name, err)
	}
	if err := c.Set(ctx, key, v, 0).Err(); err != nil {
		t.Fatalf("SET %s on %s: %v", key, primary.Name, err)
	}
	n, err := c.Wait(ctx, 1, 10*time.Second).Result()
	info, _ := c.Info(ctx, "replication").Result()
	if err != nil || n < 1 {
		t.Fatalf("no replica of %s acknowledged the filled data within 10s (WAIT: %d, %v); its replication:\n%s", primary.Name, n, err, info)
	}
	t.Logf("%s: a replica holds every filled key (WAIT 1: %d); replication:\n%s", primary.Name, n, strings.TrimSpace(info))
}
