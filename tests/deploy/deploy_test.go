// Package deploy applies deploy/overlays/local to the local stack the way
// `make deploy-local` does (scripts/deploy-local.sh) and proves the result:
// the service accounts can do what docs/deploy.md says and nothing more, and
// dayops run as Deployments (in-cluster configuration, two workers) carries
// an operation through the deletion of the worker Pod running it and through
// a rolling update of the worker Deployment.
//
// The test owns the stack's dayops-system namespace while it runs and
// deletes what it applied at the end.
package deploy

import (
	"bufio"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	sdkclient "go.temporal.io/sdk/client"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/dayops/dayops/internal/audit"
	"github.com/dayops/dayops/internal/cli"
	"github.com/dayops/dayops/internal/devcluster"
	"github.com/dayops/dayops/internal/devcluster/devtest"
	"github.com/dayops/dayops/internal/eventstore"
	"github.com/dayops/dayops/internal/httpapi"
	"github.com/dayops/dayops/internal/operation"
	"github.com/dayops/dayops/internal/testutil/audittally"
	"github.com/dayops/dayops/internal/testutil/redistest"
)

func TestMain(m *testing.M) { devtest.Main(m) }

// systemNS is where deploy/base puts dayops.
const systemNS = "dayops-system"

// deployment is dayops applied from deploy/overlays/local for one test.
type deployment struct {
	t        *testing.T
	env      *devtest.Env
	dev      map[string]string // the stack's dev.env
	devPath  string
	queue    string
	database string
	api      string // the API Service, port-forwarded
	operator *cli.Client
	auditor  *cli.Client
	temporal sdkclient.Client
}

// script runs scripts/deploy-local.sh verb with this test's settings.
func (d *deployment) script(ctx context.Context, verb string, extra ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(d.env.Root, "scripts", "deploy-local.sh"), verb)
	cmd.Dir = d.env.Root
	cmd.Env = append(os.Environ(), "DAYOPS_DEV_ENV="+d.devPath, "DAYOPS_NAMESPACES="+d.env.Namespace,
		"DAYOPS_TASK_QUEUE="+d.queue, "DAYOPS_DEPLOY_DATABASE_URL="+d.database)
	cmd.Env = append(cmd.Env, extra...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestDeployLocal(t *testing.T) {
	env := devtest.Get(t)
	ctx := t.Context()
	devPath := cmp.Or(os.Getenv("DAYOPS_DEV_ENV"), filepath.Join(env.Root, ".dayops", "dev.env"))
	dev, err := devcluster.ReadEnvFile(devPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Clientset.AppsV1().Deployments(systemNS).Get(ctx, "dayops-worker", metav1.GetOptions{}); err == nil {
		t.Fatalf("%s already runs dayops (`make deploy-local`?): this test deploys there itself; run `make undeploy-local` first", systemNS)
	}
	d := &deployment{t: t, env: env, dev: dev, devPath: devPath, queue: "deploy-e2e-" + randomHex(4), database: env.NewDatabase(t)}
	// Production's Temporal: Temporal's own server on PostgreSQL with mutual
	// TLS, started for this test beside the stack's dev server; the deployed
	// API and workers get its address and TLS files through the generated
	// Secret (deploy-local.sh passes every TEMPORAL_* variable on).
	if _, err := os.Stat(filepath.Join(env.BinDir, "temporal-server")); err == nil {
		ts := devtest.StartTemporalServer(t, env.Root)
		d.devPath = withTemporal(t, devPath, ts)
		d.temporal = ts.Client(t)
		t.Logf("Temporal: its own server at %s over mutual TLS (client certificate %s)", ts.TemporalAddress, ts.TemporalTLS.Cert)
	} else {
		d.temporal = env.TemporalClient(t)
		t.Logf("bin/temporal-server is missing (make tools): the deployment talks to the stack's dev server")
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		terminateRunning(cctx, d.temporal, d.queue)
		if out, err := d.script(cctx, "delete"); err != nil {
			t.Errorf("deploy-local.sh delete: %v\n%s", err, out)
		}
	})

	began := time.Now()
	if out, err := d.script(ctx, "apply"); err != nil {
		for _, dep := range []string{"dayops-api", "dayops-worker"} {
			logs, _ := env.KubectlE(ctx, "logs", "-n", systemNS, "deploy/"+dep, "--tail", "20")
			out += "\n--- " + dep + " log:\n" + logs
		}
		t.Fatalf("deploy-local.sh apply: %v\n%s", err, out)
	}
	t.Logf("deploy-local.sh apply: API and workers ready in %s", time.Since(began).Round(100*time.Millisecond))

	t.Run("rbac", func(t *testing.T) { checkCanI(t, env) })
	if t.Failed() {
		return
	}
	logRSS(t, env)

	d.api = portForward(t, env, "svc/dayops-api", ":80")
	httpc := &http.Client{Timeout: time.Minute}
	d.operator = &cli.Client{Base: d.api, Token: dev[devcluster.EnvToken], HTTP: httpc}
	d.auditor = &cli.Client{Base: d.api, Token: dev[devcluster.EnvAuditorToken], HTTP: httpc}

	d.proof(ctx)
}

// proof is issue 15's test: create 3x1 through the in-cluster API, scale
// 3 -> 4 under a writer deleting the worker Pod that runs the migration,
// back up, verify the audit chain, then roll the worker Deployment to a new
// image tag while another operation runs.
func (d *deployment) proof(ctx context.Context) {
	t, ns := d.t, d.env.Namespace
	const name = "dp"
	nsq := url.Values{"namespace": {ns}}

	// A namespace outside DAYOPS_NAMESPACES is refused before anything
	// starts: dayops' Roles do not reach it.
	var refused *cli.APIError
	err := d.operator.Do(ctx, http.MethodPost, "/v1/clusters", nil, map[string]any{"name": name, "namespace": "kube-system", "shards": 3, "replicasPerShard": 1, "reason": "deploy e2e"}, nil)
	if !errors.As(err, &refused) || refused.Status != http.StatusUnprocessableEntity || !strings.Contains(err.Error(), "DAYOPS_NAMESPACES") {
		t.Errorf("a cluster in kube-system (not managed): %v, want 422 naming DAYOPS_NAMESPACES", err)
	}

	began := time.Now()
	acc := d.start(http.MethodPost, "/v1/clusters", nil, map[string]any{"name": name, "namespace": ns, "shards": 3, "replicasPerShard": 1, "reason": "deploy e2e"})
	d.wait(acc.OperationID, 5*time.Minute, 250*time.Millisecond, nil)
	t.Logf("create 3x1 through the in-cluster API: %s", time.Since(began).Round(time.Millisecond))

	var creds httpapi.Credentials
	if err := d.operator.Do(ctx, http.MethodGet, "/v1/clusters/"+name+"/credentials", nsq, nil, &creds); err != nil {
		t.Fatal(err)
	}
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: creds.Addresses, Password: creds.Password, MaxRedirects: 16})
	defer cc.Close()
	if err := redistest.Fill(ctx, cc, "fill:", 50_000, 100, 8); err != nil {
		t.Fatal(err)
	}
	writer := redistest.StartWriter(ctx, cc, redistest.WriterOptions{Keys: 10_000, Workers: 4})

	// Scale 3 -> 4; mid-migration, delete the worker Pod running the step.
	var (
		victim    string // Pod name
		victimPID string
		deletedAt time.Time
		resumed   time.Duration
		resumedBy string
	)
	began = time.Now()
	acc = d.start(http.MethodPost, "/v1/clusters/"+name+"/operations", nsq, map[string]any{"type": "scale-shards", "shards": 4, "reason": "deploy e2e"})
	d.wait(acc.OperationID, 10*time.Minute, 30*time.Millisecond, func(op httpapi.Operation) {
		switch {
		case victim == "" && op.Progress.Phase == "migrating" && op.Progress.SlotsMoved > 0:
			pod, pid := d.activityWorker(ctx, op.WorkflowID, op.RunID, "")
			if pod == "" {
				return
			}
			deletedAt = time.Now()
			if err := d.env.Clientset.CoreV1().Pods(systemNS).Delete(ctx, pod, metav1.DeleteOptions{}); err != nil {
				t.Fatalf("delete worker pod %s: %v", pod, err)
			}
			victim, victimPID = pod, pid
			t.Logf("deleted worker pod %s (pid %s) at %d/%d slots", pod, pid, op.Progress.SlotsMoved, op.Progress.SlotsTotal)
		case victim != "" && resumedBy == "":
			pod, _ := d.activityWorker(ctx, op.WorkflowID, op.RunID, victimPID)
			if pod != "" {
				resumedBy, resumed = pod, time.Since(deletedAt)
			}
		}
	})
	if victim == "" {
		t.Fatal("no worker pod was deleted mid-migration (the migration finished between two polls)")
	}
	t.Logf("scale-shards 3->4 with worker pod %s deleted: %s; next activity ran on %s %s after the deletion",
		victim, time.Since(began).Round(time.Millisecond), cmp.Or(resumedBy, "(not seen: the operation ended first)"), resumed.Round(time.Millisecond))
	if resumedBy == victim {
		t.Errorf("the deleted pod %s ran the next activity", victim)
	}

	// Back up with the product CLI through the API.
	out, err := d.cli(ctx, d.dev[devcluster.EnvToken], "backup", "create", name, "-n", ns, "--reason", "deploy e2e", "-o", "json")
	if err != nil {
		t.Fatalf("dayops backup create: %v\n%s", err, out)
	}
	var backup struct {
		ID          string `json:"id"`
		OperationID string `json:"operationId"`
	}
	if err := json.Unmarshal([]byte(out), &backup); err != nil || backup.OperationID == "" {
		t.Fatalf("dayops backup create -o json printed %q (%v)", out, err)
	}
	d.wait(backup.OperationID, 5*time.Minute, 250*time.Millisecond, nil)
	t.Logf("backup %s done", backup.ID)

	// Roll the worker Deployment to a new image tag while a scale-in runs.
	began = time.Now()
	acc = d.start(http.MethodPost, "/v1/clusters/"+name+"/operations", nsq, map[string]any{"type": "scale-shards", "shards": 3, "reason": "deploy e2e roll"})
	rolled := false
	d.wait(acc.OperationID, 10*time.Minute, 100*time.Millisecond, func(op httpapi.Operation) {
		if rolled || op.Progress.Phase != "migrating" {
			return
		}
		rolled = true
		d.env.Kubectl(t, "-n", systemNS, "set", "image", "deployment/dayops-worker", "worker=dayops:dev2")
		t.Logf("worker deployment set to dayops:dev2 at %d/%d slots", op.Progress.SlotsMoved, op.Progress.SlotsTotal)
	})
	if !rolled {
		t.Fatal("the scale-in never reached its migration: the roll did not happen during it")
	}
	d.env.Kubectl(t, "-n", systemNS, "rollout", "status", "deployment/dayops-worker", "--timeout", "5m")
	t.Logf("scale-shards 4->3 during the worker roll: %s", time.Since(began).Round(time.Millisecond))
	pods, err := d.env.Clientset.CoreV1().Pods(systemNS).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=dayops-worker"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && p.Spec.Containers[0].Image != "dayops:dev2" {
			t.Errorf("worker pod %s runs %s after the roll", p.Name, p.Spec.Containers[0].Image)
		}
	}

	stats := writer.Stop()
	checked, err := writer.Verify(ctx, cc)
	if err != nil {
		t.Fatalf("acknowledged writes lost: %v", err)
	}
	t.Logf("writer: %d acked, %d failed, %d keys verified, 0 lost", stats.Acked, stats.Failed, checked)

	d.checkAuditOnce(ctx, operation.ClusterKey(ns, name), 4) // create, scale, backup, scale
	d.verifyAudit(ctx)

	acc = d.start(http.MethodDelete, "/v1/clusters/"+name, url.Values{"namespace": {ns}, "deleteVolumes": {"true"}, "reason": {"deploy e2e done"}}, nil)
	d.wait(acc.OperationID, 5*time.Minute, 250*time.Millisecond, nil)
}

// start sends an operation request and returns its acceptance.
func (d *deployment) start(method, path string, q url.Values, body any) httpapi.OperationAccepted {
	d.t.Helper()
	var acc httpapi.OperationAccepted
	if err := d.operator.Do(d.t.Context(), method, path, q, body, &acc); err != nil {
		d.t.Fatalf("%s %s: %v", method, path, err)
	}
	return acc
}

// wait polls an operation every poll until it ends and fails the test
// unless it succeeded; onProgress sees every poll.
func (d *deployment) wait(id string, limit, poll time.Duration, onProgress func(httpapi.Operation)) {
	d.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		var op httpapi.Operation
		err := d.auditor.Do(d.t.Context(), http.MethodGet, "/v1/operations/"+id, nil, nil, &op)
		if err == nil {
			if onProgress != nil {
				onProgress(op)
			}
			if op.Status != "Running" {
				if op.Status != "Completed" || op.Progress.Outcome != "succeeded" {
					d.t.Fatalf("operation %s ended %s: %s %s", id, op.Status, op.Error, op.Progress.Message)
				}
				return
			}
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("operation %s still running after %s: %+v (last error %v)", id, limit, op.Progress, err)
		}
		time.Sleep(poll)
	}
}

// activityWorker names the worker Pod (and its process ID) running a started
// activity of the workflow, ignoring the process notPID; "" when none runs.
// A worker's Temporal identity is "PID@host@" and the node agent's
// containerID is process://PID.
func (d *deployment) activityWorker(ctx context.Context, workflowID, runID, notPID string) (pod, pid string) {
	desc, err := d.temporal.DescribeWorkflowExecution(ctx, workflowID, runID)
	if err != nil {
		return "", ""
	}
	pods, err := d.env.Clientset.CoreV1().Pods(systemNS).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=dayops-worker"})
	if err != nil {
		return "", ""
	}
	for _, a := range desc.GetPendingActivities() {
		if a.GetState() != enumspb.PENDING_ACTIVITY_STATE_STARTED {
			continue
		}
		p, _, _ := strings.Cut(a.GetLastWorkerIdentity(), "@")
		if p == "" || p == notPID {
			continue
		}
		for _, wp := range pods.Items {
			for _, cs := range wp.Status.ContainerStatuses {
				if cs.ContainerID == "process://"+p {
					return wp.Name, p
				}
			}
		}
	}
	return "", ""
}

// cli runs the product binary the stack's node agent runs, against the
// port-forwarded API.
func (d *deployment) cli(ctx context.Context, token string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(d.env.BinDir, "dayops"), args...)
	cmd.Env = append(os.Environ(), "DAYOPS_API="+d.api, "DAYOPS_TOKEN="+token, "DAYOPS_DB_URL=", "DAYOPS_AUDIT_DB=")
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out) + string(ee.Stderr), err
	}
	return string(out), err
}

// verifyAudit runs `dayops audit verify` through the API with the stack's
// public key, waiting for the audit signer Deployment's first checkpoint.
func (d *deployment) verifyAudit(ctx context.Context) {
	t := d.t
	pub := filepath.Join(d.dev[devcluster.EnvStateDir], eventstore.PublicKeyFile)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		out, err := d.cli(ctx, d.dev[devcluster.EnvAuditorToken], "audit", "verify", "--public-key", pub)
		if err == nil {
			t.Logf("dayops audit verify:\n%s", out)
			return
		}
		if time.Now().After(deadline) || !strings.Contains(out, "no checkpoint") {
			t.Fatalf("dayops audit verify: %v\n%s", err, out)
		}
		time.Sleep(2 * time.Second)
	}
}

// checkAuditOnce reads the cluster's audit log from the deployment's
// database: every step started and ended once, every operation started and
// completed once, whichever worker ran it.
func (d *deployment) checkAuditOnce(ctx context.Context, cluster string, wantOps int) {
	t := d.t
	pool, err := pgxpool.New(ctx, d.database)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	store, err := eventstore.Open(ctx, pool, eventstore.Options{Upcasters: audit.Upcasters()})
	if err != nil {
		t.Fatal(err)
	}
	events, err := store.Query(ctx, eventstore.Filter{Cluster: cluster})
	if err != nil {
		t.Fatal(err)
	}
	a := audittally.Of(events)
	a.CheckSteps(t, cluster)
	a.CheckCompleted(t, cluster, wantOps)
}

// canIBlock is one expected `kubectl auth can-i --list` of docs/deploy.md.
type canIBlock struct {
	args []string
	want []string
}

// checkCanI runs every `kubectl auth can-i --list` that docs/deploy.md
// shows and compares the output with the document's: the document is the
// contract of what each service account may do. The managed namespace
// "redis" of the document is this test's namespace.
func checkCanI(t *testing.T, env *devtest.Env) {
	doc, err := os.ReadFile(filepath.Join(env.Root, "docs", "deploy.md"))
	if err != nil {
		t.Fatal(err)
	}
	blocks := parseCanI(string(doc))
	if len(blocks) < 4 {
		t.Fatalf("docs/deploy.md shows %d `kubectl auth can-i --list` blocks, want at least 4 (two service accounts, managed and other namespaces)", len(blocks))
	}
	for _, b := range blocks {
		args := make([]string, len(b.args))
		for i, a := range b.args {
			args[i] = strings.ReplaceAll(a, "=redis", "="+env.Namespace)
			if a == "redis" {
				args[i] = env.Namespace
			}
		}
		got := strings.Split(strings.TrimSpace(env.Kubectl(t, args...)), "\n")
		if diff := diffRows(b.want, got); diff != "" {
			t.Errorf("kubectl %s differs from docs/deploy.md (-doc +cluster):\n%s", strings.Join(b.args, " "), diff)
		}
	}
}

// parseCanI finds the fenced blocks that start with "$ kubectl auth can-i
// --list": the command's arguments, then its expected output.
func parseCanI(doc string) []canIBlock {
	var out []canIBlock
	var cur *canIBlock
	sc := bufio.NewScanner(strings.NewReader(doc))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "$ kubectl auth can-i --list"):
			out = append(out, canIBlock{args: strings.Fields(strings.TrimPrefix(line, "$ kubectl "))})
			cur = &out[len(out)-1]
		case strings.HasPrefix(line, "```"):
			cur = nil
		case cur != nil && strings.TrimSpace(line) != "":
			cur.want = append(cur.want, line)
		}
	}
	return out
}

var spaces = regexp.MustCompile(`\s+`)

// diffRows compares two `can-i --list` tables row by row, ignoring column
// alignment, row order and the rows without a resource (the discovery URLs
// every account gets, which docs/deploy.md leaves out).
func diffRows(want, got []string) string {
	norm := func(rows []string) []string {
		out := make([]string, 0, len(rows))
		for _, r := range rows {
			r = strings.TrimSpace(spaces.ReplaceAllString(r, " "))
			if strings.HasPrefix(r, "[") {
				continue
			}
			out = append(out, r)
		}
		slices.Sort(out)
		return out
	}
	w, g := norm(want), norm(got)
	var b strings.Builder
	for _, r := range w {
		if !slices.Contains(g, r) {
			fmt.Fprintf(&b, "- %s\n", r)
		}
	}
	for _, r := range g {
		if !slices.Contains(w, r) {
			fmt.Fprintf(&b, "+ %s\n", r)
		}
	}
	return b.String()
}

// logRSS prints the resident memory of the API and worker processes at rest
// (the node agent runs each container as a local process: containerID
// process://PID).
func logRSS(t *testing.T, env *devtest.Env) {
	pods, err := env.Clientset.CoreV1().Pods(systemNS).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var parts []string
	for _, p := range pods.Items {
		for _, cs := range p.Status.ContainerStatuses {
			pid, ok := strings.CutPrefix(cs.ContainerID, "process://")
			if !ok {
				continue
			}
			b, err := os.ReadFile("/proc/" + pid + "/status")
			if err != nil {
				continue
			}
			for _, l := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
					parts = append(parts, fmt.Sprintf("%s %s", p.Labels["app.kubernetes.io/name"], strings.TrimSpace(v)))
				}
			}
		}
	}
	slices.Sort(parts)
	t.Logf("RSS at rest: %s", strings.Join(parts, ", "))
}

// portForward runs `kubectl port-forward target :port` in dayops-system
// for the test and returns the local URL. The stack has no kube-proxy: a
// ClusterIP does not route, the kubelet's port-forward does.
func portForward(t *testing.T, env *devtest.Env, target, port string) string {
	cmd := exec.Command(filepath.Join(env.BinDir, "kubectl"), "--kubeconfig", env.Kubeconfig, "-n", systemNS, "port-forward", target, port)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	re := regexp.MustCompile(`Forwarding from 127\.0\.0\.1:(\d+)`)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case p := <-found:
		return "http://127.0.0.1:" + p
	case <-time.After(30 * time.Second):
		t.Fatalf("kubectl port-forward %s printed no local port in 30s", target)
	}
	return ""
}

// terminateRunning ends the workflows left running on the test's task queue
// (the guardians), so they do not linger in the shared Temporal server.
func terminateRunning(ctx context.Context, c sdkclient.Client, queue string) {
	res, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Query: fmt.Sprintf("TaskQueue = '%s' AND ExecutionStatus = 'Running'", queue),
	})
	if err != nil {
		return
	}
	for _, e := range res.Executions {
		_ = c.TerminateWorkflow(ctx, e.GetExecution().GetWorkflowId(), e.GetExecution().GetRunId(), "deploy test ended")
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// withTemporal writes a copy of the stack's dev.env whose TEMPORAL_*
// variables (address, TLS files) are those of ts, and returns its path.
func withTemporal(t *testing.T, devPath string, ts *devtest.TemporalServer) string {
	t.Helper()
	base, err := os.ReadFile(devPath)
	if err != nil {
		t.Fatal(err)
	}
	env, err := devcluster.ReadEnvFile(ts.EnvFile)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.Write(base)
	b.WriteString("\n# The test's own Temporal server (tests/deploy).\n")
	for _, k := range slices.Sorted(maps.Keys(env)) {
		if strings.HasPrefix(k, "TEMPORAL_") {
			fmt.Fprintf(&b, "export %s='%s'\n", k, strings.ReplaceAll(env[k], "'", `'\''`))
		}
	}
	if _, ok := env["TEMPORAL_UI"]; !ok {
		b.WriteString("unset TEMPORAL_UI\n")
	}
	path := filepath.Join(t.TempDir(), "dev.env")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
