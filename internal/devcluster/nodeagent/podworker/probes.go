package podworker

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/dayops/dayops/internal/devcluster/nodeagent/podproc"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// probe runs the startup, then readiness and liveness probes of one run of
// a container until ctx ends (the run ended or the pod is stopping).
func (w *Worker) probe(ctx context.Context, c *ctrState, p *podproc.Proc) {
	w.mu.Lock()
	spec := c.spec
	w.mu.Unlock()
	if spec.StartupProbe != nil {
		ok := w.probeLoop(ctx, "Startup", c, p, spec.StartupProbe, true, func(ok bool) bool {
			if ok {
				w.mu.Lock()
				c.started = true
				w.mu.Unlock()
				w.poke()
			}
			return ok // stop probing once started
		})
		if !ok {
			return
		}
	}
	if spec.ReadinessProbe == nil {
		w.mu.Lock()
		c.ready = true
		w.mu.Unlock()
		w.poke()
	} else {
		go w.probeLoop(ctx, "Readiness", c, p, spec.ReadinessProbe, false, func(ok bool) bool {
			w.mu.Lock()
			changed := c.ready != ok
			c.ready = ok
			w.mu.Unlock()
			if changed {
				w.poke()
			}
			return false
		})
	}
	if spec.LivenessProbe != nil {
		go w.probeLoop(ctx, "Liveness", c, p, spec.LivenessProbe, true, func(ok bool) bool { return false })
	}
}

// probeLoop probes every period. onResult is called when the success or
// failure threshold is reached and returns whether to stop. With killOnFail,
// reaching the failure threshold kills the container (it is then restarted
// according to the pod's restart policy) and the loop returns false.
func (w *Worker) probeLoop(ctx context.Context, kind string, c *ctrState, p *podproc.Proc, pr *corev1.Probe, killOnFail bool, onResult func(bool) bool) bool {
	period := secondsOr(pr.PeriodSeconds, 10)
	timeout := secondsOr(pr.TimeoutSeconds, 1)
	successThreshold := int(pr.SuccessThreshold)
	if successThreshold <= 0 {
		successThreshold = 1
	}
	failureThreshold := int(pr.FailureThreshold)
	if failureThreshold <= 0 {
		failureThreshold = 3
	}
	if d := time.Duration(pr.InitialDelaySeconds) * time.Second; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return false
		case <-t.C:
		}
	}
	tick := time.NewTicker(period)
	defer tick.Stop()
	successes, failures := 0, 0
	for {
		ok, msg := w.runProbe(ctx, c, pr, timeout)
		if ctx.Err() != nil {
			return false
		}
		if ok {
			successes, failures = successes+1, 0
		} else {
			successes, failures = 0, failures+1
			w.event(corev1.EventTypeWarning, "Unhealthy", "%s probe failed: %s", kind, msg)
		}
		switch {
		case ok && successes >= successThreshold:
			if onResult(true) {
				return true
			}
		case !ok && failures >= failureThreshold:
			if killOnFail {
				w.event(corev1.EventTypeNormal, "Killing", "Container %s failed %s probe, will be restarted", c.spec.Name, strings.ToLower(kind))
				w.mu.Lock()
				c.killReason = fmt.Sprintf("%s probe failed: %s", kind, msg)
				w.mu.Unlock()
				p.Stop(w.graceFor(pr, 0))
				w.poke()
				return false
			}
			onResult(false)
		}
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
}

func secondsOr(v int32, def int) time.Duration {
	if v <= 0 {
		return time.Duration(def) * time.Second
	}
	return time.Duration(v) * time.Second
}

// runProbe runs one probe against the container, reaching it at the pod IP.
func (w *Worker) runProbe(ctx context.Context, c *ctrState, pr *corev1.Probe, timeout time.Duration) (bool, string) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	w.mu.Lock()
	podIP := w.ip.String()
	spec := c.spec
	w.mu.Unlock()
	switch {
	case pr.Exec != nil:
		t, _, err := w.Target(spec.Name)
		if err != nil {
			return false, err.Error()
		}
		var out bytes.Buffer
		code, err := w.h.Procs.Exec(ctx, t, pr.Exec.Command, nil, &out, &out)
		if err != nil {
			return false, err.Error()
		}
		if code != 0 {
			return false, fmt.Sprintf("command %q exited with %d: %s", pr.Exec.Command, code, truncate(out.String(), 200))
		}
		return true, ""
	case pr.TCPSocket != nil:
		port, err := resolvePort(pr.TCPSocket.Port, &spec)
		if err != nil {
			return false, err.Error()
		}
		host := pr.TCPSocket.Host
		if host == "" {
			host = podIP
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return false, err.Error()
		}
		conn.Close()
		return true, ""
	case pr.HTTPGet != nil:
		return httpProbe(ctx, pr.HTTPGet, &spec, podIP)
	case pr.GRPC != nil:
		return false, "gRPC probes are not supported by the dayops node agent"
	}
	return false, "probe has no handler"
}

// httpProbe runs an httpGet probe against host (default: the pod IP); a
// status from 200 to 399 passes.
func httpProbe(ctx context.Context, g *corev1.HTTPGetAction, spec *corev1.Container, podIP string) (bool, string) {
	port, err := resolvePort(g.Port, spec)
	if err != nil {
		return false, err.Error()
	}
	host := g.Host
	if host == "" {
		host = podIP
	}
	scheme := strings.ToLower(string(g.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	u := url.URL{Scheme: scheme, Host: net.JoinHostPort(host, strconv.Itoa(port)), Path: g.Path}
	if i := strings.IndexByte(g.Path, '?'); i >= 0 {
		u.Path, u.RawQuery = g.Path[:i], g.Path[i+1:]
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return false, err.Error()
	}
	req.Header.Set("User-Agent", "kube-probe/1.36")
	for _, h := range g.HTTPHeaders {
		req.Header.Set(h.Name, h.Value)
	}
	client := &http.Client{
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, err.Error()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 10<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return false, fmt.Sprintf("HTTP probe failed with statuscode: %d", resp.StatusCode)
	}
	return true, ""
}

func resolvePort(p intstr.IntOrString, c *corev1.Container) (int, error) {
	if p.Type == intstr.Int {
		return p.IntValue(), nil
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil {
		return n, nil
	}
	return 0, fmt.Errorf("port %q not found in container %s", p.StrVal, c.Name)
}

func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
