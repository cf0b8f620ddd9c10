package backup

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/dayops/dayops/internal/kube/render"
	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/testutil/redistest"
	"github.com/redis/go-redis/v9"
)

// TestRestoreInitLoadsAtStart runs the restore init container's script
// against a real redis-server (the temporary instance) and starts a
// redis-server with each persistence mode's directives on the result: the
// new primary must load every key, also with AOF (where Redis ignores
// dump.rdb).
func TestRestoreInitLoadsAtStart(t *testing.T) {
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Skip("redis-cli not installed")
	}
	ctx := t.Context()
	src := redistest.Standalone(t)
	const keys = 500
	for i := range keys {
		if err := src.Set(ctx, fmt.Sprintf("k%d", i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	host, port, _ := strings.Cut(src.Options().Addr, ":")
	for _, mode := range []spec.PersistenceMode{spec.PersistenceRDB, spec.PersistenceAOF} {
		t.Run(string(mode), func(t *testing.T) {
			c := spec.Cluster{Name: "r", Shards: 1, Persistence: spec.Persistence{Mode: mode}}
			c.Default()
			dir := t.TempDir()
			init := restoreInit(c, src.Options().Addr)
			script := strings.ReplaceAll(init.Command[2], render.DataDir, dir)
			sh := exec.Command("sh", "-c", script)
			sh.Env = append(os.Environ(), "RESTORE_HOST="+host, "RESTORE_PORT="+port)
			if out, err := sh.CombinedOutput(); err != nil {
				t.Fatalf("init script: %v\n%s", err, out)
			}
			got := startWithConf(t, dir, render.RedisConf(c))
			if n, err := got.DBSize(ctx).Result(); err != nil || n != keys {
				t.Fatalf("restored primary has %d keys (err %v), want %d", n, err, keys)
			}
		})
	}
}

// startWithConf starts a standalone redis-server in dir with the
// persistence directives of conf (cluster mode and the port left out).
func startWithConf(t *testing.T, dir, conf string) *redis.Client {
	t.Helper()
	var args []string
	for _, line := range strings.Split(conf, "\n") {
		k, v, _ := strings.Cut(line, " ")
		switch k {
		case "appendonly", "appendfsync", "aof-use-rdb-preamble":
			args = append(args, "--"+k, v)
		case "save":
			args = append(args, "--save", strings.Trim(v, `"`))
		}
	}
	return redistest.StandaloneWith(t, dir, args...)
}
