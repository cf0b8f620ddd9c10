package scalebench

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// profileWindow is the length of one CPU profile of the worker: the
// profiler sends nothing until a window ends, so an operation is covered by
// consecutive windows (the last one runs a little past the operation's end).
const profileWindow = 15 * time.Second

// profiler fetches consecutive CPU profiles of the worker while an
// operation runs.
type profiler struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	done   atomic.Bool
}

// profile starts profiling the worker into <ProfileDir>/<name>-<n>.pprof
// (none without ProfileDir); stop ends it after the window in flight.
// `go tool pprof -top <dir>/<name>-*.pprof` merges the windows.
func (b *bench) profile(ctx context.Context, name string) *profiler {
	p := &profiler{cancel: func() {}}
	if b.pprofAddr == "" {
		return p
	}
	ctx, p.cancel = context.WithCancel(context.WithoutCancel(ctx))
	p.wg.Go(func() {
		for n := 0; ; n++ {
			path := filepath.Join(b.cfg.ProfileDir, fmt.Sprintf("%s-%d.pprof", name, n))
			if err := fetchProfile(ctx, b.pprofAddr, path); err != nil {
				b.cfg.Log.Warn("worker profile", "file", path, "err", err)
				return
			}
			if p.done.Load() {
				return
			}
		}
	})
	return p
}

// stop lets the window in flight finish and waits for it.
func (p *profiler) stop() {
	p.done.Store(true)
	p.wg.Wait()
	p.cancel()
}

func fetchProfile(ctx context.Context, addr, path string) error {
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, int(profileWindow.Seconds()))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// freeLoopbackAddr is a loopback address with a port nobody listens on now.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// waitListening waits until something accepts connections on addr.
func waitListening(addr string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nothing listens on %s after %s: %w", addr, limit, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
