package redistest

import (
	"fmt"
	"net"
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	logPath := filepath.Join(dir, "redis.log")
	args = append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir, "--logfile", logPath}, args...)
	cmd := exec.Command("redis-server", args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port), Protocol: 2})
	t.Cleanup(func() { c.Close() })
	deadline := time.Now().Add(10 * time.Second)
	for c.Ping(t.Context()).Err() != nil {
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logPath)
			t.Fatalf("standalone redis did not start:\n%s", log)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return c
}
