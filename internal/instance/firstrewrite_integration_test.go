package instance_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dayops/dayops/internal/instance"
	"github.com/dayops/dayops/internal/testutil/redistest"
	"github.com/dayops/dayops/internal/testutil/syncbuf"
)

// A replica run by the manager full-syncs a primary with 20,000 keys and
// rewrites its AOF from the snapshot slowly (rdb-key-save-delay), with a
// client writing to the primary and counting a write once WAIT saw it on the
// replica. Two faults in the rewrite: a SIGTERM, which Redis ignores while
// it writes its first AOF (the manager sends it again until Redis exits,
// its AOF whole); and, on a second sync, a SIGKILL, after which the
// manager's start repairs the AOF the kill left on the older data. Each
// time the replica comes back with every acknowledged write.
func TestAReplicaStoppedInItsFirstRewriteKeepsItsWrites(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	primary := redistest.StandaloneProcess(t, t.TempDir(), "--save", "", "--appendonly", "no",
		"--repl-diskless-sync-delay", "0", "--enable-debug-command", "local")
	if err := primary.Client.Do(ctx, "DEBUG", "POPULATE", 20_000, "old", 32).Err(); err != nil {
		t.Fatal(err)
	}
	w := redistest.StartWriter(ctx, primary.Client, redistest.WriterOptions{Keys: 3000, Workers: 2, WaitReplicas: 1,
		WaitTimeout: time.Second, CheckPrevious: true})
	defer w.Stop()
	dir := t.TempDir()
	port := redistest.FreePort(t)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	host, pport, _ := net.SplitHostPort(primary.Addr)
	args := []string{"redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "",
		"--appendonly", "yes", "--appendfsync", "everysec", "--aof-use-rdb-preamble", "yes", "--logfile", filepath.Join(dir, "redis.log")}
	var logs syncbuf.Buffer
	start := func() (pid chan int, sigs chan os.Signal, done chan error) {
		pid, sigs, done = make(chan int, 1), make(chan os.Signal, 1), make(chan error, 1)
		go func() {
			done <- instance.Run(context.WithoutCancel(ctx), instance.Options{Args: args, Signals: sigs, Stdout: io.Discard, Stderr: io.Discard,
				Log: slog.New(slog.NewTextHandler(&logs, nil)), OnStart: func(p int) { pid <- p }})
		}()
		t.Cleanup(func() {
			sigs <- syscall.SIGKILL
			<-done
		})
		redistest.WaitFor(t, 20*time.Second, "the replica to answer", func() bool { return len(redistest.Info(ctx, addr, "server")) > 0 })
		return pid, sigs, done
	}
	inRewrite := func() {
		cl := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true})
		defer cl.Close()
		if err := cl.ConfigSet(ctx, "rdb-key-save-delay", "200").Err(); err != nil { // 4 s for the snapshot
			t.Fatal(err)
		}
		if err := cl.ReplicaOf(ctx, host, pport).Err(); err != nil {
			t.Fatal(err)
		}
		redistest.WaitFor(t, 30*time.Second, "the replica's sync and rewrite", func() bool {
			return redistest.MasterOf(ctx, addr) == primary.Addr+" up" && redistest.Info(ctx, addr, "persistence")["aof_rewrite_in_progress"] == "1"
		})
		time.Sleep(500 * time.Millisecond)
	}
	verify := func(what string) {
		cl := redis.NewClient(&redis.Options{Addr: addr, Protocol: 2, DisableIdentity: true})
		defer cl.Close()
		if err := cl.ReplicaOf(ctx, "no", "one").Err(); err != nil { // what it loaded, no new sync
			t.Fatal(err)
		}
		if n, err := w.Verify(ctx, cl); err != nil {
			t.Fatalf("%s: %d keys checked: %v", what, n, err)
		}
		if st := w.Stats(); st.Lost > 0 {
			t.Fatalf("%s: writer %+v", what, st)
		}
	}

	_, sigs, done := start()
	inRewrite()
	sigs <- syscall.SIGTERM
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("after SIGTERM: %v (want a clean exit once the AOF is written)", err)
		}
		done <- nil // for the cleanup
	case <-time.After(30 * time.Second):
		t.Fatal("redis-server did not exit within 30 s of a SIGTERM in its first rewrite")
	}
	if log, _ := os.ReadFile(filepath.Join(dir, "redis.log")); !strings.Contains(string(log), "Writing initial AOF, can't exit") {
		t.Error("Redis did not refuse the first SIGTERM: the fault was not injected")
	}
	pid, _, done := start()
	verify("after the SIGTERM")

	inRewrite()
	if err := syscall.Kill(<-pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.As(err, new(instance.ExitError)) {
		t.Fatalf("after SIGKILL: %v", err)
	}
	done <- nil
	start()
	if !strings.Contains(logs.String(), "repaired=true") {
		t.Errorf("the manager did not repair the AOF:\n%s", logs.String())
	}
	verify("after the SIGKILL")
	if st := w.Stats(); st.Acked < 100 {
		t.Errorf("only %d writes acknowledged", st.Acked)
	}
}
