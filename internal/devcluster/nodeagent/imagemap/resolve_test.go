package imagemap

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dayops/dayops/internal/devcluster/nodeagent/podenv"
	"github.com/google/go-cmp/cmp"
)

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
			if diff := cmp.Diff(want, Normalize(in)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	m := Default().WithDayops("/opt/bin/dayops")
	env := podenv.Lookup([]podenv.Var{{Name: "POD_IP", Value: "10.244.1.7"}})
	bind := []string{"--bind", "10.244.1.7", "--protected-mode", "no"}
	tests := map[string]struct {
		image         string
		command, args []string
		want          Process
		wantErr       bool
	}{
		"redis default": {
			image: "redis:7.0",
			want:  Process{Path: "/usr/bin/redis-server", Args: append([]string{"redis-server"}, bind...)},
		},
		"redis args": {
			image: "docker.io/library/redis:7.0-next", args: []string{"--appendonly", "yes"},
			want: Process{Path: "/usr/bin/redis-server", Args: append([]string{"redis-server", "--appendonly", "yes"}, bind...)},
		},
		"redis own bind": {
			image: "redis", args: []string{"--bind", "0.0.0.0"},
			want: Process{Path: "/usr/bin/redis-server", Args: []string{"redis-server", "--bind", "0.0.0.0"}},
		},
		"redis command": {
			image: "redis:7.0", command: []string{"redis-server", "/etc/redis.conf"},
			want: Process{Path: "/usr/bin/redis-server", Args: append([]string{"redis-server", "/etc/redis.conf"}, bind...)},
		},
		"bad image cripples writes": {
			image: "redis:7.0-bad",
			want: Process{Path: "/usr/bin/redis-server", Args: append([]string{"redis-server",
				"--maxmemory", "1", "--maxmemory-policy", "noeviction"}, bind...)},
		},
		"shell in redis image gets no bind": {
			image: "redis:7.0", command: []string{"sh", "-c", "true"},
			want: Process{Path: mustLookPath(t, "sh"), Args: []string{"sh", "-c", "true"}},
		},
		"busybox default cmd": {
			image: "busybox:1.36",
			want:  Process{Path: mustLookPath(t, "sh"), Args: []string{"sh"}},
		},
		"instance manager init container": {
			image: "dayops:dev", command: []string{"dayops", "instance", "install", "--to", "/dayops"},
			want: Process{Path: "/opt/bin/dayops", Args: []string{"dayops", "instance", "install", "--to", "/dayops"}},
		},
		"redis under the instance manager keeps the rule's arguments": {
			image: "redis:7.0-bad", command: []string{"/dayops/dayops", "instance", "run", "--", "redis-server"}, args: []string{"/etc/redis.conf"},
			want: Process{Path: "/opt/bin/dayops", Args: append([]string{"/dayops/dayops", "instance", "run", "--", "redis-server", "/etc/redis.conf",
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
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(Process{})); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func mustLookPath(t *testing.T, name string) string {
	t.Helper()
	p, err := Default().LookPath(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRewriteExec(t *testing.T) {
	m := Default()
	env := podenv.Lookup([]podenv.Var{{Name: "POD_IP", Value: "10.244.2.9"}})
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
	m, err := Load(file)
	if err != nil {
		t.Fatal(err)
	}
	env := podenv.Lookup([]podenv.Var{{Name: "POD_IP", Value: "10.244.3.3"}})
	got, err := m.Resolve("valkey:8", nil, nil, env)
	if err != nil {
		t.Fatal(err)
	}
	want := Process{Path: "/opt/valkey/bin/valkey-server", Args: []string{"valkey-server", "--bind", "10.244.3.3"}}
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
	if _, err := Load(bad); err == nil {
		t.Error("Load accepted an unknown field")
	}
	bad2 := filepath.Join(dir, "bad2.yaml")
	if err := os.WriteFile(bad2, []byte("images:\n- images: [\"[\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(bad2); err == nil || !strings.Contains(err.Error(), "pattern") {
		t.Errorf("Load of a malformed pattern: %v", err)
	}
}
