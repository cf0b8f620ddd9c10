package nodeagent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dayops/dayops/internal/devcluster/nodeagent/podlog"
	"github.com/dayops/dayops/internal/devcluster/nodeagent/podworker"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cri-streaming/pkg/streaming/portforward"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"
)

const (
	streamIdleTimeout     = 4 * time.Hour
	streamCreationTimeout = remotecommand.DefaultStreamCreationTimeout
)

// startServers serves the kubelet API of every node on <node IP>:<kubelet
// port> over TLS, with a serving certificate signed by the cluster CA and
// client certificates required from that CA (the apiserver's kubelet
// client certificate).
func (a *Agent) startServers() ([]*http.Server, error) {
	var servers []*http.Server
	for _, n := range a.nodes {
		cert, err := a.ca.servingCert(n)
		if err != nil {
			a.stopServers(servers)
			return nil, err
		}
		addr := net.JoinHostPort(n.IP.String(), strconv.Itoa(a.cfg.KubeletPort))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			a.stopServers(servers)
			return nil, fmt.Errorf("kubelet API of node %s: listen on %s (is 10.244.0.0/16 routed to lo? `ip route add local 10.244.0.0/16 dev lo table local`): %w", n.Name, addr, err)
		}
		srv := &http.Server{
			Handler:           a.kubeletMux(n),
			TLSConfig:         a.ca.tlsConfig(cert),
			ReadHeaderTimeout: 30 * time.Second,
		}
		go func() {
			if err := srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
				a.log.Error("kubelet API server failed", "node", n.Name, "err", err)
			}
		}()
		servers = append(servers, srv)
	}
	return servers, nil
}

// stopServers closes the kubelet API servers at once (open log follows and
// exec sessions end with them), all in parallel, so that the agent's stop
// stays well inside the grace `dayops-dev dev down` gives it.
func (a *Agent) stopServers(servers []*http.Server) {
	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Add(1)
		go func() { defer wg.Done(); _ = s.Close() }()
	}
	wg.Wait()
}

// kubeletMux routes the subset of the kubelet API the apiserver uses for
// pods/log, pods/exec and pods/portforward, plus /healthz and /pods.
func (a *Agent) kubeletMux(n nodeInfo) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	})
	mux.HandleFunc("GET /pods", func(w http.ResponseWriter, r *http.Request) { a.servePods(w, r, n) })
	mux.HandleFunc("GET /containerLogs/{ns}/{pod}/{container}", a.onPod(a.serveLogs))
	// The streaming verbs name the pod with or without its UID.
	for _, rt := range []struct {
		method, verb, container string
		serve                   podHandler
	}{
		{"", "exec", "/{container}", a.serveRemoteCommand(false)},
		{"", "attach", "/{container}", a.serveRemoteCommand(true)},
		{"POST ", "run", "/{container}", a.serveRun},
		{"", "portForward", "", a.servePortForward},
	} {
		for _, uid := range []string{"", "/{uid}"} {
			mux.HandleFunc(rt.method+"/"+rt.verb+"/{ns}/{pod}"+uid+rt.container, a.onPod(rt.serve))
		}
	}
	return mux
}

func (a *Agent) servePods(w http.ResponseWriter, r *http.Request, n nodeInfo) {
	a.mu.Lock()
	list := &corev1.PodList{TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"}}
	for _, pw := range a.workers {
		if pw.NodeName() != n.Name {
			continue
		}
		list.Items = append(list.Items, *pw.Pod())
	}
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(list)
}

// podHandler serves a request about one of this node's pods.
type podHandler func(w http.ResponseWriter, r *http.Request, pw *podworker.Worker)

// onPod finds the pod the path names ({ns}, {pod}, and {uid} when given)
// and serves h on it; a pod not on this node is a 404.
func (a *Agent) onPod(h podHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ns, name := r.PathValue("ns"), r.PathValue("pod")
		pw := a.workerByName(ns, name)
		if pw == nil || (r.PathValue("uid") != "" && string(pw.UID()) != r.PathValue("uid")) {
			http.Error(w, fmt.Sprintf("pod %s/%s not found on this node", ns, name), http.StatusNotFound)
			return
		}
		h(w, r, pw)
	}
}

func (a *Agent) serveLogs(w http.ResponseWriter, r *http.Request, pw *podworker.Worker) {
	opts, previous, err := logOptions(r.URL.Query(), time.Now())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	path, done, err := pw.LogFile(r.PathValue("container"), previous)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("Transfer-Encoding", "chunked")
	var flush func()
	if f, ok := w.(http.Flusher); ok {
		flush = f.Flush
	}
	if err := podlog.Serve(r.Context(), path, done, opts, w, flush); err != nil {
		a.log.Debug("serve logs", "err", err)
	}
}

// logOptions reads the kubelet's log query: follow, timestamps, previous,
// tailLines, limitBytes, sinceSeconds (before now), sinceTime.
func logOptions(q url.Values, now time.Time) (opts podlog.Options, previous bool, err error) {
	opts = podlog.Options{TailLines: -1}
	opts.Follow, _ = strconv.ParseBool(q.Get("follow"))
	opts.Timestamps, _ = strconv.ParseBool(q.Get("timestamps"))
	previous, _ = strconv.ParseBool(q.Get("previous"))
	for _, p := range []struct {
		name string
		set  func(int64)
	}{
		{"tailLines", func(n int64) { opts.TailLines = n }},
		{"limitBytes", func(n int64) { opts.LimitBytes = n }},
		{"sinceSeconds", func(n int64) { opts.Since = now.Add(-time.Duration(n) * time.Second) }},
	} {
		if v := q.Get(p.name); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return opts, false, fmt.Errorf("bad %s", p.name)
			}
			p.set(n)
		}
	}
	if v := q.Get("sinceTime"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return opts, false, errors.New("bad sinceTime")
		}
		opts.Since = t
	}
	return opts, previous, nil
}

// execCommand builds the exec command from the query (command=...).
func execCommand(r *http.Request) []string {
	_ = r.ParseForm()
	return r.Form["command"]
}

// serveRemoteCommand serves exec (the query's command), or attach.
func (a *Agent) serveRemoteCommand(attach bool) podHandler {
	return func(w http.ResponseWriter, r *http.Request, pw *podworker.Worker) {
		opts, err := remotecommand.NewOptions(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		name, uid, container := pw.Namespace()+"/"+pw.Name(), string(pw.UID()), r.PathValue("container")
		if attach {
			remotecommand.ServeAttach(w, r, execAdapter{a: a}, name, uid, container, opts,
				streamIdleTimeout, streamCreationTimeout, remotecommand.SupportedStreamingProtocols)
			return
		}
		remotecommand.ServeExec(w, r, execAdapter{a: a}, name, uid, container, execCommand(r), opts,
			streamIdleTimeout, streamCreationTimeout, remotecommand.SupportedStreamingProtocols)
	}
}

func (a *Agent) serveRun(w http.ResponseWriter, r *http.Request, pw *podworker.Worker) {
	cmd := r.URL.Query()["cmd"]
	if len(cmd) == 1 {
		cmd = strings.Fields(cmd[0])
	}
	t, _, err := pw.Target(r.PathValue("container"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var out strings.Builder
	code, err := a.procs.Exec(r.Context(), t, cmd, nil, &out, &out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if code != 0 {
		w.WriteHeader(http.StatusInternalServerError)
	}
	_, _ = io.WriteString(w, out.String())
}

func (a *Agent) servePortForward(w http.ResponseWriter, r *http.Request, pw *podworker.Worker) {
	opts, err := portforward.NewV4Options(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	portforward.ServePortForward(w, r, forwardAdapter{a: a}, pw.Namespace()+"/"+pw.Name(), string(pw.UID()), opts,
		streamIdleTimeout, streamCreationTimeout, portforward.SupportedProtocols)
}

// AttachContainer streams the container's output from now on until its run
// ends. The process's stdin is not connected (processes start with none),
// so input is read and dropped.
func (e execAdapter) AttachContainer(ctx context.Context, name, uid, container string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	ns, pod, _ := strings.Cut(name, "/")
	pw := e.a.workerByName(ns, pod)
	if pw == nil || string(pw.UID()) != uid {
		return fmt.Errorf("pod %s not found", name)
	}
	path, done, err := pw.LogFile(container, false)
	if err != nil {
		return err
	}
	go func() {
		for range resize {
		}
	}()
	if in != nil {
		go func() { _, _ = io.Copy(io.Discard, in) }()
	}
	var w io.Writer = io.Discard
	switch {
	case out != nil:
		w = out
	case errw != nil:
		w = errw
	}
	return podlog.Serve(ctx, path, done, podlog.Options{TailLines: 0, Follow: true}, w, nil)
}

// execAdapter runs exec requests from the streaming server.
type execAdapter struct{ a *Agent }

func (e execAdapter) ExecInContainer(ctx context.Context, name, uid, container string, cmd []string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize, timeout time.Duration) error {
	ns, pod, _ := strings.Cut(name, "/")
	pw := e.a.workerByName(ns, pod)
	if pw == nil || string(pw.UID()) != uid {
		return fmt.Errorf("pod %s not found", name)
	}
	t, _, err := pw.Target(container)
	if err != nil {
		return err
	}
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	var code int
	if tty {
		code, err = e.a.procs.ExecTTY(ctx, t, cmd, in, out, resize)
	} else {
		go func() {
			for range resize { // no terminal: nothing to resize
			}
		}()
		var stderr io.Writer = errw
		if errw == nil {
			stderr = out
		}
		var stdout io.Writer = out
		if out == nil {
			stdout = io.Discard
		}
		code, err = e.a.procs.Exec(ctx, t, cmd, in, stdout, stderr)
	}
	if err != nil {
		return err
	}
	if code != 0 {
		return utilexec.CodeExitError{Err: fmt.Errorf("command terminated with exit code %d", code), Code: code}
	}
	return nil
}

// forwardAdapter connects port-forward streams to the pod IP.
type forwardAdapter struct{ a *Agent }

func (f forwardAdapter) PortForward(ctx context.Context, name, uid string, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	ns, pod, _ := strings.Cut(name, "/")
	pw := f.a.workerByName(ns, pod)
	if pw == nil || string(pw.UID()) != uid {
		return fmt.Errorf("pod %s not found", name)
	}
	ip := pw.IP()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ip.String(), strconv.Itoa(int(port))))
	if err != nil {
		return fmt.Errorf("port-forward to %s:%d: %w", ip, port, err)
	}
	defer conn.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(conn, stream); done <- struct{}{} }()
	go func() { _, _ = io.Copy(stream, conn); done <- struct{}{} }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	return nil
}
