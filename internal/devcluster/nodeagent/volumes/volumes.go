// Package volumes sets up the volumes of the node agent's pods (emptyDir,
// hostPath, claims, projected ConfigMaps, Secrets, downward API and
// service account tokens) and provisions hostPath PersistentVolumes for the
// agent's StorageClass.
package volumes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dayops/dayops/internal/atomicfile"
	"github.com/dayops/dayops/internal/devcluster/nodeagent/podenv"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Volumes sets up the volumes of the pods of one agent.
type Volumes struct {
	CS     kubernetes.Interface
	Getter podenv.Getter
	Log    *slog.Logger
}

// setup is one call of Setup: a pod's directory and addresses.
type setup struct {
	v                  *Volumes
	dir, podIP, hostIP string
}

// ErrNotReady says a volume cannot be set up yet (an unbound claim):
// the pod waits in ContainerCreating and the agent retries.
var ErrNotReady = errors.New("volume not ready")

// Setup prepares every volume of the pod and returns the host path
// of each by volume name. Directories live under the pod directory, except
// persistent volumes (their own host path) and hostPath volumes. ConfigMap,
// Secret, downward API and projected volumes are (re)written each call, so
// calling it again refreshes them.
func (v *Volumes) Setup(ctx context.Context, pod *corev1.Pod, podDir, podIP, hostIP string) (map[string]string, error) {
	st := setup{v: v, dir: podDir, podIP: podIP, hostIP: hostIP}
	out := map[string]string{}
	for _, v := range pod.Spec.Volumes {
		dir := filepath.Join(st.dir, "volumes", v.Name)
		var err error
		switch {
		case v.EmptyDir != nil:
			err = os.MkdirAll(dir, 0o777)
		case v.HostPath != nil:
			dir = v.HostPath.Path
			if v.HostPath.Type != nil && (*v.HostPath.Type == corev1.HostPathDirectoryOrCreate) {
				err = os.MkdirAll(dir, 0o755)
			}
		case v.PersistentVolumeClaim != nil:
			dir, err = st.claimPath(ctx, pod.Namespace, v.PersistentVolumeClaim.ClaimName)
		case v.ConfigMap != nil:
			err = st.projectConfigMap(ctx, pod.Namespace, dir, v.ConfigMap.Name, v.ConfigMap.Items, v.ConfigMap.Optional, true)
		case v.Secret != nil:
			err = st.projectSecret(ctx, pod.Namespace, dir, v.Secret.SecretName, v.Secret.Items, v.Secret.Optional, true)
		case v.DownwardAPI != nil:
			err = st.projectDownward(pod, dir, v.DownwardAPI.Items, true)
		case v.Projected != nil:
			err = os.MkdirAll(dir, 0o755)
			for _, s := range v.Projected.Sources {
				if err != nil {
					break
				}
				switch {
				case s.ConfigMap != nil:
					err = st.projectConfigMap(ctx, pod.Namespace, dir, s.ConfigMap.Name, s.ConfigMap.Items, s.ConfigMap.Optional, false)
				case s.Secret != nil:
					err = st.projectSecret(ctx, pod.Namespace, dir, s.Secret.Name, s.Secret.Items, s.Secret.Optional, false)
				case s.DownwardAPI != nil:
					err = st.projectDownward(pod, dir, s.DownwardAPI.Items, false)
				case s.ServiceAccountToken != nil:
					err = st.projectToken(ctx, pod, dir, s.ServiceAccountToken)
				}
			}
		default:
			err = fmt.Errorf("volume type not supported by the dayops node agent")
		}
		if err != nil {
			return nil, fmt.Errorf("volume %q: %w", v.Name, err)
		}
		out[v.Name] = dir
	}
	return out, nil
}

// claimPath returns the host directory of a bound claim's volume.
func (st setup) claimPath(ctx context.Context, ns, name string) (string, error) {
	pvc, err := st.v.CS.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", fmt.Errorf("claim %s: not found: %w", name, ErrNotReady)
	}
	if err != nil {
		return "", fmt.Errorf("get claim %s: %w", name, err)
	}
	if pvc.Spec.VolumeName == "" || pvc.Status.Phase != corev1.ClaimBound {
		return "", fmt.Errorf("claim %s is not bound: %w", name, ErrNotReady)
	}
	pv, err := st.v.CS.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("get volume %s of claim %s: %w", pvc.Spec.VolumeName, name, err)
	}
	var p string
	switch {
	case pv.Spec.HostPath != nil:
		p = pv.Spec.HostPath.Path
	case pv.Spec.Local != nil:
		p = pv.Spec.Local.Path
	default:
		return "", fmt.Errorf("volume %s is neither hostPath nor local", pv.Name)
	}
	if err := os.MkdirAll(p, 0o777); err != nil {
		return "", fmt.Errorf("volume %s: %w", pv.Name, err)
	}
	return p, nil
}

func (st setup) projectConfigMap(ctx context.Context, ns, dir, name string, items []corev1.KeyToPath, opt *bool, clean bool) error {
	data, err := st.v.Getter.ConfigMap(ctx, ns, name)
	if err != nil {
		if podenv.IsNotFound(err) && podenv.Optional(opt) {
			return os.MkdirAll(dir, 0o755)
		}
		return fmt.Errorf("configMap %s: %w", name, err)
	}
	files := map[string][]byte{}
	for k, v := range data {
		files[k] = []byte(v)
	}
	return writeProjection(dir, files, items, clean)
}

func (st setup) projectSecret(ctx context.Context, ns, dir, name string, items []corev1.KeyToPath, opt *bool, clean bool) error {
	data, err := st.v.Getter.Secret(ctx, ns, name)
	if err != nil {
		if podenv.IsNotFound(err) && podenv.Optional(opt) {
			return os.MkdirAll(dir, 0o755)
		}
		return fmt.Errorf("secret %s: %w", name, err)
	}
	return writeProjection(dir, data, items, clean)
}

func (st setup) projectDownward(pod *corev1.Pod, dir string, items []corev1.DownwardAPIVolumeFile, clean bool) error {
	files := map[string][]byte{}
	var keys []corev1.KeyToPath
	for _, it := range items {
		var v string
		var err error
		switch {
		case it.FieldRef != nil:
			v, err = podenv.PodField(pod, it.FieldRef.FieldPath, st.podIP, st.hostIP)
		case it.ResourceFieldRef != nil:
			c := containerByName(pod, it.ResourceFieldRef.ContainerName)
			if c == nil {
				err = fmt.Errorf("no container %q", it.ResourceFieldRef.ContainerName)
			} else {
				v, err = podenv.ResourceField(c, it.ResourceFieldRef)
			}
		}
		if err != nil {
			return fmt.Errorf("downward API %s: %w", it.Path, err)
		}
		files[it.Path] = []byte(v)
		keys = append(keys, corev1.KeyToPath{Key: it.Path, Path: it.Path, Mode: it.Mode})
	}
	return writeProjection(dir, files, keys, clean)
}

func (st setup) projectToken(ctx context.Context, pod *corev1.Pod, dir string, s *corev1.ServiceAccountTokenProjection) error {
	// Tokens live an hour: renew after ten minutes, not on every refresh.
	if fi, err := os.Stat(filepath.Join(dir, s.Path)); err == nil && fi.Size() > 0 && time.Since(fi.ModTime()) < 10*time.Minute {
		return nil
	}
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	exp := int64(3600)
	if s.ExpirationSeconds != nil {
		exp = *s.ExpirationSeconds
	}
	tr := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: &exp,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}}
	if s.Audience != "" {
		tr.Spec.Audiences = []string{s.Audience}
	}
	res, err := st.v.CS.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, tr, metav1.CreateOptions{})
	if err != nil {
		// A token is a convenience here (no pod talks to the apiserver in
		// the local stack); do not hold the pod for it.
		st.v.Log.Debug("service account token request failed", "pod", pod.Namespace+"/"+pod.Name, "err", err)
		return writeProjection(dir, map[string][]byte{s.Path: nil}, nil, false)
	}
	return writeProjection(dir, map[string][]byte{s.Path: []byte(res.Status.Token)}, nil, false)
}

// writeProjection writes files (all keys, or only items with their paths)
// into dir. With clean, files no longer projected are removed.
func writeProjection(dir string, data map[string][]byte, items []corev1.KeyToPath, clean bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	want := map[string][]byte{}
	modes := map[string]os.FileMode{}
	if len(items) == 0 {
		for k, v := range data {
			want[k] = v
		}
	} else {
		for _, it := range items {
			v, ok := data[it.Key]
			if !ok {
				return fmt.Errorf("key %q not found", it.Key)
			}
			want[it.Path] = v
			if it.Mode != nil {
				modes[it.Path] = os.FileMode(*it.Mode)
			}
		}
	}
	for rel, v := range want {
		if strings.Contains(rel, "..") || filepath.IsAbs(rel) {
			return fmt.Errorf("invalid path %q", rel)
		}
		p := filepath.Join(dir, rel)
		if old, err := os.ReadFile(p); err == nil && string(old) == string(v) {
			continue
		}
		mode := modes[rel]
		if mode == 0 {
			mode = 0o644
		}
		if err := atomicfile.Write(p, v, mode); err != nil {
			return err
		}
	}
	if clean {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if _, ok := want[e.Name()]; !ok && !e.IsDir() {
				_ = os.Remove(filepath.Join(dir, e.Name()))
			}
		}
	}
	return nil
}

func containerByName(pod *corev1.Pod, name string) *corev1.Container {
	for i := range pod.Spec.Containers {
		if name == "" || pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i]
		}
	}
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			return &pod.Spec.InitContainers[i]
		}
	}
	return nil
}
