package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/cli"
	"github.com/dayops/dayops/internal/devcluster/devtest"
	"github.com/dayops/dayops/internal/httpapi"
	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/testutil/dayopstest"
	"github.com/dayops/dayops/internal/workflows"
	"go.temporal.io/api/workflowservice/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestMain(m *testing.M) { devtest.Main(m) }

func apiErr(t *testing.T, err error, status int) *cli.APIError {
	t.Helper()
	var e *cli.APIError
	if !errors.As(err, &e) {
		t.Fatalf("want an HTTP %d error, got %v", status, err)
	}
	if e.Status != status {
		t.Fatalf("want HTTP %d, got %v", status, e)
	}
	return e
}

func locations(e *cli.APIError) []string {
	var out []string
	for _, d := range e.Errors {
		out = append(out, d.Location)
	}
	return out
}

// nothingStarted checks that no workflow of the cluster exists in Temporal.
func nothingStarted(t *testing.T, d *dayopstest.Dayops, ns, name string) {
	t.Helper()
	res, err := d.Deps.Temporal.ListWorkflow(t.Context(), &workflowservice.ListWorkflowExecutionsRequest{
		Query: fmt.Sprintf("WorkflowId = '%s'", workflows.WorkflowID(ns, name)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Executions) > 0 {
		t.Fatalf("a workflow was started for %s/%s: %v", ns, name, res.Executions[0].GetExecution())
	}
}

func TestAPI(t *testing.T) {
	env := devtest.Get(t)
	d := dayopstest.Start(t, env, dayopstest.Options{})
	ctx := t.Context()
	ns := env.Namespace
	create := func(c *cli.Client, body map[string]any, q url.Values) (httpapi.OperationAccepted, error) {
		var acc httpapi.OperationAccepted
		err := c.Do(ctx, http.MethodPost, "/v1/clusters", q, body, &acc)
		return acc, err
	}

	t.Run("authentication", func(t *testing.T) {
		noToken := &cli.Client{Base: d.URL, HTTP: http.DefaultClient}
		err := noToken.Do(ctx, http.MethodGet, "/v1/clusters", nil, nil, nil)
		apiErr(t, err, http.StatusUnauthorized)
		wrong := &cli.Client{Base: d.URL, Token: "not-a-real-token-at-all", HTTP: http.DefaultClient}
		apiErr(t, wrong.Do(ctx, http.MethodGet, "/v1/clusters", nil, nil, nil), http.StatusUnauthorized)
		_, err = create(d.Auditor, map[string]any{"name": "auditor-made", "namespace": ns, "shards": 3, "replicasPerShard": 1}, nil)
		e := apiErr(t, err, http.StatusForbidden)
		if !strings.Contains(e.Detail, "operator") {
			t.Errorf("403 should say the role needed: %v", e)
		}
		if err := d.Auditor.Do(ctx, http.MethodGet, "/v1/clusters", nil, nil, &[]httpapi.ClusterSummary{}); err != nil {
			t.Errorf("an auditor may read: %v", err)
		}
		nothingStarted(t, d, ns, "auditor-made")
	})

	t.Run("validation", func(t *testing.T) {
		// A Secret with a password key that its owner did not hand to dayops
		// (no dayops.io/password-secret=true label) is refused; /credentials
		// could otherwise reveal any such Secret in the namespace.
		for name, labels := range map[string]map[string]string{
			"someone-elses-db": nil,
			"handed-to-dayops": {spec.LabelPasswordSecret: "true"},
		} {
			if _, err := env.Clientset.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
				StringData: map[string]string{"password": "p-" + name + "-0123456789"},
			}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Fatal(err)
			}
		}
		head := d.Head(t)
		tests := map[string]struct {
			body map[string]any
			want []string
		}{
			"bad name and shards": {map[string]any{"name": "Bad_Name", "namespace": ns, "shards": 0, "replicasPerShard": 1},
				[]string{"body.name", "body.shards"}},
			"unknown field": {map[string]any{"name": "ok", "namespace": ns, "shards": 3, "replicasPerShard": 1, "shardz": 4},
				[]string{"body.shardz"}},
			"missing shards": {map[string]any{"name": "ok", "namespace": ns, "replicasPerShard": 1}, []string{"body.shards"}},
			"managed directive and bad hook": {map[string]any{"name": "ok", "namespace": ns, "shards": 3, "replicasPerShard": 1,
				"config": map[string]string{"port": "7000"},
				"hooks":  []map[string]any{{"name": "h", "point": "whenever", "http": map[string]string{"url": "http://127.0.0.1:1/"}}}},
				[]string{"body.config[port]", "body.hooks[0].point"}},
			"namespace does not exist": {map[string]any{"name": "ok", "namespace": "no-such-namespace-" + ns, "shards": 3, "replicasPerShard": 1},
				[]string{"body.namespace"}},
			"passwordSecret does not exist": {map[string]any{"name": "ok", "namespace": ns, "shards": 3, "replicasPerShard": 1, "passwordSecret": "no-such-secret"},
				[]string{"body.passwordSecret"}},
			"passwordSecret not opted in": {map[string]any{"name": "ok", "namespace": ns, "shards": 3, "replicasPerShard": 1, "passwordSecret": "someone-elses-db"},
				[]string{"body.passwordSecret"}},
			"too many replicas for the zones": {map[string]any{"name": "ok", "namespace": ns, "shards": 3, "replicasPerShard": 3},
				[]string{"body.zones.allowSharedZones"}},
		}
		for name, tc := range tests {
			t.Run(name, func(t *testing.T) {
				_, err := create(d.Operator, tc.body, nil)
				e := apiErr(t, err, http.StatusUnprocessableEntity)
				for _, w := range tc.want {
					field := strings.TrimPrefix(w, "body.")
					if !slices.ContainsFunc(e.Errors, func(d cli.FieldError) bool {
						return strings.HasPrefix(d.Location, w) || (d.Location == "body" && strings.Contains(d.Message, field))
					}) {
						t.Errorf("errors %v do not name %s (%v)", locations(e), w, e)
					}
				}
			})
		}
		nothingStarted(t, d, ns, "ok")
		if ev := d.OperationEventsAfter(t, head); len(ev) > 0 {
			t.Fatalf("rejected requests wrote audit events: %d events, first %s", len(ev), ev[0].Type)
		}
		// Scale a cluster that does not exist: 404.
		var acc httpapi.OperationAccepted
		err := d.Operator.Do(ctx, http.MethodPost, "/v1/clusters/nosuch/operations", url.Values{"namespace": {ns}},
			map[string]any{"type": "scale-shards", "shards": 4}, &acc)
		apiErr(t, err, http.StatusNotFound)
		err = d.Operator.Do(ctx, http.MethodPost, "/v1/clusters/nosuch/operations", url.Values{"namespace": {ns}},
			map[string]any{"type": "resize"}, &acc)
		if e := apiErr(t, err, http.StatusUnprocessableEntity); !slices.Contains(locations(e), "body.type") {
			t.Errorf("unknown type must name body.type: %v", e)
		}
		apiErr(t, d.Operator.Do(ctx, http.MethodGet, "/v1/operations/not-a-uuid", nil, nil, nil), http.StatusUnprocessableEntity)
	})

	t.Run("dry run starts and writes nothing", func(t *testing.T) {
		head := d.Head(t)
		if _, err := create(d.Operator, map[string]any{"name": "dry", "namespace": ns, "shards": 3, "replicasPerShard": 1,
			"passwordSecret": "handed-to-dayops"}, url.Values{"dryRun": {"true"}}); err != nil {
			t.Fatalf("a Secret with the opt-in label is refused: %v", err)
		}
		acc, err := create(d.Operator, map[string]any{"name": "dry", "namespace": ns, "shards": 3, "replicasPerShard": 1},
			url.Values{"dryRun": {"true"}})
		if err != nil {
			t.Fatal(err)
		}
		if !acc.DryRun || acc.OperationID != "" || len(acc.Plan.CreateInstances) != 6 || !acc.Plan.Placement.RequireDistinctZones {
			t.Fatalf("dry-run answer = %+v", acc)
		}
		nothingStarted(t, d, ns, "dry")
		if ev := d.OperationEventsAfter(t, head); len(ev) > 0 {
			t.Fatalf("dry run wrote audit events: %d events, first %s", len(ev), ev[0].Type)
		}
		if _, err := env.Clientset.CoreV1().ConfigMaps(ns).Get(ctx, "dry-config", metav1.GetOptions{}); err == nil {
			t.Fatal("dry run created the ConfigMap")
		}
	})

	t.Run("one operation per cluster", func(t *testing.T) {
		acc, err := create(d.Operator, map[string]any{"name": "busy", "namespace": ns, "shards": 3, "replicasPerShard": 0, "reason": "409 test"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		// Once the ConfigMap exists, a delete passes admission and meets the
		// running create: 409 naming it.
		deadline := time.Now().Add(time.Minute)
		for {
			if _, err := env.Clientset.CoreV1().ConfigMaps(ns).Get(ctx, "busy-config", metav1.GetOptions{}); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the create never wrote its ConfigMap")
			}
			time.Sleep(100 * time.Millisecond)
		}
		var second httpapi.OperationAccepted
		err = d.Operator.Do(ctx, http.MethodDelete, "/v1/clusters/busy", url.Values{"namespace": {ns}}, nil, &second)
		if err == nil {
			var first httpapi.Operation
			_ = d.Auditor.Do(ctx, http.MethodGet, "/v1/operations/"+acc.OperationID, nil, nil, &first)
			t.Fatalf("the delete was accepted while the create should still run; the create: %s %s %+v", first.Status, first.Error, first.Progress)
		}
		e := apiErr(t, err, http.StatusConflict)
		if !strings.Contains(e.Detail, acc.OperationID) || !strings.Contains(e.Detail, "create") {
			t.Errorf("409 must name the running operation %s: %v", acc.OperationID, e)
		}
		// The operation is visible and cancellable.
		var op httpapi.Operation
		if err := d.Auditor.Do(ctx, http.MethodGet, "/v1/operations/"+acc.OperationID, nil, nil, &op); err != nil {
			t.Fatal(err)
		}
		if op.Requester != "test-operator" || op.Cluster != "busy" || op.Type != "create" {
			t.Errorf("operation = %+v", op)
		}
		if err := d.Operator.Do(ctx, http.MethodPost, "/v1/operations/"+acc.OperationID+"/cancel", nil, nil, &op); err != nil {
			t.Fatal(err)
		}
		waitEnded(t, d, acc.OperationID)
	})

	t.Run("openapi", func(t *testing.T) {
		var doc map[string]any
		if err := (&cli.Client{Base: d.URL, HTTP: http.DefaultClient}).Do(ctx, http.MethodGet, "/openapi.json", nil, nil, &doc); err != nil {
			t.Fatal(err)
		}
		paths, _ := doc["paths"].(map[string]any)
		for _, p := range []string{"/v1/clusters", "/v1/clusters/{name}", "/v1/clusters/{name}/operations", "/v1/operations/{id}",
			"/v1/operations/{id}/cancel", "/v1/clusters/{name}/events"} {
			if _, ok := paths[p]; !ok {
				t.Errorf("OpenAPI lacks %s", p)
			}
		}
	})
}

func waitEnded(t *testing.T, d *dayopstest.Dayops, id string) httpapi.Operation {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	for {
		var op httpapi.Operation
		if err := d.Auditor.Do(ctx, http.MethodGet, "/v1/operations/"+id, nil, nil, &op); err != nil {
			t.Fatal(err)
		}
		if op.Status != "Running" {
			return op
		}
		select {
		case <-ctx.Done():
			t.Fatalf("operation %s did not end: %+v", id, op.Progress)
		case <-time.After(500 * time.Millisecond):
		}
	}
}
