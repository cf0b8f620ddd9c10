package devcluster

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dayops/dayops/internal/devcluster/devpki"
	"github.com/dayops/dayops/internal/devcluster/devproc"
	"github.com/dayops/dayops/internal/devcluster/hostsetup"
	"github.com/dayops/dayops/internal/temporaltls"
)

// Stack describes a running local stack.
type Stack struct {
	// Kubeconfig is the admin kubeconfig (system:masters).
	Kubeconfig      string
	TemporalAddress string
	// TemporalUI is the dev server's Web UI; empty in server mode.
	TemporalUI string
	// TemporalTLS are dayops' mutual-TLS files in server mode (zero in dev
	// mode).
	TemporalTLS temporaltls.Files
	DatabaseURL string
	APIURL      string
	// EnvFile is the dev.env that records the fields above.
	EnvFile string
	// Started lists the components this Up started; empty when the whole
	// stack was already running.
	Started []string
}

// AlreadyRunning reports whether Up found everything running.
func (s *Stack) AlreadyRunning() bool { return len(s.Started) == 0 }

func stackOf(c Config, started []string) *Stack {
	return &Stack{
		Kubeconfig:      c.KubeconfigPath(),
		TemporalAddress: c.TemporalAddr(),
		TemporalUI:      c.TemporalUI(),
		TemporalTLS:     c.TemporalTLS(),
		DatabaseURL:     c.DatabaseURL,
		APIURL:          c.APIURL,
		EnvFile:         c.EnvPath(),
		Started:         started,
	}
}

// enabledOf lists the components of this configuration in start order.
func enabledOf(c Config) []string {
	var out []string
	for _, n := range startOrder {
		switch {
		case n == Agent && c.NoAgent,
			n == Temporal && c.Temporal == TemporalServer,
			n == TemporalServerComponent && c.Temporal != TemporalServer,
			c.TemporalOnly && n != Temporal && n != TemporalServerComponent:
			continue
		}
		out = append(out, n)
	}
	return out
}

// Up starts whatever part of the stack is not running and waits until every
// component is healthy. Components a previous `up` started and that still run
// are kept; dead ones (a killed run) are started again. If a component fails
// to become healthy, Up stops what it started itself and returns an error
// holding the tail of that component's log.
func Up(ctx context.Context, cfg Config) (*Stack, error) {
	c := cfg.WithDefaults()
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("invalid dev stack config: %w", err)
	}
	if err := makeDirs(c); err != nil {
		return nil, err
	}
	if err := checkBinaries(c); err != nil {
		return nil, err
	}
	unlock, err := devproc.Lock(ctx, c.LockFile(), true)
	if err != nil {
		return nil, err
	}
	defer unlock()

	if err := prepareHost(ctx, c); err != nil {
		return nil, err
	}

	st, err := devproc.ReadState(c.StateFile())
	if err != nil {
		return nil, err
	}
	if err := ensurePodRoute(ctx, c, &st); err != nil {
		return nil, err
	}

	if err := checkTemporalMode(c, st); err != nil {
		return nil, err
	}

	comps := components()
	var started []string
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	w := newWaiter(wctx, c)
	fail := func(err error) (*Stack, error) {
		stopStarted(ctx, c, st, comps, started)
		return nil, err
	}
	for _, name := range enabledOf(c) {
		comp := comps[name]
		if rec, ok := st.Procs[name]; ok && rec.Alive() {
			c.Logger.Info("already running", "component", name, "pid", rec.PID)
			w.watch(comp, rec)
			continue
		}
		_, stale := st.Procs[name]
		rec, err := startComponent(ctx, c, w, name, comp, stale)
		if err != nil {
			return fail(err)
		}
		st.Procs[name] = rec
		started = append(started, name)
		if err := devproc.WriteState(c.StateFile(), st); err != nil {
			return fail(err)
		}
		w.watch(comp, rec)
	}
	if err := setUpComponents(ctx, c, w, comps); err != nil {
		return fail(err)
	}
	if err := writeEnvFile(c); err != nil {
		return fail(err)
	}
	return stackOf(c, started), nil
}

// stopStarted stops what a failed Up started, newest first, keeps the rest
// and records that in the state file.
func stopStarted(ctx context.Context, c Config, st devproc.State, comps map[string]component, started []string) {
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	for i := len(started) - 1; i >= 0; i-- {
		name := started[i]
		if serr := devproc.Stop(stopCtx, st.Procs[name], comps[name].group, c.StopGrace); serr != nil {
			c.Logger.Warn("stop after failed start", "component", name, "err", serr)
		}
		delete(st.Procs, name)
	}
	if werr := devproc.WriteState(c.StateFile(), st); werr != nil {
		c.Logger.Warn("write stack state", "err", werr)
	}
}

// setUpComponents waits, in start order, for every component to be healthy
// and runs its setup.
func setUpComponents(ctx context.Context, c Config, w *waiter, comps map[string]component) error {
	for _, name := range enabledOf(c) {
		if err := w.wait(name); err != nil {
			return err
		}
		if setup := comps[name].setup; setup != nil {
			start := time.Now()
			if err := setup(ctx, c); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			c.Logger.Info("set up", "component", name, "after", time.Since(start).Round(10*time.Millisecond))
		}
	}
	return nil
}

// makeDirs creates the state dir and the directories Up writes into.
func makeDirs(c Config) error {
	for _, d := range []string{c.StateDir, c.Path("logs"), c.Path("agent"), c.Path("apiserver")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", d, err)
		}
	}
	return nil
}

// prepareHost makes the PKI, the kubeconfigs and the database, whatever of
// them is missing.
func prepareHost(ctx context.Context, c Config) error {
	svcPrefix, err := netip.ParsePrefix(c.ServiceCIDR)
	if err != nil {
		return fmt.Errorf("service CIDR %q: %w", c.ServiceCIDR, err)
	}
	if err := devpki.Ensure(c.PKIDir(), svcPrefix.Masked().Addr().Next()); err != nil {
		return err
	}
	if err := writeKubeconfigs(c); err != nil {
		return err
	}
	if err := hostsetup.EnsureDatabase(ctx, c.DatabaseURL); err != nil {
		return err
	}
	return nil
}

// ensurePodRoute routes the pod CIDR to the loopback device and records in
// st (and the state file) that Up added it.
func ensurePodRoute(ctx context.Context, c Config, st *devproc.State) error {
	if !c.NoAgent && !c.TemporalOnly {
		added, err := hostsetup.EnsureRoute(ctx, c.PodCIDR)
		if err != nil {
			return err
		}
		if added {
			st.RouteAdded, st.RouteCIDR = true, c.PodCIDR
			c.Logger.Info("added local route", "cidr", c.PodCIDR)
			if err := devproc.WriteState(c.StateFile(), *st); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkTemporalMode refuses to start while the other Temporal mode's
// process runs: it would hold the frontend port.
func checkTemporalMode(c Config, st devproc.State) error {
	for name, mode := range map[string]string{Temporal: TemporalDev, TemporalServerComponent: TemporalServer} {
		if rec, ok := st.Procs[name]; ok && rec.Alive() && !slices.Contains(enabledOf(c), name) {
			return fmt.Errorf("this stack runs Temporal in %s mode (%s, pid %d): stop it with `dayops-dev dev down --temporal=%s` (same state dir) before `up --temporal=%s`",
				mode, name, rec.PID, mode, c.Temporal)
		}
	}
	return nil
}

// startComponent waits for the components it needs to be healthy and for
// its ports to be free (stale: a previous run's process of it may still
// release them), prepares and starts it.
func startComponent(ctx context.Context, c Config, w *waiter, name string, comp component, stale bool) (devproc.Record, error) {
	for _, need := range comp.needs {
		if err := w.wait(need); err != nil {
			return devproc.Record{}, err
		}
	}
	if comp.ports != nil {
		for _, p := range comp.ports(c) {
			if !waitPortFree(ctx, p, stale) {
				return devproc.Record{}, fmt.Errorf("%s: port 127.0.0.1:%d is in use by a process this stack did not start; stop it or choose another port", name, p)
			}
		}
	}
	if comp.prepare != nil {
		if err := comp.prepare(ctx, c); err != nil {
			return devproc.Record{}, fmt.Errorf("%s: %w", name, err)
		}
	}
	rec, err := devproc.Start(c.Root, c.LogPath(name), os.Environ(), comp.args(c))
	if err != nil {
		return devproc.Record{}, fmt.Errorf("%s: %w", name, err)
	}
	c.Logger.Info("started", "component", name, "pid", rec.PID, "log", rec.Log)
	return rec, nil
}

func checkBinaries(c Config) error {
	var errs []error
	var bins []string
	if c.Temporal == TemporalServer {
		bins = append(bins, "temporal-server", "temporal-sql-tool")
	} else {
		bins = append(bins, "temporal")
	}
	if !c.TemporalOnly {
		bins = append(bins, "kube")
	}
	for _, name := range bins {
		b := filepath.Join(c.BinDir, name)
		if _, err := os.Stat(b); err != nil {
			errs = append(errs, fmt.Errorf("%s missing: run scripts/build-tools.sh (make tools)", b))
		}
	}
	if !c.NoAgent && !c.TemporalOnly {
		if _, err := os.Stat(c.DevBin); err != nil {
			errs = append(errs, fmt.Errorf("%s missing: run `go build -o bin/ ./cmd/dayops ./cmd/dayops-dev` (make build)", c.DevBin))
		}
	}
	return errors.Join(errs...)
}

// waiter polls each watched component's probe concurrently, so that slow
// starters (Temporal, the agent) overlap with the rest.
type waiter struct {
	ctx  context.Context
	cfg  Config
	mu   sync.Mutex
	done map[string]chan struct{}
	errs map[string]error
}

func newWaiter(ctx context.Context, c Config) *waiter {
	return &waiter{ctx: ctx, cfg: c, done: map[string]chan struct{}{}, errs: map[string]error{}}
}

func (w *waiter) watch(comp component, rec devproc.Record) {
	ch := make(chan struct{})
	w.mu.Lock()
	w.done[comp.name] = ch
	w.mu.Unlock()
	go func() {
		err := waitHealthy(w.ctx, w.cfg, comp, rec)
		w.mu.Lock()
		w.errs[comp.name] = err
		w.mu.Unlock()
		close(ch)
	}()
}

func (w *waiter) wait(name string) error {
	w.mu.Lock()
	ch, ok := w.done[name]
	w.mu.Unlock()
	if !ok {
		return fmt.Errorf("%s is not part of this stack", name)
	}
	<-ch
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.errs[name]
}

// waitHealthy polls comp's probe until it succeeds, the process dies, or
// StartTimeout passes.
func waitHealthy(ctx context.Context, c Config, comp component, rec devproc.Record) error {
	start := time.Now()
	deadline := start.Add(c.StartTimeout)
	var last error
	for {
		if !rec.Alive() {
			return fmt.Errorf("%s (pid %d) exited while starting; last lines of %s:\n%s", comp.name, rec.PID, rec.Log, devproc.Tail(rec.Log, 30))
		}
		last = comp.probe(ctx, c, rec)
		if last == nil {
			c.Logger.Info("healthy", "component", comp.name, "after", time.Since(start).Round(10*time.Millisecond))
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", comp.name, ctx.Err())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not healthy after %s: %w; last lines of %s:\n%s", comp.name, c.StartTimeout, last, rec.Log, devproc.Tail(rec.Log, 30))
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// DownOptions tunes Down.
type DownOptions struct {
	// Purge removes the state dir's data (etcd, Temporal database, agent
	// state, PKI, kubeconfigs) after stopping; logs are kept. In server
	// mode it drops the Temporal databases too.
	Purge bool
}

// Down stops every process Up recorded, in stopOrder (the agent alone first
// so it stops its pods, the API server before etcd), each with SIGTERM then
// SIGKILL after the grace period, and removes the pod route if Up added it.
// Nothing running is not an error.
func Down(ctx context.Context, cfg Config, opts DownOptions) error {
	c := cfg.WithDefaults()
	if _, err := os.Stat(c.StateDir); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	unlock, err := devproc.Lock(ctx, c.LockFile(), true)
	if err != nil {
		return err
	}
	defer unlock()
	st, err := devproc.ReadState(c.StateFile())
	if err != nil {
		return err
	}
	comps := components()
	var errs []error
	for _, name := range stopOrder {
		rec, ok := st.Procs[name]
		if !ok {
			continue
		}
		grace := c.StopGrace
		if name == Agent {
			// The agent stops its pods within their own grace periods.
			grace = max(grace, 45*time.Second)
		}
		if rec.Alive() {
			c.Logger.Info("stopping", "component", name, "pid", rec.PID)
		}
		if err := devproc.Stop(ctx, rec, comps[name].group, grace); err != nil {
			errs = append(errs, fmt.Errorf("stop %s: %w", name, err))
			continue
		}
		delete(st.Procs, name)
		if err := devproc.WriteState(c.StateFile(), st); err != nil {
			errs = append(errs, err)
		}
	}
	if st.RouteAdded {
		if busy, err := hostsetup.RouteInUse(st.RouteCIDR); err == nil && busy {
			// Another stack's node agent or Pods listen there: removing the
			// route would send their traffic out of the machine.
			c.Logger.Info("kept the local route: other stacks still listen in it", "cidr", st.RouteCIDR)
		} else if err := hostsetup.RemoveRoute(ctx, st.RouteCIDR); err != nil {
			errs = append(errs, err)
		} else {
			c.Logger.Info("removed local route", "cidr", st.RouteCIDR)
			st.RouteAdded, st.RouteCIDR = false, ""
			if err := devproc.WriteState(c.StateFile(), st); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := os.Remove(c.EnvPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, fmt.Errorf("remove dev.env: %w", err))
	}
	if len(errs) == 0 && opts.Purge && c.Temporal == TemporalServer {
		mainDB, visDB := c.TemporalDatabases()
		for _, db := range []string{mainDB, visDB} {
			if err := hostsetup.DropDatabase(ctx, c.DatabaseURL, db); err != nil {
				errs = append(errs, fmt.Errorf("purge: %w", err))
			}
		}
	}
	if len(errs) == 0 && opts.Purge {
		entries, err := os.ReadDir(c.StateDir)
		if err != nil {
			return fmt.Errorf("purge: %w", err)
		}
		for _, e := range entries {
			if e.Name() == "logs" || e.Name() == "stack.lock" {
				continue
			}
			if err := os.RemoveAll(c.Path(e.Name())); err != nil {
				errs = append(errs, fmt.Errorf("purge: %w", err))
			}
		}
	}
	return errors.Join(errs...)
}

// ComponentStatus is one line of `dayops-dev dev status`.
type ComponentStatus struct {
	Name    string
	PID     int // 0 when not running
	Running bool
	// Health is "ok" or the probe's error.
	Health string
	URL    string
	Log    string
}

// Healthy reports whether the component runs and answers its probe.
func (s ComponentStatus) Healthy() bool { return s.Running && s.Health == "ok" }

// Status probes every component of the configuration once.
func Status(ctx context.Context, cfg Config) ([]ComponentStatus, error) {
	c := cfg.WithDefaults()
	st, err := devproc.ReadState(c.StateFile())
	if err != nil {
		return nil, err
	}
	comps := components()
	out := make([]ComponentStatus, 0, len(startOrder))
	for _, name := range enabledOf(c) {
		comp := comps[name]
		s := ComponentStatus{Name: name, URL: comp.url(c), Log: c.LogPath(name), Health: "not running"}
		if rec, ok := st.Procs[name]; ok && rec.Alive() {
			s.PID, s.Running = rec.PID, true
			if err := comp.probe(ctx, c, rec); err != nil {
				s.Health = err.Error()
			} else {
				s.Health = "ok"
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// Running reports whether every component of the configuration is running
// and healthy.
func Running(ctx context.Context, cfg Config) bool {
	sts, err := Status(ctx, cfg)
	if err != nil {
		return false
	}
	for _, s := range sts {
		if !s.Healthy() {
			return false
		}
	}
	return len(sts) > 0
}

// String formats a stack for humans.
func (s *Stack) String() string {
	var b strings.Builder
	if s.TemporalUI != "" {
		fmt.Fprintf(&b, "Temporal UI:      %s\n", s.TemporalUI)
	} else {
		fmt.Fprintf(&b, "Temporal UI:      none (server mode)\n")
	}
	fmt.Fprintf(&b, "Temporal gRPC:    %s\n", s.TemporalAddress)
	if s.TemporalTLS.Enabled() {
		fmt.Fprintf(&b, "Temporal mTLS:    client %s, key %s, CA %s\n", s.TemporalTLS.Cert, s.TemporalTLS.Key, s.TemporalTLS.CA)
	}
	fmt.Fprintf(&b, "Kubeconfig:       %s   (use bin/kubectl --kubeconfig %s)\n", s.Kubeconfig, s.Kubeconfig)
	fmt.Fprintf(&b, "PostgreSQL:       %s\n", s.DatabaseURL)
	fmt.Fprintf(&b, "dayops API:       %s   (served by `dayops-dev run`)\n", s.APIURL)
	fmt.Fprintf(&b, "Environment:      source %s\n", s.EnvFile)
	return b.String()
}
