// Package apiproxy puts a TCP proxy between one client and a server (the
// local stack's Kubernetes API server) so that a test can take the server
// away from that client for a while, as an API server that restarts or
// whose control plane is upgraded does: every connection through the proxy
// is reset and new ones are refused (the proxy stops listening), while
// every other client of the shared stack keeps its access. The bytes pass
// through untouched (TLS included: the API server's certificate names
// 127.0.0.1, whatever the port).
//
// Refused, not reset on accept: client-go retries a GET whose connection
// was reset (10 times, a second apart) but not one that was refused, and a
// stopped API server refuses. The proxy listens on a port below the
// kernel's ephemeral range, so that no outgoing connection takes the port
// while it is closed and it can listen there again.
package apiproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/tools/clientcmd"
)

// Proxy forwards connections from its loopback address to a target.
type Proxy struct {
	target, addr string
	mu           sync.Mutex
	ln           net.Listener // nil during an outage
	conns        map[net.Conn]struct{}
	closed       bool
	wg           sync.WaitGroup
}

// Start listens on a free loopback port below the ephemeral range and
// forwards to target (host:port).
func Start(target string) (*Proxy, error) {
	ln, err := listenLow()
	if err != nil {
		return nil, err
	}
	p := &Proxy{target: target, addr: ln.Addr().String(), ln: ln, conns: map[net.Conn]struct{}{}}
	p.wg.Go(func() { p.serve(ln) })
	return p, nil
}

// listenLow listens on a free loopback port under the kernel's ephemeral
// range (ip_local_port_range; 32768 when it cannot be read).
func listenLow() (net.Listener, error) {
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				low = n
			}
		}
	}
	if low <= 11000 {
		return nil, fmt.Errorf("apiproxy: the ephemeral range starts at %d: no port under it to use", low)
	}
	var err error
	for range 100 {
		var ln net.Listener
		port := 10000 + rand.IntN(low-10000)
		if ln, err = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
			return ln, nil
		}
	}
	return nil, fmt.Errorf("apiproxy: no free port in 100 tries: %w", err)
}

// Addr is the proxy's address (host:port).
func (p *Proxy) Addr() string { return p.addr }

// Outage takes the target away for d (or until ctx ends): every open
// connection is reset and the proxy stops listening, so new connections
// are refused; then it listens again on the same address. It returns how
// many open connections it reset.
func (p *Proxy) Outage(ctx context.Context, d time.Duration) (int, error) {
	p.mu.Lock()
	if p.ln == nil || p.closed {
		p.mu.Unlock()
		return 0, errors.New("apiproxy: an outage is already on, or the proxy is closed")
	}
	_ = p.ln.Close()
	p.ln = nil
	n := len(p.conns)
	for c := range p.conns {
		reset(c)
	}
	p.mu.Unlock()
	t := time.NewTimer(d)
	defer t.Stop()
	var err error
	select {
	case <-ctx.Done():
		err = ctx.Err()
	case <-t.C:
	}
	return n, errors.Join(err, p.listenAgain())
}

// listenAgain listens on the proxy's address again (for up to 5 s while
// the address is still taken).
func (p *Proxy) listenAgain() error {
	for deadline := time.Now().Add(5 * time.Second); ; {
		ln, err := net.Listen("tcp", p.addr)
		if err == nil {
			p.mu.Lock()
			defer p.mu.Unlock()
			if p.closed {
				return ln.Close()
			}
			p.ln = ln
			p.wg.Go(func() { p.serve(ln) })
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("apiproxy: listen on %s again: %w", p.addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Close stops the proxy and resets every connection through it.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	var err error
	if p.ln != nil {
		err = p.ln.Close()
	}
	for c := range p.conns {
		reset(c)
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

func (p *Proxy) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return // closed
		}
		p.mu.Lock()
		current := p.ln == ln // not if an outage began since the accept
		if current {
			p.conns[c] = struct{}{}
		}
		p.mu.Unlock()
		if !current {
			reset(c)
			continue
		}
		p.wg.Go(func() { p.forward(c) })
	}
}

// forward copies both ways between c and a fresh connection to the target
// until either side ends (or Outage resets c).
func (p *Proxy) forward(c net.Conn) {
	defer func() {
		p.mu.Lock()
		delete(p.conns, c)
		p.mu.Unlock()
		c.Close()
	}()
	t, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		return
	}
	defer t.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go pipe(t, c)
	go pipe(c, t)
	<-done // one side ended: end both (the deferred closes end the other copy)
}

// reset closes c with an RST, as a server that went away leaves its
// clients: no orderly FIN that a client could take for a finished reply.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// StartKube starts a proxy to the API server of the kubeconfig src's
// current context and writes to dst a copy of src that reaches it through
// the proxy (same scheme, the proxy's host and port): the kubeconfig of
// the one client to be cut off.
func StartKube(src, dst string) (*Proxy, error) {
	cfg, err := clientcmd.LoadFromFile(src)
	if err != nil {
		return nil, err
	}
	kctx := cfg.Contexts[cfg.CurrentContext]
	if kctx == nil || cfg.Clusters[kctx.Cluster] == nil {
		return nil, fmt.Errorf("%s: no cluster for the current context %q", src, cfg.CurrentContext)
	}
	c := cfg.Clusters[kctx.Cluster]
	u, err := url.Parse(c.Server)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("%s: server %q: not a URL with a host (%v)", src, c.Server, err)
	}
	p, err := Start(u.Host)
	if err != nil {
		return nil, err
	}
	u.Host = p.Addr()
	c.Server = u.String()
	if err := clientcmd.WriteToFile(*cfg, dst); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}
