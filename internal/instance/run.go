package instance

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dayops/dayops/internal/instance/addrguard"
	"github.com/dayops/dayops/internal/instance/aofrepair"
	"github.com/dayops/dayops/internal/instance/handoff"
	"github.com/dayops/dayops/internal/instance/holdwatch"
	"github.com/dayops/dayops/internal/instance/linkguard"
	"github.com/dayops/dayops/internal/instance/nodesconf"
	"github.com/dayops/dayops/internal/instance/stepaside"
)

// Options of Run.
type Options struct {
	// Args is redis-server's argv, Args[0] the program.
	Args []string
	// Timeout bounds the wait for an unreachable replica before serving
	// anyway (default 60 s). A replica known to be ahead is never bounded:
	// the node stays fenced until it has taken over.
	Timeout time.Duration
	// FollowLimit bounds how long a node that decided to follow a promoted
	// replica (or took over) waits to become its replica (default 2 min);
	// then redis-server is stopped and the manager exits, still fenced, so
	// the container restarts and the fence begins again (never hung fenced).
	FollowLimit time.Duration
	// Signals are forwarded to redis-server.
	Signals <-chan os.Signal
	// Stdout and Stderr of redis-server (default the manager's).
	Stdout, Stderr io.Writer
	// OnStart is called with redis-server's PID (tests use it to kill it).
	OnStart func(pid int)
	// OnServe is called with the marker when a fenced start is lifted.
	OnServe func(Marker)
	Log     *slog.Logger
	// StatusAddr, when set, is where the manager answers StatusPath (the
	// Pod renders it as $(POD_IP):render.InstanceStatusPort).
	StatusAddr string
	// StepAside bounds a primary's handover on SIGTERM (stepaside); 0: none.
	StepAside time.Duration
	// GoneReplicas are the node IDs of replicas known to be gone with their
	// data (Observation.Gone): a fenced former primary does not wait for
	// them. The recover that restarts a shard lost whole sets them on the
	// Pod (render.GoneReplicasEnv).
	GoneReplicas []string
	// HoldGrace is how long a primary held from failover by a slot move
	// stays failed before the manager of its replica takes it over
	// (default holdwatch.DefaultGrace; see package holdwatch).
	HoldGrace time.Duration
}

// ExitError carries redis-server's exit status: the manager exits with it.
type ExitError struct{ Code int }

func (e ExitError) Error() string { return fmt.Sprintf("redis-server exited with status %d", e.Code) }
func (e ExitError) ExitCode() int { return e.Code }

// Run starts redis-server, fences it when nodes.conf says this node was a
// primary with replicas (see the package doc), forwards signals, and returns
// when redis-server exits: nil for status 0, an ExitError otherwise. When ctx
// ends redis-server gets SIGTERM and Run waits for it.
func Run(ctx context.Context, o Options) error {
	if len(o.Args) == 0 {
		return errors.New("instance run: no redis-server command")
	}
	if o.Timeout <= 0 {
		o.Timeout = 60 * time.Second
	}
	if o.FollowLimit <= 0 {
		o.FollowLimit = 2 * time.Minute
	}
	log := o.Log
	if log == nil {
		log = slog.Default()
	}
	b, err := readBoot(o.Args)
	if err != nil {
		return err
	}
	b.obs.Gone = o.GoneReplicas
	switch {
	case b.err != nil:
		log.Warn("could not check or repair the AOF (a kill in its first rewrite after a sync leaves it on older data)", "err", b.err)
	case b.aof.Stale:
		log.Warn("the AOF was left on the data from before a full resync (killed in its first rewrite)", "repaired", b.aof.Repaired,
			"base", b.aof.Base, "incr", b.aof.Incr, "snapshot", b.aof.Snapshot, "not_repaired_because", b.aof.Reason)
	}
	var status *statusServer
	if o.StatusAddr != "" {
		status = startStatus(o.StatusAddr, b, log)
		defer status.stop()
	}
	argv := o.Args
	var fencePass string
	if b.fence {
		r := make([]byte, 16)
		_, _ = rand.Read(r)
		fencePass = "fence-" + hex.EncodeToString(r)
		argv = append(append([]string(nil), o.Args...), "--requirepass", fencePass)
	}
	if !b.fence && b.obs.NodesConf && !b.obs.WasPrimary {
		guardPrimaryAddr(ctx, log, b.cfg)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = orDefault(o.Stdout, os.Stdout), orDefault(o.Stderr, os.Stderr)
	started := time.Now()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", argv[0], err)
	}
	// Why fenced or not: nodes.conf's view of this node at the start.
	log.Info("redis-server started", "pid", cmd.Process.Pid, "fenced", b.fence, "aof", b.obs.AOF, "node_id", b.obs.SelfID,
		"nodes_conf", b.obs.NodesConf, "was_primary", b.obs.WasPrimary, "replicas_in_nodes_conf", len(nodesconf.ReplicasOf(b.nodes, b.obs.SelfID)),
		"aof_files", aofrepair.Files(b.cfg.AppendDir))
	if o.OnStart != nil {
		o.OnStart(cmd.Process.Pid)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	r := &relay{cmd: cmd}

	if b.fence {
		if ended, err := fenceUntilServing(ctx, o, log, b, fencePass, started, r, exited, status); ended {
			return err
		}
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go holdwatch.Watch(watchCtx, holdwatch.Options{Addr: b.cfg.Addr(), Password: cmp.Or(b.cfg.Requirepass, b.cfg.Masterauth),
		Grace: o.HoldGrace, Log: log})
	go linkguard.Watch(watchCtx, linkguard.Options{Addr: b.cfg.Addr(), Password: cmp.Or(b.cfg.Requirepass, b.cfg.Masterauth),
		Log: log.With("guard", "replication-link")})
	r.beforeTerm = func() {
		stepaside.Run(ctx, stepaside.Options{Addr: b.cfg.Addr(), Password: cmp.Or(b.cfg.Requirepass, b.cfg.Masterauth),
			Wait: o.StepAside, Log: log.With("step", "step-aside")})
	}
	err = forward(ctx, o.Signals, r, exited)
	log.Info("redis-server exited", "err", err, "aof_files", aofrepair.Files(b.cfg.AppendDir))
	return err
}

// relay passes signals to redis-server. Redis ignores a SIGTERM while it
// writes its first AOF after a sync ("Writing initial AOF, can't exit"):
// after one, SIGTERM is sent again every second (again) until it exits,
// fenced or serving.
type relay struct {
	cmd        *exec.Cmd
	again      <-chan time.Time
	beforeTerm func() // once, before the first SIGTERM from signals
}

func (r *relay) send(s os.Signal) {
	_ = r.cmd.Process.Signal(s)
	if s == syscall.SIGTERM && r.again == nil {
		r.again = time.Tick(time.Second)
	}
}

// forward relays signals until redis-server exits, and a SIGTERM when ctx
// ends.
func forward(ctx context.Context, signals <-chan os.Signal, r *relay, exited <-chan error) error {
	done := ctx.Done()
	for {
		select {
		case s := <-signals:
			if f := r.beforeTerm; s == syscall.SIGTERM && f != nil {
				r.beforeTerm = nil
				f()
			}
			r.send(s)
		case <-done:
			done = nil
			r.send(syscall.SIGTERM)
		case <-r.again:
			r.send(syscall.SIGTERM)
		case err := <-exited:
			return exitStatus(err)
		}
	}
}

// stop sends redis-server SIGTERM, again every second (a fence that failed
// may leave it in the first AOF rewrite of a sync, which ignores one), and
// relays signals until it exits.
func stop(ctx context.Context, signals <-chan os.Signal, r *relay, exited <-chan error) error {
	r.send(syscall.SIGTERM)
	return forward(ctx, signals, r, exited)
}

// guardPrimaryAddr keeps a replica from replicating whatever node now
// answers at its primary's old address (addrguard).
func guardPrimaryAddr(ctx context.Context, log *slog.Logger, cfg RedisConfig) {
	g, err := addrguard.Guard(ctx, cfg.NodesConf, cfg.Addr(), cmp.Or(cfg.Masterauth, cfg.Requirepass))
	if err != nil {
		log.Warn("could not check the primary's address in nodes.conf", "err", err)
	} else if g.Rewritten {
		log.Warn("the primary's address in nodes.conf answers as another node: not replicating from it until the cluster bus gives the primary's address",
			"primary", g.PrimaryID, "addr", g.Addr, "found", g.Found)
	}
}

// boot is what the manager reads before it starts redis-server.
type boot struct {
	cfg   RedisConfig
	nodes []nodesconf.Node
	obs   Observation
	fence bool
	aof   aofrepair.Result
	err   error // of the AOF's repair
}

// readBoot reads redis-server's configuration from its arguments and the
// nodes.conf it names, and tells whether the node starts fenced.
func readBoot(args []string) (boot, error) {
	wd, err := os.Getwd()
	if err != nil {
		return boot{}, err
	}
	cfg, err := ParseRedisArgs(args[1:], wd)
	if err != nil {
		return boot{}, err
	}
	nodes, exists, err := nodesconf.Read(cfg.NodesConf)
	if err != nil {
		return boot{}, err
	}
	var aof aofrepair.Result
	if cfg.AppendOnly { // before the AOF is looked at: Redis loads the repaired one
		aof, err = aofrepair.Repair(aofrepair.Paths{Dir: cfg.AppendDir, File: cfg.AppendFile, Snapshot: cfg.DBFile})
	}
	obs := Observation{NodesConf: exists, AOF: StatAOF(cfg)}
	if obs.AOF == AOFPresent {
		obs.AOFWritten = LastAOFWrite(cfg)
	}
	if self, ok := nodesconf.Self(nodes); ok {
		obs.SelfID, obs.WasPrimary, obs.OpenSlots, obs.Slots = self.ID, self.Primary(), self.OpenSlots, self.Slots
	}
	return boot{cfg: cfg, nodes: nodes, obs: obs, fence: NeedsFence(nodes, exists), aof: aof, err: err}, nil
}

// startStatus serves the status endpoint (nil when it cannot: the manager
// runs on without it).
func startStatus(addr string, b boot, log *slog.Logger) *statusServer {
	st := Status{Fenced: b.fence}
	if m, ok, err := ReadMarker(b.cfg.Dir); err != nil {
		log.Warn("fence marker", "err", err)
	} else if ok {
		st.Marker = &m
	}
	// A notice's bearer is the password that reaches this node (what the
	// recover dials it with): its requirepass first. The fence dials its
	// peers the other way round (masterauth first: what reaches them).
	// dayops renders both the same; a hand-set pair differs only here.
	token := cmp.Or(b.cfg.Requirepass, b.cfg.Masterauth)
	status, err := serveStatus(addr, st, token, log)
	if err != nil {
		log.Warn("no status endpoint", "err", err)
	}
	return status
}

// fenceUntilServing runs the fence while forwarding signals, then lifts it
// (marker, status, OnServe). ended tells Run to return err: redis-server
// exited meanwhile, or the fence failed and redis-server was stopped.
func fenceUntilServing(ctx context.Context, o Options, log *slog.Logger, b boot, fencePass string, started time.Time,
	r *relay, exited <-chan error, status *statusServer) (ended bool, err error) {
	fctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	var m Marker
	var ferr error
	go func() {
		defer close(done)
		m, ferr = runFence(fctx, log, b.cfg, fencePass, b.nodes, b.obs, fenceLimits{wait: o.Timeout, follow: o.FollowLimit, told: status.gone}, started)
	}()
wait:
	for {
		select {
		case <-done:
			break wait
		case s := <-o.Signals:
			r.send(s)
		case <-r.again:
			r.send(syscall.SIGTERM)
		case err := <-exited:
			cancel()
			<-done
			return true, exitStatus(err)
		}
	}
	cancel()
	if ferr != nil && ctx.Err() == nil {
		log.Error("fence failed; stopping redis-server", "err", ferr)
		_ = stop(ctx, o.Signals, r, exited)
		return true, ferr
	}
	if ferr == nil {
		if err := WriteMarker(b.cfg.Dir, m); err != nil {
			log.Error("fence marker", "err", err)
		}
		status.set(func(st *Status) { st.Fenced, st.Marker = false, &m })
		log.Info("fence lifted", "action", m.Decision.Action, "reason", m.Decision.Reason,
			"role", m.Role, "serve_after", m.ServeAfter.Round(time.Millisecond))
		if o.OnServe != nil {
			o.OnServe(m)
		}
	}
	return false, nil
}

func orDefault(w, def io.Writer) io.Writer {
	if w == nil {
		return def
	}
	return w
}

func exitStatus(err error) error {
	if err == nil {
		return nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return ExitError{Code: 128 + int(ws.Signal())}
		}
		return ExitError{Code: ee.ExitCode()}
	}
	return err
}

// fenceLimits bound the fence: wait for unreachable replicas (then
// serve), follow a promoted one (then fail, and the container restarts);
// told, when set, names more members gone with their data (gonenotice).
type fenceLimits struct {
	wait, follow time.Duration
	told         func() []string
}

// runFence observes, decides and acts until the node may serve, then lifts
// the fence.
func runFence(ctx context.Context, log *slog.Logger, cfg RedisConfig, pass string, nodes []nodesconf.Node,
	obs Observation, limits fenceLimits, started time.Time) (Marker, error) {
	m := Marker{ID: strconv.FormatInt(started.UnixNano(), 36) + "-" + strconv.Itoa(os.Getpid()), Started: started.UTC()}
	self := redis.NewClient(&redis.Options{Addr: cfg.Addr(), Password: pass, Protocol: 2, DisableIdentity: true,
		MaxRetries: -1, DialTimeout: time.Second, ReadTimeout: 2 * time.Second})
	defer self.Close()
	peerPass := cmp.Or(cfg.Masterauth, cfg.Requirepass)
	if err := waitLoaded(ctx, self); err != nil {
		return m, err
	}
	me, _ := nodesconf.Self(nodes)
	deadline := started.Add(limits.wait)
	var following time.Time // when the first wait to follow began
	for {
		if ctx.Err() != nil {
			return m, ctx.Err()
		}
		o := obs
		if limits.told != nil {
			for _, id := range limits.told() {
				if !slices.Contains(o.Gone, id) {
					o.Gone = append(slices.Clip(o.Gone), id)
				}
			}
		}
		var err error
		if o.Self, _, err = replication(ctx, self); err != nil {
			log.Warn("fence: read own replication state", "err", err)
			sleep(ctx, 200*time.Millisecond)
			continue
		}
		o.Replicas = observeReplicas(ctx, self, nodesconf.ReplicasOf(nodes, me.ID), o.Gone, peerPass)
		d := Decide(o)
		m.Observation = o
		m.Decisions = append(m.Decisions, d)
		log.Info("fence decision", "action", d.Action, "reason", d.Reason, "self", o.Self, "replicas", peerSummary(o.Replicas))
		switch d.Action {
		case Serve:
		case Wait:
			if time.Now().Before(deadline) {
				sleep(ctx, 500*time.Millisecond)
				continue
			}
			m.Unverified = true
		case Takeover:
			peer := peerClient(d.Target.Addr, peerPass)
			err := peer.Do(ctx, "CLUSTER", "FAILOVER", "TAKEOVER").Err()
			peer.Close()
			if err != nil {
				log.Warn("fence: takeover refused", "replica", d.Target.Addr, "err", err)
				sleep(ctx, 500*time.Millisecond)
				continue
			}
			handOverOpenSlots(ctx, log, nodes, me, d.Target, peerPass)
			fallthrough
		case Follow:
			if ok, err := follow(ctx, log, self, d.Target, peerPass, &m, &following, limits.follow); !ok {
				if err != nil {
					return m, err
				}
				continue
			}
		}
		m.Decision = withStepDown(d, m.StepDown)
		break
	}
	m.Role = servingRole(ctx, self)
	// Lift: the configured password (possibly none) replaces the fence's.
	if err := self.ConfigSet(ctx, "requirepass", cfg.Requirepass).Err(); err != nil {
		return m, fmt.Errorf("lift the fence: %w", err)
	}
	m.Served = time.Now().UTC()
	m.ServeAfter = m.Served.Sub(started)
	return m, nil
}

// observeReplicas looks at each replica where the cluster bus says it is
// now (its nodes.conf address otherwise). One known gone with its data is
// not dialled: a deleted Pod's address may not answer at all, and each
// look would wait out the dial timeout.
func observeReplicas(ctx context.Context, self *redis.Client, replicas []nodesconf.Node, gone []string, pass string) []Peer {
	var out []Peer
	addrs := liveAddrs(ctx, self)
	for _, r := range replicas {
		if a := addrs[r.ID]; a != "" {
			r.Addr = a
		}
		if slices.Contains(gone, r.ID) {
			out = append(out, Peer{ID: r.ID, Addr: r.Addr, Error: "gone with its data"})
			continue
		}
		out = append(out, observePeer(ctx, r, pass))
	}
	return out
}

// waitLoaded waits until the data is loaded (PING answers LOADING until
// then).
func waitLoaded(ctx context.Context, self *redis.Client) error {
	for self.Ping(ctx).Err() != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		sleep(ctx, 50*time.Millisecond)
	}
	return nil
}

// withStepDown adds a step-down that made the node a replica to the
// decision's reason (the audit log's Fenced event carries it).
func withStepDown(d Decision, sd *StepDown) Decision {
	if sd != nil && sd.Error == "" {
		d.Reason += fmt.Sprintf("; Redis did not make it a replica, the manager did (%d keys and %d slots of other primaries discarded)",
			sd.Discarded, sd.Unassigned)
	}
	return d
}

// servingRole is the role the node serves in once unfenced.
func servingRole(ctx context.Context, self *redis.Client) string {
	if n, err := myself(ctx, self); err == nil && !n.Primary() {
		return "replica"
	}
	return "primary"
}

// follow waits (20 s at most) until this node is the replica of target,
// the promoted replica it decided to follow. ok: it is. Not ok and no
// error: look again. When Redis has not made it a replica within
// StepDownAfter of the first wait, the manager does (handoff.StepDown, once:
// m.StepDown records it). An error: it has been following (since
// *following, set at its first call) for longer than limit; the manager
// gives up, still fenced, so that the container restarts and the fence
// begins again with a fresh process.
func follow(ctx context.Context, log *slog.Logger, self *redis.Client, target *Peer, pass string, m *Marker,
	following *time.Time, limit time.Duration) (ok bool, err error) {
	if following.IsZero() {
		*following = time.Now()
	}
	werr := waitReplicaOf(ctx, self, target.ID, min(StepDownAfter, limit))
	if werr == nil {
		return true, nil
	}
	if ctx.Err() == nil && m.StepDown == nil {
		stepDown(ctx, log, self, target, pass, m)
		if werr = waitReplicaOf(ctx, self, target.ID, min(20*time.Second, limit)); werr == nil {
			return true, nil
		}
	}
	if ctx.Err() == nil && time.Since(*following) >= limit {
		return false, fmt.Errorf("fence: not a replica of the new primary %s %s after deciding to follow it (%v): "+
			"exiting, still fenced, so that the container restarts and the fence begins again", short(target.ID),
			time.Since(*following).Round(time.Second), werr)
	}
	log.Warn("fence: not yet a replica of the new primary", "primary", target.Addr, "err", werr)
	return false, nil
}

// StepDownAfter is how long the fence waits for Redis to make a node that
// follows a replica before it does so itself: Redis demotes a former
// primary within a ping or two of hearing the new primary's claim, or not
// at all.
const StepDownAfter = 10 * time.Second

// stepDown runs handoff.StepDown against the new primary; m.StepDown records
// the attempt (its error too: the node is not discarded twice).
func stepDown(ctx context.Context, log *slog.Logger, self *redis.Client, target *Peer, pass string, m *Marker) {
	np := peerClient(target.Addr, pass)
	defer np.Close()
	r, err := handoff.StepDown(ctx, self, np, target.ID)
	m.StepDown = &StepDown{Result: r}
	if err != nil {
		m.StepDown.Error = err.Error()
		log.Error("fence: Redis did not make this node a replica of the new primary, and it cannot be made one safely",
			"primary", target.Addr, "err", err)
		return
	}
	log.Warn("fence: Redis did not make this node a replica of the new primary; the manager did (CLUSTER REPLICATE)",
		"primary", target.Addr, "discarded_keys", r.Discarded, "unassigned_slots", r.Unassigned, "closed_slots", r.Closed)
}

// peerSummary is what the manager saw of each replica, for its log: the
// line that explains a decision when the marker is gone with the Pod.
func peerSummary(peers []Peer) []string {
	out := make([]string, 0, len(peers))
	for _, p := range peers {
		if !p.Reachable {
			out = append(out, fmt.Sprintf("%s@%s unreachable: %s", short(p.ID), p.Addr, p.Error))
			continue
		}
		role := "replica of " + short(p.MasterID)
		if p.Primary {
			role = fmt.Sprintf("primary (%d slot ranges)", p.Slots)
		}
		out = append(out, fmt.Sprintf("%s@%s %s, offset %d of %s", short(p.ID), p.Addr, role, p.Repl.Offset, short(p.Repl.Replid)))
	}
	return out
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func peerClient(addr, pass string) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: addr, Password: pass, Protocol: 2, DisableIdentity: true,
		MaxRetries: -1, DialTimeout: time.Second, ReadTimeout: 2 * time.Second, WriteTimeout: 2 * time.Second})
}

func observePeer(ctx context.Context, n nodesconf.Node, pass string) Peer {
	p := Peer{ID: n.ID, Addr: n.Addr}
	c := peerClient(n.Addr, pass)
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	me, err := myself(ctx, c)
	if err != nil {
		p.Error = err.Error()
		return p
	}
	if me.ID != n.ID {
		p.Error = fmt.Sprintf("%s is node %s now", n.Addr, short(me.ID))
		return p
	}
	repl, down, err := replication(ctx, c)
	if err != nil {
		p.Error = err.Error()
		return p
	}
	p.Reachable, p.Primary, p.MasterID, p.Slots, p.Repl, p.LinkDownAt = true, me.Primary(), me.MasterID, me.Slots, repl, down
	p.StartedAt = startedAt(ctx, c)
	return p
}

// liveAddrs are the nodes' addresses as the node's own redis-server knows
// them now, by node ID (nil when it does not answer). nodes.conf holds the
// addresses of the node's last run: a replica whose Pod was recreated
// meanwhile (a shard that lost every Pod at once, brought back on its
// volumes) has a new address, which the cluster bus's gossip brings within
// seconds; without it the fence waited its whole timeout for a replica it
// looked for at the old one.
func liveAddrs(ctx context.Context, self *redis.Client) map[string]string {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	s, err := self.ClusterNodes(ctx).Result()
	if err != nil {
		return nil
	}
	nodes, err := nodesconf.Parse([]byte(s))
	if err != nil {
		return nil
	}
	out := map[string]string{}
	for _, n := range nodes {
		if host, _, ok := strings.Cut(n.Addr, ":"); ok && host != "" && !slices.Contains(n.Flags, "noaddr") {
			out[n.ID] = n.Addr
		}
	}
	return out
}

func myself(ctx context.Context, c *redis.Client) (nodesconf.Node, error) {
	s, err := c.ClusterNodes(ctx).Result()
	if err != nil {
		return nodesconf.Node{}, fmt.Errorf("cluster nodes: %w", err)
	}
	nodes, err := nodesconf.Parse([]byte(s))
	if err != nil {
		return nodesconf.Node{}, err
	}
	me, ok := nodesconf.Self(nodes)
	if !ok {
		return nodesconf.Node{}, errors.New("cluster nodes: no myself line")
	}
	return me, nil
}

// startedAt is when a node's redis-server started (zero when it does not
// say).
func startedAt(ctx context.Context, c *redis.Client) time.Time {
	s, err := c.Info(ctx, "server").Result()
	if err != nil {
		return time.Time{}
	}
	read := time.Now()
	for _, line := range strings.Split(s, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "uptime_in_seconds:"); ok {
			if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
				return read.Add(-time.Duration(secs) * time.Second)
			}
		}
	}
	return time.Time{}
}

// replication reads a node's replication position, and for a replica
// whose link to its primary is down, since when (zero otherwise).
func replication(ctx context.Context, c *redis.Client) (Replication, time.Time, error) {
	s, err := c.Info(ctx, "replication").Result()
	if err != nil {
		return Replication{}, time.Time{}, fmt.Errorf("info replication: %w", err)
	}
	read := time.Now()
	var r Replication
	var down time.Time
	for _, line := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		switch k {
		case "master_replid":
			r.Replid = v
		case "master_replid2":
			if strings.Trim(v, "0") != "" {
				r.Replid2 = v
			}
		case "master_repl_offset":
			r.Offset, _ = strconv.ParseInt(v, 10, 64)
		case "second_repl_offset":
			r.SecondOffset, _ = strconv.ParseInt(v, 10, 64)
		case "master_link_down_since_seconds":
			// -1: the link never came up since the replica last synced.
			if secs, err := strconv.ParseInt(v, 10, 64); err == nil && secs >= 0 {
				down = read.Add(-time.Duration(secs) * time.Second)
			}
		}
	}
	return r, down, nil
}

// waitReplicaOf waits until the node replicates primary (the new primary's
// epoch reached it over the cluster bus).
func waitReplicaOf(ctx context.Context, self *redis.Client, primary string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		me, err := myself(ctx, self)
		if err == nil && !me.Primary() && me.MasterID == primary {
			return nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = fmt.Errorf("still %s of %q", strings.Join(me.Flags, ","), me.MasterID)
			}
			return fmt.Errorf("wait to replicate %s: %w", short(primary), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
