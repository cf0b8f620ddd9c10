package redistest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Standalone starts a redis-server (no cluster mode, nothing persisted) on a
// free loopback port for the test and returns a client of it; the process
// is killed when the test ends.
func Standalone(t testing.TB) *redis.Client {
	t.Helper()
	return StandaloneWith(t, t.TempDir(), "--save", "", "--appendonly", "no")
}

// StandaloneWith is Standalone with dir as the server's directory (its log
// is dir/redis.log) and args as further redis-server flags.
func StandaloneWith(t testing.TB, dir string, args ...string) *redis.Client {
	t.Helper()
	return StandaloneProcess(t, dir, args...).Client
}

// Process is a standalone redis-server the test started.
type Process struct {
	Cmd    *exec.Cmd
	Client *redis.Client
	Addr   string
}

// Kill SIGKILLs the process and waits for it.
func (p *Process) Kill() {
	_ = p.Cmd.Process.Kill()
	_ = p.Cmd.Wait()
}

// StandaloneProcess is StandaloneWith, and the process to kill.
func StandaloneProcess(t testing.TB, dir string, args ...string) *Process {
	t.Helper()
	port := FreePort(t)
	logPath := filepath.Join(dir, "redis.log")
	args = append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir, "--logfile", logPath}, args...)
	cmd := exec.Command("redis-server", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &Process{Cmd: cmd, Addr: fmt.Sprintf("127.0.0.1:%d", port)}
	t.Cleanup(p.Kill)
	p.Client = redis.NewClient(&redis.Options{Addr: p.Addr, Protocol: 2})
	t.Cleanup(func() { p.Client.Close() })
	deadline := time.Now().Add(10 * time.Second)
	for p.Client.Ping(t.Context()).Err() != nil {
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logPath)
			t.Fatalf("standalone redis did not start:\n%s", log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return p
}
