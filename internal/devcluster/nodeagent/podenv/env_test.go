package podenv

import (
	"context"
	"errors"
	"strings"
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
			checkEnv(t, env, tc.want)
		})
	}
}

// checkEnv compares the variables named in want with env ("" for unset).
func checkEnv(t *testing.T, env []Var, want map[string]string) {
	t.Helper()
	lookup := Lookup(env)
	got := map[string]string{}
	for k := range want {
		got[k], _ = lookup(k)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("environment (-want +got):\n%s", diff)
	}
}

// objects is a Getter over fixed ConfigMaps and Secrets; "broken" fails to
// read.
type objects struct {
	configMaps map[string]map[string]string
	secrets    map[string]map[string][]byte
}

func (o objects) ConfigMap(_ context.Context, ns, name string) (map[string]string, error) {
	return lookupObject(o.configMaps, "ConfigMap", ns, name)
}

func (o objects) Secret(_ context.Context, ns, name string) (map[string][]byte, error) {
	return lookupObject(o.secrets, "Secret", ns, name)
}

func lookupObject[V any](m map[string]V, kind, ns, name string) (V, error) {
	v, ok := m[name]
	switch {
	case name == "broken":
		return v, errors.New("apiserver down")
	case !ok:
		return v, NotFoundError{Kind: kind, Namespace: ns, Name: name}
	}
	return v, nil
}

// TestBuildEnvFromObjects: envFrom and valueFrom read ConfigMaps and Secrets
// alike. An optional reference to a missing object (or key) leaves the
// variables unset; a required one, or a failed read, is an error that names
// the object.
func TestBuildEnvFromObjects(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns"}}
	get := objects{
		configMaps: map[string]map[string]string{"cm": {"A": "1", "B": "2"}},
		secrets:    map[string]map[string][]byte{"sec": {"PASS": []byte("s3cret")}},
	}
	yes := true
	cmRef := func(name string, optional bool) corev1.EnvFromSource {
		return corev1.EnvFromSource{Prefix: "CM_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: name}, Optional: &optional}}
	}
	secRef := func(name string, optional bool) corev1.EnvFromSource {
		return corev1.EnvFromSource{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: name}, Optional: &optional}}
	}
	cmKey := func(name, key string) corev1.EnvVar {
		return corev1.EnvVar{Name: "V", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key, Optional: &yes}}}
	}
	secKey := func(name, key string, optional bool) corev1.EnvVar {
		return corev1.EnvVar{Name: "V", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key, Optional: &optional}}}
	}
	tests := map[string]struct {
		from    []corev1.EnvFromSource
		env     []corev1.EnvVar
		want    map[string]string // "" for unset
		wantErr string
	}{
		"every key":                  {from: []corev1.EnvFromSource{cmRef("cm", false), secRef("sec", false)}, want: map[string]string{"CM_A": "1", "CM_B": "2", "PASS": "s3cret"}},
		"optional missing objects":   {from: []corev1.EnvFromSource{cmRef("nope", true), secRef("nope", true)}, want: map[string]string{"CM_A": "", "PASS": ""}},
		"required missing configMap": {from: []corev1.EnvFromSource{cmRef("nope", false)}, wantErr: "envFrom configMap nope: "},
		"required missing secret":    {from: []corev1.EnvFromSource{secRef("nope", false)}, wantErr: "envFrom secret nope: "},
		"failed read, optional":      {from: []corev1.EnvFromSource{secRef("broken", true)}, wantErr: "envFrom secret broken: apiserver down"},
		"one key":                    {env: []corev1.EnvVar{cmKey("cm", "B")}, want: map[string]string{"V": "2"}},
		"one secret key":             {env: []corev1.EnvVar{secKey("sec", "PASS", false)}, want: map[string]string{"V": "s3cret"}},
		"optional missing key":       {env: []corev1.EnvVar{cmKey("cm", "Z")}, want: map[string]string{"V": ""}},
		"optional missing object":    {env: []corev1.EnvVar{secKey("nope", "PASS", true)}, want: map[string]string{"V": ""}},
		"required missing key":       {env: []corev1.EnvVar{secKey("sec", "Z", false)}, wantErr: `env V: secret sec has no key "Z"`},
		"required missing object":    {env: []corev1.EnvVar{secKey("nope", "PASS", false)}, wantErr: "env V: secret nope: "},
		"failed key read":            {env: []corev1.EnvVar{cmKey("broken", "A")}, wantErr: "env V: configMap broken: apiserver down"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := &corev1.Container{Name: "c", EnvFrom: tc.from, Env: tc.env}
			env, err := Build(t.Context(), get, pod, c, "10.244.1.2", "10.244.1.1", "")
			switch {
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			case tc.wantErr == "" && err != nil:
				t.Fatal(err)
			case tc.wantErr == "":
				checkEnv(t, env, tc.want)
			}
		})
	}
}
