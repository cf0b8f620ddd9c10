package podenv

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Getter reads the ConfigMaps and Secrets a container's environment
// and volumes refer to.
type Getter interface {
	ConfigMap(ctx context.Context, namespace, name string) (map[string]string, error)
	Secret(ctx context.Context, namespace, name string) (map[string][]byte, error)
}

// NotFoundError is returned by a Getter for a missing object.
type NotFoundError struct{ Kind, Namespace, Name string }

func (e NotFoundError) Error() string {
	return fmt.Sprintf("%s %s/%s not found", e.Kind, e.Namespace, e.Name)
}

// basePath is the PATH of every pod process.
const basePath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Build resolves a container's environment in the kubelet's order: the
// agent's base variables (PATH, HOSTNAME, HOME and POD_IP, which is always
// set, and the apiserver's KUBERNETES_SERVICE_* variables), then envFrom
// sources, then env entries, each value $(VAR)-expanded against what was
// defined before it.
func Build(ctx context.Context, get Getter, pod *corev1.Pod, c *corev1.Container, podIP, hostIP, apiServer string) ([]Var, error) {
	env := []Var{
		{Name: "PATH", Value: basePath},
		{Name: "HOSTNAME", Value: podHostname(pod)},
		{Name: "HOME", Value: "/root"},
		{Name: "POD_IP", Value: podIP},
	}
	env = append(env, serviceEnv(apiServer)...)
	for _, src := range c.EnvFrom {
		switch {
		case src.ConfigMapRef != nil:
			r := src.ConfigMapRef
			data, err := get.ConfigMap(ctx, pod.Namespace, r.Name)
			if env, err = setAll(env, src.Prefix, data, err, "configMap", r.Name, r.Optional); err != nil {
				return nil, err
			}
		case src.SecretRef != nil:
			r := src.SecretRef
			data, err := get.Secret(ctx, pod.Namespace, r.Name)
			if env, err = setAll(env, src.Prefix, data, err, "secret", r.Name, r.Optional); err != nil {
				return nil, err
			}
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			env = Set(env, e.Name, Expand(e.Value, Lookup(env)))
			continue
		}
		v, ok, err := valueFrom(ctx, get, pod, c, e.ValueFrom, podIP, hostIP)
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", e.Name, err)
		}
		if ok {
			env = Set(env, e.Name, v)
		}
	}
	return env, nil
}

// serviceEnv is what the kubelet derives from the `kubernetes` Service and
// client-go's rest.InClusterConfig reads: KUBERNETES_SERVICE_HOST and
// KUBERNETES_SERVICE_PORT (with the _HTTPS and docker-link variants), here
// pointing at the apiserver's own address, which a pod process reaches
// because it shares the host's network. Nothing when apiServer is empty.
func serviceEnv(apiServer string) []Var {
	host, port, err := net.SplitHostPort(apiServer)
	if err != nil || host == "" || port == "" {
		return nil
	}
	addr := "tcp://" + net.JoinHostPort(host, port)
	return []Var{
		{Name: "KUBERNETES_SERVICE_HOST", Value: host},
		{Name: "KUBERNETES_SERVICE_PORT", Value: port},
		{Name: "KUBERNETES_SERVICE_PORT_HTTPS", Value: port},
		{Name: "KUBERNETES_PORT", Value: addr},
		{Name: "KUBERNETES_PORT_" + port + "_TCP", Value: addr},
		{Name: "KUBERNETES_PORT_" + port + "_TCP_PROTO", Value: "tcp"},
		{Name: "KUBERNETES_PORT_" + port + "_TCP_PORT", Value: port},
		{Name: "KUBERNETES_PORT_" + port + "_TCP_ADDR", Value: host},
	}
}

func valueFrom(ctx context.Context, get Getter, pod *corev1.Pod, c *corev1.Container, src *corev1.EnvVarSource, podIP, hostIP string) (string, bool, error) {
	switch {
	case src.FieldRef != nil:
		v, err := PodField(pod, src.FieldRef.FieldPath, podIP, hostIP)
		return v, err == nil, err
	case src.ResourceFieldRef != nil:
		v, err := ResourceField(c, src.ResourceFieldRef)
		return v, err == nil, err
	case src.ConfigMapKeyRef != nil:
		r := src.ConfigMapKeyRef
		data, err := get.ConfigMap(ctx, pod.Namespace, r.Name)
		return keyRef(data, err, "configMap", r.Name, r.Key, r.Optional)
	case src.SecretKeyRef != nil:
		r := src.SecretKeyRef
		data, err := get.Secret(ctx, pod.Namespace, r.Name)
		return keyRef(data, err, "secret", r.Name, r.Key, r.Optional)
	}
	return "", false, fmt.Errorf("unsupported valueFrom source")
}

// setAll sets a variable prefix+key for every key of a ConfigMap or Secret
// (kind, name), read with error err, in key order. An optional reference to
// a missing object sets none; a required one is an error.
func setAll[V ~string | ~[]byte](env []Var, prefix string, data map[string]V, err error, kind, name string, optional *bool) ([]Var, error) {
	if err != nil {
		if IsNotFound(err) && Optional(optional) {
			return env, nil
		}
		return nil, fmt.Errorf("envFrom %s %s: %w", kind, name, err)
	}
	for _, k := range slices.Sorted(maps.Keys(data)) {
		env = Set(env, prefix+k, string(data[k]))
	}
	return env, nil
}

// keyRef picks key out of the data of a ConfigMap or Secret (kind, name),
// read with error err. An optional reference to a missing object or key
// leaves the variable unset; a required one is an error.
func keyRef[V ~string | ~[]byte](data map[string]V, err error, kind, name, key string, optional *bool) (string, bool, error) {
	if err != nil {
		if IsNotFound(err) && Optional(optional) {
			return "", false, nil
		}
		return "", false, fmt.Errorf("%s %s: %w", kind, name, err)
	}
	v, ok := data[key]
	if !ok && !Optional(optional) {
		return "", false, fmt.Errorf("%s %s has no key %q", kind, name, key)
	}
	return string(v), ok, nil
}

// PodField resolves a downward API field path.
func PodField(pod *corev1.Pod, fieldPath, podIP, hostIP string) (string, error) {
	switch fieldPath {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.podIP", "status.podIPs":
		return podIP, nil
	case "status.hostIP", "status.hostIPs":
		return hostIP, nil
	}
	for prefix, m := range map[string]map[string]string{
		"metadata.labels":      pod.Labels,
		"metadata.annotations": pod.Annotations,
	} {
		if fieldPath == prefix {
			var lines []string
			for _, k := range slices.Sorted(maps.Keys(m)) {
				lines = append(lines, fmt.Sprintf("%s=%q", k, m[k]))
			}
			return strings.Join(lines, "\n"), nil
		}
		if rest, ok := strings.CutPrefix(fieldPath, prefix+"['"); ok {
			key, ok := strings.CutSuffix(rest, "']")
			if ok {
				return m[key], nil
			}
		}
	}
	return "", fmt.Errorf("unsupported fieldRef %q", fieldPath)
}

// ResourceField resolves a resourceFieldRef from the container's own
// requests and limits (an unset limit reads as 0, which the agent does not
// enforce anyway).
func ResourceField(c *corev1.Container, r *corev1.ResourceFieldSelector) (string, error) {
	var q resource.Quantity
	kind, name, ok := strings.Cut(r.Resource, ".")
	if !ok {
		return "", fmt.Errorf("unsupported resourceFieldRef %q", r.Resource)
	}
	switch kind {
	case "limits":
		q = c.Resources.Limits[corev1.ResourceName(name)]
	case "requests":
		q = c.Resources.Requests[corev1.ResourceName(name)]
	default:
		return "", fmt.Errorf("unsupported resourceFieldRef %q", r.Resource)
	}
	div := r.Divisor
	if div.IsZero() {
		return q.String(), nil
	}
	// Round up, as the kubelet does.
	v := (q.MilliValue() + div.MilliValue() - 1) / div.MilliValue()
	return fmt.Sprint(v), nil
}

func podHostname(pod *corev1.Pod) string {
	if pod.Spec.Hostname != "" {
		return pod.Spec.Hostname
	}
	return pod.Name
}

func Optional(b *bool) bool { return b != nil && *b }

func IsNotFound(err error) bool {
	var nf NotFoundError
	return errors.As(err, &nf)
}
