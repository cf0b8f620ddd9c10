// Package s3test runs a real S3-compatible server for tests: bin/versitygw
// (github.com/versity/versitygw, built by scripts/build-tools.sh) with its
// posix backend on a temporary directory, listening on a free 127.0.0.1 port
// in [30000, 32000). The server is stopped when the test ends.
package s3test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/backupstore"
	"github.com/dayops/dayops/internal/devcluster"
)

// Server is a running versitygw.
type Server struct {
	// Endpoint is host:port of the S3 API (plain HTTP).
	Endpoint  string
	AccessKey string
	SecretKey string
	// Dir is the posix backend's root: bucket B is Dir/B.
	Dir string
	cmd *exec.Cmd
}

// Binary returns the path of bin/versitygw, building it when missing; under
// -short (`make unit`, which builds no tools) a missing binary skips t.
func Binary(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root := devcluster.FindRoot(wd)
	bin := filepath.Join(root, "bin", "versitygw")
	if _, err := os.Stat(bin); err != nil {
		if testing.Short() {
			t.Skip("s3test: bin/versitygw is not built (make tools); -short builds no tools")
		}
		out, err := exec.Command(filepath.Join(root, "scripts", "build-tools.sh"), "versitygw").CombinedOutput()
		if err != nil {
			t.Fatalf("s3test: build versitygw: %v\n%s", err, out)
		}
	}
	return bin
}

// Start starts a server for t.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Binary(t)
	dir := t.TempDir()
	s := &Server{AccessKey: "dayops-test", SecretKey: randomHex(16), Dir: filepath.Join(dir, "root")}
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var lastErr error
	for attempt := 0; attempt < 10; attempt++ {
		port := freePort(t)
		s.Endpoint = fmt.Sprintf("127.0.0.1:%d", port)
		log, err := os.Create(filepath.Join(dir, fmt.Sprintf("versitygw-%d.log", attempt)))
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "--port", s.Endpoint, "--access", s.AccessKey, "--secret", s.SecretKey, "--quiet", "posix", s.Dir)
		cmd.Stdout, cmd.Stderr = log, log
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			log.Close()
			t.Fatalf("s3test: start versitygw: %v", err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait(); log.Close() }()
		if err := waitListening(s.Endpoint, exited, 15*time.Second); err != nil {
			_ = cmd.Process.Kill()
			out, _ := os.ReadFile(log.Name())
			lastErr = fmt.Errorf("%w\n%s", err, out)
			continue
		}
		s.cmd = cmd
		t.Cleanup(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
		})
		return s
	}
	t.Fatalf("s3test: versitygw did not start: %v", lastErr)
	return nil
}

// URL is the backup store URL of bucket/prefix on this server; Env holds the
// credentials it needs (set them with t.Setenv or on a child process).
func (s *Server) URL(bucket, prefix string) string {
	return fmt.Sprintf("s3://%s/%s?endpoint=%s&insecure=true&region=us-east-1", bucket, prefix, s.Endpoint)
}

// Env is the credential environment of the store URL.
func (s *Server) Env() []string {
	return []string{backupstore.EnvAccessKey + "=" + s.AccessKey, backupstore.EnvSecretKey + "=" + s.SecretKey}
}

// Open opens a backup store in bucket/prefix.
func (s *Server) Open(t testing.TB, bucket, prefix string) *backupstore.S3 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := backupstore.OpenS3(ctx, backupstore.S3Config{Endpoint: s.Endpoint, Bucket: bucket, Prefix: prefix,
		Region: "us-east-1", Insecure: true, AccessKey: s.AccessKey, SecretKey: s.SecretKey, PartSize: 5 << 20})
	if err != nil {
		t.Fatalf("s3test: open store: %v", err)
	}
	return st
}

func freePort(t testing.TB) int {
	t.Helper()
	for range 200 {
		n, _ := rand.Int(rand.Reader, big.NewInt(2000))
		port := 30000 + int(n.Int64())
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		ln.Close()
		return port
	}
	t.Fatal("s3test: no free port in [30000, 32000)")
	return 0
}

func waitListening(addr string, exited <-chan error, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("versitygw exited: %v", err)
		default:
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("versitygw not listening on %s after %s", addr, limit)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
