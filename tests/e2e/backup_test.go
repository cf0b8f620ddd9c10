package e2e

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/backupstore"
	"github.com/dayops/dayops/internal/cli"
	"github.com/dayops/dayops/internal/devcluster/devtest"
	"github.com/dayops/dayops/internal/httpapi"
	"github.com/dayops/dayops/internal/operation"
	"github.com/dayops/dayops/internal/server"
	"github.com/dayops/dayops/internal/testutil/dayopstest"
	"github.com/dayops/dayops/internal/testutil/redistest"
	"github.com/dayops/dayops/internal/testutil/s3test"
	"github.com/redis/go-redis/v9"
	"go.temporal.io/sdk/client"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// cutWriter increments counters spread over the shards, always in the same
// order, one acknowledged SET after the other: any single point in time
// shows them non-increasing along that order, at most one apart.
type cutWriter struct {
	keys []string
	last atomic.Int64
	stop chan struct{}
	done sync.WaitGroup
	err  error
}

func startCutWriter(ctx context.Context, t *testing.T, cc *redis.ClusterClient) *cutWriter {
	t.Helper()
	// Two counters per third of the slot space, interleaved: s0 s1 s2 s0 s1 s2.
	var thirds [3][]string
	for i := 0; len(thirds[0]) < 2 || len(thirds[1]) < 2 || len(thirds[2]) < 2; i++ {
		k := fmt.Sprintf("cut:%d", i)
		slot, err := cc.ClusterKeySlot(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		third := min(int(slot)*3/16384, 2)
		if len(thirds[third]) < 2 {
			thirds[third] = append(thirds[third], k)
		}
	}
	w := &cutWriter{stop: make(chan struct{})}
	for i := range 2 {
		for s := range 3 {
			w.keys = append(w.keys, thirds[s][i])
		}
	}
	w.done.Add(1)
	go func() {
		defer w.done.Done()
		for i := int64(1); ; i++ {
			select {
			case <-w.stop:
				return
			default:
			}
			for _, k := range w.keys {
				if err := cc.Set(ctx, k, i, 0).Err(); err != nil {
					w.err = err
					return
				}
			}
			w.last.Store(i)
		}
	}()
	return w
}

func (w *cutWriter) Stop() error { close(w.stop); w.done.Wait(); return w.err }

// check reads the counters and says whether they show one cut.
func (w *cutWriter) check(ctx context.Context, cc *redis.ClusterClient) ([]int64, error) {
	var vals []int64
	for _, k := range w.keys {
		v, err := cc.Get(ctx, k).Int64()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		vals = append(vals, v)
	}
	for i := 1; i < len(vals); i++ {
		if vals[i] > vals[i-1] {
			return vals, fmt.Errorf("counters %v are not one cut: %s=%d was written after %s=%d", vals, w.keys[i], vals[i], w.keys[i-1], vals[i-1])
		}
	}
	if vals[0]-vals[len(vals)-1] > 1 || vals[0] < 1 {
		return vals, fmt.Errorf("counters %v are not one cut", vals)
	}
	return vals, nil
}

// TestBackupRestore: a 3-shard cluster under a writer that increments
// counters across shards is backed up into a real S3 server (versitygw), with
// the worker SIGKILLed in the middle; the backup is one consistency point.
// It is restored into 3, 5 and 2 shards (the worker killed in the middle of
// one restore): every key, value and TTL is there, the counters show one
// cut, redis-cli --cluster check agrees. A corrupt file is refused with the
// file named and nothing created. Every step is in the audit log once.
func TestBackupRestore(t *testing.T) {
	env := devtest.Get(t)
	ctx := t.Context()
	s3 := s3test.Start(t)
	t.Setenv(server.EnvBackupStore, s3.URL("backups", "e2e"))
	for _, kv := range s3.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	bin := buildDayops(t, env.Root)
	d := dayopstest.Start(t, env, dayopstest.Options{NoWorker: true})
	w := startWorker(t, bin, d, 1)
	workers := 1
	h := &harness{t: t, d: d, ns: env.Namespace}
	ns := h.ns
	t.Setenv("DAYOPS_API", d.URL)
	t.Setenv("DAYOPS_TOKEN", dayopstest.OperatorToken)

	const src = "bk"
	acc := h.start("/v1/clusters", nil, map[string]any{"name": src, "namespace": ns, "shards": 3, "replicasPerShard": 1, "reason": "backup e2e"})
	h.wait(acc.OperationID, 5*time.Minute, nil)
	creds := credentials(t, d, ns, src)
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: creds.Addresses, Password: creds.Password, MaxRedirects: 16})
	defer cc.Close()
	const fill = 30_000
	if err := redistest.Fill(ctx, cc, "fill:", fill, 100, 4); err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		if err := cc.Set(ctx, "ttl:"+strconv.Itoa(i), i, time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 200 {
		k := "{h" + strconv.Itoa(i) + "}"
		if err := cc.HSet(ctx, k+":hash", "a", i, "b", "x").Err(); err != nil {
			t.Fatal(err)
		}
		if err := cc.RPush(ctx, k+":list", 1, 2, i).Err(); err != nil {
			t.Fatal(err)
		}
		if err := cc.ZAdd(ctx, k+":zset", redis.Z{Score: float64(i), Member: "m"}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// Incompressible values, so that the snapshot and the load take long
	// enough for the worker to be killed in the middle of them.
	rnd := make([]byte, 20_000*1024)
	_, _ = rand.Read(rnd)
	for start := 0; start < 20_000; start += 1000 {
		if _, err := cc.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i := start; i < start+1000; i++ {
				p.Set(ctx, "rnd:"+strconv.Itoa(i), rnd[i*1024:(i+1)*1024], 0)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	writer := startCutWriter(ctx, t, cc)
	for writer.last.Load() < 50 {
		time.Sleep(10 * time.Millisecond)
	}

	// Back up with the CLI (-o json gives the ID in "id"), killing the worker
	// while it streams the snapshots.
	out, err := runCLI(t, cli.BackupCmd(), "create", src, "-n", ns, "--reason", "e2e consistency", "-o", "json")
	if err != nil {
		t.Fatalf("backup create: %v\n%s", err, out)
	}
	var created struct {
		ID          string `json:"id"`
		OperationID string `json:"operationId"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.ID == "" {
		t.Fatalf("backup create -o json printed %q (%v)", out, err)
	}
	killed := ""
	began := time.Now()
	bop := h.waitFast(created.OperationID, 5*time.Minute, func(op httpapi.Operation) {
		if killed == "" && op.Status == "Running" && strings.HasPrefix(op.Progress.Step, "pause writes") {
			killed = op.Progress.Step
			w.kill(syscall.SIGKILL)
			workers++
			w = startWorker(t, bin, d, workers)
		}
	})
	t.Logf("backup %s: %s (worker SIGKILLed during %q): %s", created.ID, time.Since(began).Round(time.Millisecond), killed, bop.Progress.Message)
	if killed == "" {
		t.Error("the worker was never killed mid-backup")
	}
	if err := writer.Stop(); err != nil {
		t.Fatalf("writer: %v", err)
	}
	var bd httpapi.BackupDetail
	if err := d.Auditor.Do(ctx, http.MethodGet, "/v1/backups/"+created.ID, nil, nil, &bd); err != nil {
		t.Fatal(err)
	}
	m := bd.Manifest
	if bd.Status != "Completed" || m == nil {
		t.Fatalf("backup %s: %+v", created.ID, bd)
	}
	t.Logf("manifest: %d shards, %d keys, %d bytes, Redis %s; consistent %v, writes paused %.2f ms (bound %d ms)",
		len(m.Shards), m.TotalKeys, m.TotalBytes, m.RedisVersion, m.Consistency.ClusterConsistent, m.Consistency.PausedMS, m.Consistency.PauseBoundMS)
	if !m.Consistency.ClusterConsistent || m.Consistency.PausedMS <= 0 || len(m.Shards) != 3 || m.Actor != "test-operator" || m.Reason != "e2e consistency" {
		t.Errorf("manifest: %+v", m)
	}
	if want := int64(fill + 20_000 + 1000 + 600 + 6); m.TotalKeys != want {
		t.Errorf("manifest counts %d keys, want %d", m.TotalKeys, want)
	}
	out, err = runCLI(t, cli.BackupCmd(), "list", src, "-n", ns)
	if err != nil || !strings.Contains(out, created.ID) {
		t.Errorf("backup list: %v\n%s", err, out)
	}
	out, err = runCLI(t, cli.BackupCmd(), "get", created.ID)
	if err != nil || !strings.Contains(out, "one consistency point") || !strings.Contains(out, "shard-2.rdb") {
		t.Errorf("backup get: %v\n%s", err, out)
	}

	// Bad restores: refused at once, naming the field; nothing started.
	out, err = runCLI(t, cli.RestoreCmd(), created.ID, "--into", "bkdry", "-n", ns, "--shards", "5", "--dry-run")
	if err != nil || !strings.Contains(out, "Dry run (nothing started)") || !strings.Contains(out, "pipelined RESTORE") {
		t.Errorf("restore --dry-run: %v\n%s", err, out)
	}
	if err := d.Operator.Do(ctx, http.MethodPost, "/v1/restores", nil, map[string]any{"backup": created.ID, "name": src, "namespace": ns}, nil); err == nil ||
		!strings.Contains(err.Error(), "409") || !strings.Contains(err.Error(), "name") {
		t.Errorf("restore over the live cluster: %v, want 409 naming name", err)
	}
	if err := d.Operator.Do(ctx, http.MethodPost, "/v1/restores", nil, map[string]any{"backup": "01a1fd3b-0000-7000-8000-000000000000", "name": "bkx", "namespace": ns}, nil); err == nil ||
		!strings.Contains(err.Error(), "404") || !strings.Contains(err.Error(), "backup") {
		t.Errorf("restore of a backup that does not exist: %v, want 404 naming backup", err)
	}

	// Restore into 3 (load at start), 5 and 2 shards (replay); the worker is
	// killed in the middle of the last.
	for _, tc := range []struct {
		name     string
		shards   int
		replicas int
		kill     bool
	}{{"bk3", 3, 1, false}, {"bk5", 5, 0, false}, {"bk2", 2, 0, true}} {
		began := time.Now()
		var acc httpapi.BackupAccepted
		if err := d.Operator.Do(ctx, http.MethodPost, "/v1/restores", nil, map[string]any{
			"backup": created.ID, "name": tc.name, "namespace": ns, "shards": tc.shards, "replicasPerShard": tc.replicas,
			"compare": "sample", "reason": "e2e restore"}, &acc); err != nil {
			t.Fatalf("restore into %s: %v", tc.name, err)
		}
		if acc.ID == "" || acc.ID != acc.OperationID {
			t.Errorf("restore answered id %q, operation %q", acc.ID, acc.OperationID)
		}
		killedAt := ""
		var lastKeys int64
		op := h.waitFast(acc.OperationID, 10*time.Minute, func(op httpapi.Operation) {
			lastKeys = max(lastKeys, op.Progress.KeysMoved)
			step := op.Progress.Step
			if tc.kill && killedAt == "" && op.Status == "Running" && (strings.HasPrefix(step, "load ") || strings.HasPrefix(step, "replay round")) {
				killedAt = step
				w.kill(syscall.SIGKILL)
				workers++
				w = startWorker(t, bin, d, workers)
			}
		})
		took := time.Since(began)
		t.Logf("restore 3->%d into %s: %s (%.0f keys/s)%s: %s", tc.shards, tc.name, took.Round(time.Millisecond),
			float64(m.TotalKeys)/took.Seconds(), map[bool]string{true: " worker SIGKILLed during " + killedAt, false: ""}[tc.kill], op.Progress.Message)
		if tc.kill && killedAt == "" {
			t.Error("the worker was never killed mid-restore")
		}
		rc := credentials(t, d, ns, tc.name)
		rcc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: rc.Addresses, Password: rc.Password, MaxRedirects: 16})
		checkRestored(t, cc, rcc, writer, m)
		clusterCheck(t, rc)
		c := h.cluster(tc.name)
		if len(c.Instances) != tc.shards*(1+tc.replicas) || !c.Healthy {
			t.Errorf("%s: %d instances, healthy %v %v", tc.name, len(c.Instances), c.Healthy, c.Health.Problems)
		}
		if l, _ := env.Clientset.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "dayops.io/restore-of=" + tc.name}); len(l.Items) > 0 {
			t.Errorf("%s: %d temporary pods left", tc.name, len(l.Items))
		}
		rcc.Close()
		checkAuditOnce(t, d, operation.ClusterKey(ns, tc.name), 1)
		acc2 := h.start("/v1/clusters/"+tc.name, url.Values{"namespace": {ns}, "deleteVolumes": {"true"}}, nil)
		h.wait(acc2.OperationID, 5*time.Minute, nil)
	}

	// A flipped byte: the restore fails naming the file, and nothing exists.
	file := filepath.Join(s3.Dir, "backups", "e2e", backupstore.ShardKey(created.ID, 1))
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	orig := slices.Clone(b)
	b[len(b)/2] ^= 0x40
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = runCLI(t, cli.RestoreCmd(), created.ID, "--into", "bkbad", "-n", ns, "--wait")
	if err == nil || !strings.Contains(out+err.Error(), "shard-1.rdb") || !strings.Contains(out+err.Error(), "corrupt") {
		t.Errorf("restore of a corrupt backup: want an error naming shard-1.rdb, got %v\n%s", err, out)
	} else {
		t.Logf("corrupt file refused: %v", err)
	}
	if _, err := env.Clientset.CoreV1().ConfigMaps(ns).Get(ctx, "bkbad-config", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("a refused restore created its ConfigMap (%v)", err)
	}
	if l, _ := env.Clientset.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{}); l != nil {
		for _, p := range l.Items {
			if strings.HasPrefix(p.Name, "bkbad") {
				t.Errorf("a refused restore created pod %s", p.Name)
			}
		}
	}
	// A missing file: refused by the API at once, naming it.
	if err := os.Rename(file, file+".moved"); err != nil {
		t.Fatal(err)
	}
	err = d.Operator.Do(ctx, http.MethodPost, "/v1/restores", nil, map[string]any{"backup": created.ID, "name": "bkbad", "namespace": ns}, nil)
	if err == nil || !strings.Contains(err.Error(), "shard-1.rdb") || !strings.Contains(err.Error(), "missing") {
		t.Errorf("restore of a backup with a missing file: %v", err)
	}
	_ = os.Rename(file+".moved", file)
	_ = os.WriteFile(file, orig, 0o644)

	// Deletion is an audited operation; the backup is gone afterwards.
	out, err = runCLI(t, cli.BackupCmd(), "delete", created.ID, "--wait", "--reason", "e2e done")
	if err != nil {
		t.Errorf("backup delete: %v\n%s", err, out)
	}
	if err := d.Auditor.Do(ctx, http.MethodGet, "/v1/backups/"+created.ID, nil, nil, &bd); err == nil && bd.Status == "Completed" {
		t.Errorf("backup %s still exists after delete", created.ID)
	}

	// A schedule (a Temporal schedule) runs Backup under the cluster's
	// operation ID; triggered now, it makes a scheduled backup.
	out, err = runCLI(t, cli.BackupCmd(), "schedule", "set", src, "-n", ns, "--every", "1h", "--keep-last", "1", "--reason", "e2e schedule")
	if err != nil || !strings.Contains(out, "every 1h0m0s") {
		t.Fatalf("schedule set: %v\n%s", err, out)
	}
	if err := d.Deps.Temporal.ScheduleClient().GetHandle(ctx, httpapi.ScheduleID(ns, src)).Trigger(ctx, client.ScheduleTriggerOptions{}); err != nil {
		t.Fatal(err)
	}
	var scheduled []httpapi.BackupSummary
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(time.Second) {
		if err := d.Auditor.Do(ctx, http.MethodGet, "/v1/clusters/"+src+"/backups", url.Values{"namespace": {ns}}, nil, &scheduled); err != nil {
			t.Fatal(err)
		}
		if len(scheduled) > 0 {
			break
		}
	}
	if len(scheduled) != 1 || !scheduled[0].Scheduled || scheduled[0].Reason != "e2e schedule" || !scheduled[0].ClusterConsistent {
		t.Errorf("after the scheduled run: %+v", scheduled)
	} else {
		t.Logf("scheduled backup %s: %d keys, paused %.2f ms", scheduled[0].ID, scheduled[0].Keys, scheduled[0].PausedMS)
	}
	if out, err = runCLI(t, cli.BackupCmd(), "schedule", "delete", src, "-n", ns); err != nil {
		t.Errorf("schedule delete: %v\n%s", err, out)
	}
	// The scheduled run must have ended before the audit is read.
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		var op httpapi.Operation
		if len(scheduled) == 0 || d.Auditor.Do(ctx, http.MethodGet, "/v1/operations/"+scheduled[0].ID, nil, nil, &op) != nil || op.Status != "Running" {
			break
		}
	}
	checkAuditOnce(t, d, operation.ClusterKey(ns, src), 4) // create, backup, delete-backup, scheduled backup
	acc = h.start("/v1/clusters/"+src, url.Values{"namespace": {ns}, "deleteVolumes": {"true"}}, nil)
	h.wait(acc.OperationID, 5*time.Minute, nil)
}

func credentials(t *testing.T, d *dayopstest.Dayops, ns, name string) httpapi.Credentials {
	t.Helper()
	var c httpapi.Credentials
	if err := d.Operator.Do(t.Context(), http.MethodGet, "/v1/clusters/"+name+"/credentials", url.Values{"namespace": {ns}}, nil, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// checkRestored compares every key of the backup with the restored cluster:
// the static keys by DUMP (value and type) and TTL, the counters as one cut,
// and the total key count with the manifest.
func checkRestored(t *testing.T, srcCC, dst *redis.ClusterClient, w *cutWriter, m *backupstore.Manifest) {
	t.Helper()
	ctx := t.Context()
	var names []string
	for i := range 30_000 {
		names = append(names, "fill:"+strconv.Itoa(i))
	}
	for i := range 1000 {
		names = append(names, "ttl:"+strconv.Itoa(i))
	}
	for i := range 20_000 {
		names = append(names, "rnd:"+strconv.Itoa(i))
	}
	for i := range 200 {
		k := "{h" + strconv.Itoa(i) + "}"
		names = append(names, k+":hash", k+":list", k+":zset")
	}
	dump := func(cc *redis.ClusterClient) ([]string, []time.Duration) {
		vals, ttls := make([]string, len(names)), make([]time.Duration, len(names))
		for start := 0; start < len(names); start += 2000 {
			end := min(start+2000, len(names))
			cmds, err := cc.Pipelined(ctx, func(p redis.Pipeliner) error {
				for _, n := range names[start:end] {
					p.Dump(ctx, n)
					p.PTTL(ctx, n)
				}
				return nil
			})
			if err != nil && err != redis.Nil {
				t.Fatalf("dump: %v", err)
			}
			for i := range end - start {
				vals[start+i] = cmds[2*i].(*redis.StringCmd).Val()
				ttls[start+i] = cmds[2*i+1].(*redis.DurationCmd).Val()
			}
		}
		return vals, ttls
	}
	sv, _ := dump(srcCC)
	dv, dt := dump(dst)
	bad := 0
	for i, n := range names {
		if sv[i] == "" || sv[i] != dv[i] {
			if bad++; bad <= 5 {
				t.Errorf("key %s differs after restore", n)
			}
		}
		ttlKey := strings.HasPrefix(n, "ttl:")
		if ttlKey && (dt[i] < 50*time.Minute || dt[i] > time.Hour) || !ttlKey && dt[i] != -1 {
			if bad++; bad <= 5 {
				t.Errorf("key %s has TTL %s after restore", n, dt[i])
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d keys wrong after restore", bad, len(names))
	}
	vals, err := w.check(ctx, dst)
	if err != nil {
		t.Errorf("restored counters: %v", err)
	} else {
		t.Logf("restored counters %v: one cut (the writer reached %d)", vals, w.last.Load())
	}
	var total int64
	if err := dst.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		n, err := c.DBSize(ctx).Result()
		atomic.AddInt64(&total, n)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if total != m.TotalKeys {
		t.Errorf("restored cluster holds %d keys, the manifest %d", total, m.TotalKeys)
	}
}

// checkAuditOnce: each step of each operation of the cluster recorded once,
// each operation started and ended once.
func checkAuditOnce(t *testing.T, d *dayopstest.Dayops, cluster string, wantOps int) {
	t.Helper()
	tallyAudit(t, d, cluster).CheckCompleted(t, cluster, wantOps)
}
