package kube

import (
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/devcluster/devtest"
	"github.com/dayops/dayops/internal/kube/render"
	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/topology"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
)

func TestMain(m *testing.M) { devtest.Main(m) }

// TestWaitReadyFailsFast runs Pods that never become Ready on the local
// stack (a redis.conf redis-server refuses, an image no registry has) and
// checks that the wait ends with the right non-retryable error within a
// bound instead of waiting out its six-hour timeout. The config bypasses
// admission on purpose: a redis-server of another version may refuse what
// admission accepted.
func TestWaitReadyFailsFast(t *testing.T) {
	env := devtest.Get(t)
	a := &Activities{Client: env.Clientset, Log: slog.New(slog.DiscardHandler), PollInterval: 250 * time.Millisecond}
	tests := map[string]struct {
		cluster  spec.Cluster
		stuck    StuckPolicy
		wantType string
		wantMsg  []string
		within   time.Duration
	}{
		"crash loop": {
			cluster:  spec.Cluster{Name: "crash", Shards: 1, Config: map[string]string{"maxmemory-policy": "bogus"}},
			wantType: ErrTypeCrashLoop, wantMsg: []string{render.PodName("crash", 0), "CrashLoopBackOff", "exit code 1", "maxmemory-policy"},
			within: 90 * time.Second,
		},
		"image pull": {
			cluster:  spec.Cluster{Name: "nopull", Shards: 1, Image: "registry.invalid/nosuch/redis:0.0"},
			stuck:    StuckPolicy{WaitingGrace: 2 * time.Second},
			wantType: ErrTypeImagePull, wantMsg: []string{render.PodName("nopull", 0), "ErrImagePull"},
			within: 60 * time.Second,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := tc.cluster
			c.Namespace = env.Namespace
			c.Persistence.Mode = spec.PersistenceNone
			c.Default()
			var ts testsuite.WorkflowTestSuite
			aenv := ts.NewTestActivityEnvironment()
			aenv.SetTestTimeout(5 * time.Minute)
			aenv.RegisterActivity(a)
			if _, err := aenv.ExecuteActivity(a.EnsureConfig, EnsureConfigInput{Spec: c, NextOrdinal: 1}); err != nil {
				t.Fatal(err)
			}
			inst := []topology.Instance{{Ordinal: 0, Shard: 0, Role: topology.RolePrimary}}
			if _, err := aenv.ExecuteActivity(a.EnsureInstances, EnsureInstancesInput{Spec: c, Instances: inst}); err != nil {
				t.Fatal(err)
			}
			began := time.Now()
			_, err := aenv.ExecuteActivity(a.WaitInstancesReady, WaitReadyInput{Namespace: c.Namespace, Cluster: c.Name, Ordinals: []int{0}, Stuck: tc.stuck})
			took := time.Since(began)
			t.Logf("wait ended after %s: %v", took.Round(100*time.Millisecond), err)
			var app *temporal.ApplicationError
			if !errors.As(err, &app) || app.Type() != tc.wantType || !app.NonRetryable() {
				t.Fatalf("err = %v, want a non-retryable %s", err, tc.wantType)
			}
			for _, w := range tc.wantMsg {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
			if took > tc.within {
				t.Errorf("the wait took %s, want at most %s", took, tc.within)
			}
		})
	}
}
