package apiproxy

import (
	"bufio"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
)

// echo serves lines back on a loopback port.
func echo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					l, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := c.Write([]byte(l)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// roundTrip sends a line through c and reads it back.
func roundTrip(c net.Conn, r *bufio.Reader) error {
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return err
	}
	_, err := r.ReadString('\n')
	return err
}

func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c)
}

// TestOutage: a connection through the proxy works; during an outage it is
// reset and a new one is refused; after it a new one works again, on the
// same address, which is under the ephemeral port range.
func TestOutage(t *testing.T) {
	p, err := Start(echo(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, port, _ := net.SplitHostPort(p.Addr()); port > "" {
		if n, _ := strconv.Atoi(port); n >= 32768 || n < 10000 {
			t.Errorf("port %d: want one in [10000, 32768), under the ephemeral range", n)
		}
	}
	c, r := dial(t, p.Addr())
	if err := roundTrip(c, r); err != nil {
		t.Fatalf("before the outage: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ended := make(chan int, 1)
	go func() {
		n, _ := p.Outage(ctx, time.Hour)
		ended <- n
	}()
	// The open connection is reset.
	deadline := time.Now().Add(5 * time.Second)
	for roundTrip(c, r) == nil {
		if time.Now().After(deadline) {
			t.Fatal("the open connection still works 5s into the outage")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if c2, err := net.Dial("tcp", p.Addr()); err == nil || !errors.Is(err, syscall.ECONNREFUSED) {
		if c2 != nil {
			c2.Close()
		}
		t.Fatalf("a new connection during the outage: %v, want connection refused", err)
	}
	if _, err := p.Outage(ctx, time.Second); err == nil {
		t.Error("a second outage at once: want an error")
	}
	cancel()
	if n := <-ended; n != 1 {
		t.Errorf("the outage reset %d connections, want 1", n)
	}
	c3, r3 := dial(t, p.Addr())
	if err := roundTrip(c3, r3); err != nil {
		t.Fatalf("after the outage: %v", err)
	}
}

// TestStartKube: the copy reaches the current context's cluster through a
// proxy to its server, with the rest of the file as it was.
func TestStartKube(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	const kc = `apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:6443
    insecure-skip-tls-verify: true
contexts:
- name: local
  context: {cluster: local, user: admin}
current-context: local
users:
- name: admin
  user: {token: secret}
`
	if err := os.WriteFile(src, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := StartKube(src, dst)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.target != "127.0.0.1:6443" {
		t.Errorf("target %q, want the kubeconfig's server 127.0.0.1:6443", p.target)
	}
	cfg, err := clientcmd.LoadFromFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Clusters["local"].Server, "https://"+p.Addr(); got != want {
		t.Errorf("server %q, want %q", got, want)
	}
	if cfg.AuthInfos["admin"].Token != "secret" || cfg.CurrentContext != "local" {
		t.Errorf("the rest changed: %+v", cfg)
	}
}
