package nodeagent

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/devcluster/nodeagent/podlog"
	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
)

func TestNodes(t *testing.T) {
	c := DefaultConfig()
	var got []string
	for _, n := range c.nodes() {
		got = append(got, n.Name+" "+n.Zone+" "+n.IP.String()+" "+n.Pool.String())
	}
	want := []string{
		"node-a1 zone-a 10.244.1.1 10.244.1.0/24",
		"node-a2 zone-a 10.244.2.1 10.244.2.0/24",
		"node-b1 zone-b 10.244.3.1 10.244.3.0/24",
		"node-b2 zone-b 10.244.4.1 10.244.4.0/24",
		"node-c1 zone-c 10.244.5.1 10.244.5.0/24",
		"node-c2 zone-c 10.244.6.1 10.244.6.0/24",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("the default config is invalid: %v", err)
	}
	c := DefaultConfig()
	c.Zones, c.NodesPerZone, c.KubeletPort, c.Kubeconfig = 0, 0, 0, ""
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate accepted a bad config")
	}
	for _, want := range []string{"kubeconfig", "zones", "nodes per zone", "kubelet port"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestMergeTaints(t *testing.T) {
	notReady := corev1.Taint{Key: "node.kubernetes.io/not-ready", Effect: corev1.TaintEffectNoSchedule}
	cordon := corev1.Taint{Key: "node.kubernetes.io/unschedulable", Effect: corev1.TaintEffectNoSchedule}
	users := corev1.Taint{Key: "example.com/maintenance", Value: "x", Effect: corev1.TaintEffectNoExecute}
	oldOwn := corev1.Taint{Key: "dayops.dev/test-agent", Value: "old", Effect: corev1.TaintEffectNoSchedule}
	own := corev1.Taint{Key: "dayops.dev/test-agent", Value: "new", Effect: corev1.TaintEffectNoSchedule}
	tests := map[string]struct {
		cur, configured, want []corev1.Taint
	}{
		"new node":           {cur: []corev1.Taint{notReady}, want: nil},
		"keeps user taints":  {cur: []corev1.Taint{users, notReady}, want: []corev1.Taint{users}},
		"keeps cordon":       {cur: []corev1.Taint{cordon}, want: []corev1.Taint{cordon}},
		"replaces own taint": {cur: []corev1.Taint{oldOwn, notReady}, configured: []corev1.Taint{own}, want: []corev1.Taint{own}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, mergeTaints(tc.cur, tc.configured)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestLogOptions(t *testing.T) {
	now := time.Date(2026, 12, 3, 20, 0, 0, 0, time.UTC)
	type want struct {
		opts     podlog.Options
		previous bool
		err      string
	}
	for name, tc := range map[string]struct {
		query string
		want  want
	}{
		"none":      {"", want{opts: podlog.Options{TailLines: -1}}},
		"all":       {"follow=true&timestamps=1&previous=true&tailLines=5&limitBytes=100&sinceSeconds=60", want{opts: podlog.Options{Follow: true, Timestamps: true, TailLines: 5, LimitBytes: 100, Since: now.Add(-time.Minute)}, previous: true}},
		"sinceTime": {"sinceTime=2026-12-03T19:00:00Z", want{opts: podlog.Options{TailLines: -1, Since: now.Add(-time.Hour)}}},
		"bad tail":  {"tailLines=x&limitBytes=y", want{err: "bad tailLines"}},
		"bad limit": {"limitBytes=y", want{err: "bad limitBytes"}},
		"bad since": {"sinceSeconds=1.5", want{err: "bad sinceSeconds"}},
		"bad time":  {"sinceTime=yesterday", want{err: "bad sinceTime"}},
	} {
		t.Run(name, func(t *testing.T) {
			q, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			opts, previous, err := logOptions(q, now)
			if tc.want.err != "" {
				if err == nil || err.Error() != tc.want.err {
					t.Fatalf("err = %v, want %s", err, tc.want.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, want{opts: opts, previous: previous}, cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
