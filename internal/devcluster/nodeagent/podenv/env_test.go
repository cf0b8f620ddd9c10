package podenv

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestBuildEnvInCluster: every container gets the apiserver's address as
// KUBERNETES_SERVICE_HOST/PORT (what rest.InClusterConfig reads), and the
// container's own env still wins.
func TestBuildEnvInCluster(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}}
	tests := map[string]struct {
		apiServer string
		env       []corev1.EnvVar
		want      map[string]string
	}{
		"from the apiserver": {
			apiServer: "127.0.0.1:6443",
			want: map[string]string{"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": "6443",
				"KUBERNETES_PORT": "tcp://127.0.0.1:6443", "KUBERNETES_PORT_6443_TCP_ADDR": "127.0.0.1"},
		},
		"container overrides": {
			apiServer: "127.0.0.1:6443",
			env:       []corev1.EnvVar{{Name: "KUBERNETES_SERVICE_HOST", Value: "api.example"}, {Name: "U", Value: "https://$(KUBERNETES_SERVICE_HOST):$(KUBERNETES_SERVICE_PORT)"}},
			want:      map[string]string{"KUBERNETES_SERVICE_HOST": "api.example", "KUBERNETES_SERVICE_PORT": "6443", "U": "https://api.example:6443"},
		},
		"IPv6": {
			apiServer: "[::1]:6443",
			want:      map[string]string{"KUBERNETES_SERVICE_HOST": "::1", "KUBERNETES_PORT": "tcp://[::1]:6443"},
		},
		"none": {
			want: map[string]string{"KUBERNETES_SERVICE_HOST": "", "KUBERNETES_SERVICE_PORT": ""},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := &corev1.Container{Name: "c", Env: tc.env}
			env, err := Build(t.Context(), nil, pod, c, "10.244.1.2", "10.244.1.1", tc.apiServer)
			if err != nil {
				t.Fatal(err)
			}
			lookup := Lookup(env)
			got := map[string]string{}
			for k := range tc.want {
				got[k], _ = lookup(k)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("environment (-want +got):\n%s", diff)
			}
		})
	}
}
