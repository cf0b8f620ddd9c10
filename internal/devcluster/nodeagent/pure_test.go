package nodeagent

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
)

func TestExpand(t *testing.T) {
	env := []envVar{{Name: "POD_IP", Value: "10.244.1.2"}, {Name: "EMPTY", Value: ""}, {Name: "A", Value: "x"}}
	tests := map[string]struct{ in, want string }{
		"plain":             {"redis-server", "redis-server"},
		"defined":           {"--bind $(POD_IP)", "--bind 10.244.1.2"},
		"undefined kept":    {"$(NOPE)-$(A)", "$(NOPE)-x"},
		"escaped reference": {"$$(POD_IP)", "$(POD_IP)"},
		"escaped dollar":    {"a$$b", "a$b"},
		"lone dollar":       {"cost $5", "cost $5"},
		"trailing dollar":   {"x$", "x$"},
		"unterminated":      {"$(POD_IP", "$(POD_IP"},
		"empty value":       {"[$(EMPTY)]", "[]"},
		"adjacent":          {"$(A)$(A)", "xx"},
		"shell var kept":    {"${A} $A", "${A} $A"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, expand(tc.in, envLookup(env))); diff != "" {
				t.Errorf("expand(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestNormalizeImage(t *testing.T) {
	tests := map[string]string{
		"redis":                             "redis:latest",
		"redis:7.0":                         "redis:7.0",
		"docker.io/library/redis:7.0-next":  "redis:7.0-next",
		"library/redis:7.0-bad":             "redis:7.0-bad",
		"docker.io/bitnami/redis:7.2":       "bitnami/redis:7.2",
		"registry.local:5000/redis":         "registry.local:5000/redis:latest",
		"redis@sha256:0123":                 "redis:latest",
		"redis:7.0@sha256:0123":             "redis:7.0",
		"index.docker.io/library/busybox:1": "busybox:1",
	}
	for in, want := range tests {
		t.Run(in, func(t *testing.T) {
			if diff := cmp.Diff(want, NormalizeImage(in)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	m := DefaultImageMap().WithDayops("/opt/bin/dayops")
	env := envLookup([]envVar{{Name: "POD_IP", Value: "10.244.1.7"}})
	bind := []string{"--bind", "10.244.1.7", "--protected-mode", "no"}
	tests := map[string]struct {
		image         string
		command, args []string
		want          processSpec
		wantErr       bool
	}{
		"redis default": {
			image: "redis:7.0",
			want:  processSpec{Path: "/usr/bin/redis-server", Args: append([]string{"redis-server"}, bind...)},
		},
		"redis args": {
			image: "docker.io/library/redis:7.0-next", args: []string{"--appendonly", "yes"},
			want: processSpec{Path: "/usr/bin/redis-server", Args: append([]string{"redis-server", "--appendonly", "yes"}, bind...)},
		},
		"redis own bind": {
			image: "redis", args: []string{"--bind", "0.0.0.0"},
			want: processSpec{Path: "/usr/bin/redis-server", Args: []string{"redis-server", "--bind", "0.0.0.0"}},
		},
		"redis command": {
			image: "redis:7.0", command: []string{"redis-server", "/etc/redis.conf"},
			want: processSpec{Path: "/usr/bin/redis-server", Args: append([]string{"redis-server", "/etc/redis.conf"}, bind...)},
		},
		"bad image cripples writes": {
			image: "redis:7.0-bad",
			want: processSpec{Path: "/usr/bin/redis-server", Args: append([]string{"redis-server",
				"--maxmemory", "1", "--maxmemory-policy", "noeviction"}, bind...)},
		},
		"shell in redis image gets no bind": {
			image: "redis:7.0", command: []string{"sh", "-c", "true"},
			want: processSpec{Path: mustLookPath(t, "sh"), Args: []string{"sh", "-c", "true"}},
		},
		"busybox default cmd": {
			image: "busybox:1.36",
			want:  processSpec{Path: mustLookPath(t, "sh"), Args: []string{"sh"}},
		},
		"instance manager init container": {
			image: "dayops:dev", command: []string{"dayops", "instance", "install", "--to", "/dayops"},
			want: processSpec{Path: "/opt/bin/dayops", Args: []string{"dayops", "instance", "install", "--to", "/dayops"}},
		},
		"redis under the instance manager keeps the rule's arguments": {
			image: "redis:7.0-bad", command: []string{"/dayops/dayops", "instance", "run", "--", "redis-server"}, args: []string{"/etc/redis.conf"},
			want: processSpec{Path: "/opt/bin/dayops", Args: append([]string{"/dayops/dayops", "instance", "run", "--", "redis-server", "/etc/redis.conf",
				"--maxmemory", "1", "--maxmemory-policy", "noeviction"}, bind...)},
		},
		"unknown image": {image: "nginx:1.27", wantErr: true},
		"missing binary": {
			image: "busybox", command: []string{"no-such-binary-dayops"}, wantErr: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := m.Resolve(tc.image, tc.command, tc.args, env)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(processSpec{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func mustLookPath(t *testing.T, name string) string {
	t.Helper()
	p, err := DefaultImageMap().LookPath(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRewriteExec(t *testing.T) {
	m := DefaultImageMap()
	env := envLookup([]envVar{{Name: "POD_IP", Value: "10.244.2.9"}})
	tests := map[string]struct{ in, want []string }{
		"adds host":     {[]string{"redis-cli", "ping"}, []string{"redis-cli", "-h", "10.244.2.9", "ping"}},
		"full path":     {[]string{"/usr/bin/redis-cli", "info"}, []string{"/usr/bin/redis-cli", "-h", "10.244.2.9", "info"}},
		"explicit host": {[]string{"redis-cli", "-h", "10.0.0.1", "ping"}, []string{"redis-cli", "-h", "10.0.0.1", "ping"}},
		"glued host":    {[]string{"redis-cli", "-h10.0.0.1", "ping"}, []string{"redis-cli", "-h10.0.0.1", "ping"}},
		"uri":           {[]string{"redis-cli", "-u", "redis://x"}, []string{"redis-cli", "-u", "redis://x"}},
		"other command": {[]string{"sh", "-c", "redis-cli ping"}, []string{"sh", "-c", "redis-cli ping"}},
		"port only":     {[]string{"redis-cli", "-p", "7000", "ping"}, []string{"redis-cli", "-h", "10.244.2.9", "-p", "7000", "ping"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, m.RewriteExec(tc.in, env)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestIPAM(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ipam.json")
	pools := map[string]netip.Prefix{
		"node-a1": netip.MustParsePrefix("10.244.1.0/24"),
		"node-a2": netip.MustParsePrefix("10.244.2.0/24"),
	}
	a, err := newIPAM(path, pools)
	if err != nil {
		t.Fatal(err)
	}
	alloc := func(a *ipam, node, uid string) string {
		t.Helper()
		ip, err := a.Allocate(node, uid)
		if err != nil {
			t.Fatalf("Allocate(%s, %s): %v", node, uid, err)
		}
		return ip.String()
	}
	got := []string{
		alloc(a, "node-a1", "u1"),
		alloc(a, "node-a1", "u2"),
		alloc(a, "node-a1", "u1"), // idempotent
		alloc(a, "node-a2", "u3"),
	}
	if diff := cmp.Diff([]string{"10.244.1.2", "10.244.1.3", "10.244.1.2", "10.244.2.2"}, got); diff != "" {
		t.Errorf("allocations (-want +got):\n%s", diff)
	}
	if err := a.Release("u1"); err != nil {
		t.Fatal(err)
	}
	// A restarted agent sees u2 and u3 still allocated, and reuses u1's IP.
	b, err := newIPAM(path, pools)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"u2", "u3"}, b.Owners()); diff != "" {
		t.Errorf("owners after reload (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff("10.244.1.2", alloc(b, "node-a1", "u4")); diff != "" {
		t.Errorf("reuse (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff("10.244.1.4", alloc(b, "node-a1", "u5")); diff != "" {
		t.Errorf("next free (-want +got):\n%s", diff)
	}
	if _, err := b.Allocate("node-zz", "u6"); err == nil {
		t.Error("Allocate on an unknown node succeeded")
	}
	// .2-.254 is 253 addresses; u3 holds one.
	n := 0
	for ; n < 300; n++ {
		if _, err := b.Allocate("node-a2", fmt.Sprintf("fill-%d", n)); err != nil {
			if !errors.Is(err, ErrPoolExhausted) {
				t.Fatalf("Allocate: %v", err)
			}
			break
		}
	}
	if n != 252 {
		t.Errorf("allocated %d addresses before exhaustion, want 252", n)
	}
}

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

func TestLoadImageMap(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "images.yaml")
	yaml := `images:
- images: ["valkey:*", "docker.io/valkey/valkey:*"]
  entrypoint: [valkey-server]
  bindFlag: --bind
  bindArgs: ["--bind", "$(POD_IP)"]
binaries:
  valkey-server: /opt/valkey/bin/valkey-server
exec:
- command: valkey-cli
  unlessArgs: ["-h"]
  insertArgs: ["-h", "$(POD_IP)"]
`
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := LoadImageMap(file)
	if err != nil {
		t.Fatal(err)
	}
	env := envLookup([]envVar{{Name: "POD_IP", Value: "10.244.3.3"}})
	got, err := m.Resolve("valkey:8", nil, nil, env)
	if err != nil {
		t.Fatal(err)
	}
	want := processSpec{Path: "/opt/valkey/bin/valkey-server", Args: []string{"valkey-server", "--bind", "10.244.3.3"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := m.Resolve("redis:7.0", nil, nil, env); err == nil {
		t.Error("a file map still maps redis: it must replace the default")
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("images:\n- images: [\"[\"]\n  unknownField: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadImageMap(bad); err == nil {
		t.Error("LoadImageMap accepted an unknown field")
	}
	bad2 := filepath.Join(dir, "bad2.yaml")
	if err := os.WriteFile(bad2, []byte("images:\n- images: [\"[\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadImageMap(bad2); err == nil || !strings.Contains(err.Error(), "pattern") {
		t.Errorf("LoadImageMap of a malformed pattern: %v", err)
	}
}
