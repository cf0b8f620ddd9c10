package instance_test

import (
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/instance"
)

// TestRunLifecycle: a node that is no former primary starts unfenced; a
// forwarded SIGTERM stops redis-server cleanly (status 0: Run returns nil);
// a SIGKILLed redis-server makes Run return status 137, which the manager
// exits with, so the kubelet restarts the container as it would without it.
func TestRunLifecycle(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not installed")
	}
	for name, tc := range map[string]struct {
		sig  os.Signal
		kill bool
		want error
	}{
		"SIGTERM forwarded": {sig: syscall.SIGTERM, want: nil},
		"SIGKILL":           {kill: true, want: instance.ExitError{Code: 137}},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			port := ln.Addr().(*net.TCPAddr).Port
			ln.Close()
			sigs := make(chan os.Signal, 1)
			pids := make(chan int, 1)
			done := make(chan error, 1)
			go func() {
				done <- instance.Run(t.Context(), instance.Options{
					Args: []string{"redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
						"--save", "", "--appendonly", "no", "--logfile", filepath.Join(dir, "redis.log")},
					Signals: sigs, Stdout: io.Discard, Stderr: io.Discard, OnStart: func(pid int) { pids <- pid },
				})
			}()
			pid := <-pids
			deadline := time.Now().Add(10 * time.Second)
			for {
				c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
				if err == nil {
					c.Close()
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("redis-server did not listen")
				}
				time.Sleep(20 * time.Millisecond)
			}
			if tc.kill {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			} else {
				sigs <- tc.sig
			}
			select {
			case err := <-done:
				if !errors.Is(err, tc.want) && err != tc.want {
					t.Fatalf("Run = %v, want %v", err, tc.want)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("Run did not return")
			}
			if _, ok, _ := instance.ReadMarker(dir); ok {
				t.Error("an unfenced start wrote a fence marker")
			}
		})
	}
}
