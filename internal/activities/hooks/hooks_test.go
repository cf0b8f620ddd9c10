package hooks

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dayops/dayops/internal/spec"
	"github.com/google/go-cmp/cmp"
	"go.temporal.io/sdk/testsuite"
)

func TestHTTPHook(t *testing.T) {
	var got StepContext
	var header string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		header = r.Header.Get("X-Team")
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &got); err != nil {
			t.Errorf("hook body is not a StepContext: %v", err)
		}
		if strings.Contains(got.Cluster, "fail") {
			http.Error(w, "not today", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()

	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	a := &Activities{HTTP: srv.Client()}
	env.RegisterActivity(a)

	hook := spec.Hook{Name: "notify", Point: spec.PreMigrate, HTTP: &spec.HTTPHook{URL: srv.URL, Headers: map[string]string{"X-Team": "payments"}}}
	hook.Default()
	sc := StepContext{OperationID: "op-1", OperationType: "scale-shards", Namespace: "default", Cluster: "orders",
		Point: spec.PreMigrate, Hook: "notify", Scope: spec.ScopeShard, Shard: 2, Ordinal: -1, Actor: "alice"}
	val, err := env.ExecuteActivity(a.RunHook, RunInput{Hook: hook, Context: sc})
	if err != nil {
		t.Fatal(err)
	}
	var res RunResult
	if err := val.Get(&res); err != nil {
		t.Fatal(err)
	}
	if res.Status != 200 || res.BodyBytes != 2 || res.Output != "" {
		t.Errorf("result = %+v", res)
	}
	if diff := cmp.Diff(sc, got); diff != "" {
		t.Errorf("context sent (-want +got):\n%s", diff)
	}
	if header != "payments" {
		t.Errorf("header X-Team = %q", header)
	}

	sc.Cluster = "fail-me"
	_, err = env.ExecuteActivity(a.RunHook, RunInput{Hook: hook, Context: sc})
	if err == nil || !strings.Contains(err.Error(), "status 503") || strings.Contains(err.Error(), "not today") {
		t.Fatalf("want an error naming status 503 without the body, got %v", err)
	}
}

func TestRetryPolicy(t *testing.T) {
	three := 3
	if got := RetryPolicy(spec.Hook{Retries: &three}).MaximumAttempts; got != 4 {
		t.Fatalf("3 retries = %d attempts, want 4", got)
	}
	if got := RetryPolicy(spec.Hook{}).MaximumAttempts; got != int32(spec.DefaultHookRetries+1) {
		t.Fatalf("default attempts = %d", got)
	}
}
