package render

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/spec"
	"github.com/redis/go-redis/v9"
)

// renderedManaged are the directives RedisConf writes itself.
var renderedManaged = []string{"port", "protected-mode", "cluster-enabled", "cluster-config-file",
	"cluster-allow-replica-migration", "dir", "appendonly", "save", "maxmemory", "cluster-node-timeout", "appendfsync", "aof-use-rdb-preamble"}

// checkRendered fails unless every line of conf is a comment, a managed
// directive, or an allowlisted one written as exactly "<name> <value>" with
// nothing Redis' line parser would read differently (quotes, escapes).
func checkRendered(t *testing.T, c spec.Cluster, conf string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(conf, "\n"), "\n")
	seen := map[string]int{}
	users := 0
	for _, l := range lines {
		if strings.HasPrefix(l, "#") {
			continue
		}
		name, value, _ := strings.Cut(l, " ")
		seen[name]++
		if slices.Contains(renderedManaged, name) {
			if _, ok := c.Config[name]; !ok {
				continue
			}
		}
		if !spec.ConfigDirectiveAllowed(name) {
			t.Fatalf("rendered directive %q is neither managed nor allowlisted:\n%s", name, conf)
		}
		if c.Config[name] != value || strings.ContainsAny(l, "\"'\\\r\x00") {
			t.Fatalf("line %q is not the spec's %q=%q verbatim", l, name, c.Config[name])
		}
		users++
	}
	if users != len(c.Config) {
		t.Fatalf("%d user directives rendered, the spec has %d:\n%s", users, len(c.Config), conf)
	}
	for name, n := range seen {
		if n > 1 {
			t.Fatalf("directive %s rendered %d times:\n%s", name, n, conf)
		}
	}
}

// FuzzConfig: whatever config a spec carries, if validation accepts it the
// rendered redis.conf holds only managed and allowlisted directives, each
// user directive on its own line exactly as given.
func FuzzConfig(f *testing.F) {
	for _, s := range [][4]string{
		{"maxmemory-policy", "allkeys-lru", "hz", "10"},
		{"dir", "/tmp", "dbfilename", "x"},
		{`"dir"`, "/tmp", "DIR", "/tmp"},
		{"dir\r", "/tmp", "dbfilename\x00", "x"},
		{"hz", "10\ndir /tmp", "user", "default on nopass ~* +@all"},
		{"client-output-buffer-limit", "pubsub 1mb 1mb 60", "notify-keyspace-events", "KEA"},
		{"latency-tracking-info-percentiles", "50 99", "maxmemory-policy", "noeviction\" dir \"/tmp"},
		{"cluster-node-timeout", "15000", "rename-command", "CONFIG x"},
		{"include", "/etc/passwd", "loadmodule", "/x.so"},
		{"save", "", "appendonly", "yes"},
	} {
		f.Add(s[0], s[1], s[2], s[3], uint8(0))
	}
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string, mode uint8) {
		c := spec.Cluster{Name: "fuzz", Shards: 3, ReplicasPerShard: 1, Resources: spec.Resources{Memory: "1Gi"},
			Config: map[string]string{k1: v1, k2: v2}}
		c.Persistence.Mode = []spec.PersistenceMode{spec.PersistenceRDB, spec.PersistenceAOF, spec.PersistenceNone}[mode%3]
		c.Default()
		if errs := c.Validate(spec.DefaultLimits); len(errs) > 0 {
			for _, e := range errs {
				if !strings.HasPrefix(e.Field, "config[") {
					t.Fatalf("a config problem reported under %s: %v", e.Field, e)
				}
			}
			return
		}
		checkRendered(t, c, RedisConf(c))
	})
}

// TestAllowlistBootsRealRedis renders redis.conf with every allowlisted
// directive at its sample value, then at its lowest and its highest
// accepted value, and boots redis-server with each: a value admission
// accepts must never make an instance crash-loop.
func TestAllowlistBootsRealRedis(t *testing.T) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed")
	}
	low, high := spec.BoundaryConfigs()
	for name, cfg := range map[string]map[string]string{"sample": spec.SampleConfig(), "low": low, "high": high} {
		t.Run(name, func(t *testing.T) {
			c := spec.Cluster{Name: "allow", Shards: 3, ReplicasPerShard: 1, Resources: spec.Resources{Memory: "1Gi"}, Config: cfg}
			c.Persistence.Mode = spec.PersistenceAOF
			c.Default()
			if errs := c.Validate(spec.DefaultLimits); len(errs) > 0 {
				t.Fatalf("admission refuses the %s config: %v", name, errs)
			}
			conf := RedisConf(c)
			checkRendered(t, c, conf)
			bootRedis(t, bin, conf, cfg)
		})
	}
}

func bootRedis(t *testing.T, bin, conf string, cfg map[string]string) {
	dir := t.TempDir()
	file := filepath.Join(dir, "redis.conf")
	// The Pod mounts a volume at DataDir; here the test's directory stands in.
	local := strings.ReplaceAll(conf, DataDir+"/", dir+"/")
	local = strings.Replace(local, "\ndir "+DataDir+"\n", "\ndir "+dir+"\n", 1)
	if err := os.WriteFile(file, []byte(local), 0o600); err != nil {
		t.Fatal(err)
	}
	port, bus := freeTCPPort(t), freeTCPPort(t)
	// Command-line options come after the file's, as the Pod's do: only what
	// the Pod itself overrides (address, paths, ports) differs here.
	cmd := exec.Command(bin, file, "--port", strconv.Itoa(port), "--cluster-port", strconv.Itoa(bus), "--bind", "127.0.0.1",
		"--dir", dir, "--cluster-config-file", filepath.Join(dir, "nodes.conf"), "--logfile", filepath.Join(dir, "redis.log"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cl := redis.NewClient(&redis.Options{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), MaxRetries: -1, Protocol: 2, DisableIdentity: true})
	defer cl.Close()
	for cl.Ping(ctx).Err() != nil {
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
			t.Fatalf("redis-server refused the rendered redis.conf (%v):\n%s%s\n--- redis.conf:\n%s", waitErr, out.String(), log, conf)
		case <-ctx.Done():
			t.Fatal("redis-server did not answer PING")
		case <-time.After(20 * time.Millisecond):
		}
	}
	// Every simple value took effect as written (sizes in bytes).
	custom := []string{"notify-keyspace-events", "client-output-buffer-limit", "latency-tracking-info-percentiles", "maxclients"}
	for k, v := range cfg {
		if slices.Contains(custom, k) {
			continue
		}
		got, err := cl.ConfigGet(ctx, k).Result()
		if err != nil {
			t.Fatalf("CONFIG GET %s: %v", k, err)
		}
		want := v
		if n, ok := spec.ParseRedisMemory(v); ok {
			want = strconv.FormatInt(n, 10)
		}
		if got[k] != want {
			t.Errorf("CONFIG GET %s = %q, want %q", k, got[k], want)
		}
	}
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
