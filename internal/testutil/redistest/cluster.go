package redistest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/dayops/dayops/internal/redis/clusteradmin"
	"github.com/dayops/dayops/internal/redis/noaddr"
	"github.com/dayops/dayops/internal/testutil/porthold"
	"github.com/dayops/dayops/internal/topology"
)

// Options describe a cluster to start.
type Options struct {
	Primaries          int
	ReplicasPerPrimary int
	// RedisServer is the redis-server binary (default "redis-server" on PATH).
	RedisServer string
	// Dir holds the nodes' directories (default: a new temporary directory
	// under /dev/shm when it exists, else under $TMPDIR, removed by Close).
	// Only nodes.conf and the logs are written (no RDB, no AOF); memory
	// backed storage keeps a busy disk's fsync of nodes.conf from stalling
	// tests.
	Dir string
	// Config is extra redis-server arguments for every node, e.g.
	// []string{"--maxmemory", "1gb"}.
	Config []string
	// Log receives the admin functions' logs (default: discarded).
	Log *slog.Logger
	// Limits for the Admin the cluster is built with.
	Limits clusteradmin.Limits
	// Password, when set, is every node's requirepass and masterauth; the
	// Admin, ClusterClient and Check use it (as dayops' clusters have one).
	Password string
}

// Node is one redis-server process.
type Node struct {
	Addr    string
	Port    int
	BusPort int
	Dir     string
	cmd     *exec.Cmd
	exited  chan struct{}
	bin     string
	args    []string
	pass    string
	mu      sync.Mutex // guards cmd and exited, which Restart replaces
}

// Cluster is a set of running nodes and an Admin to operate them.
type Cluster struct {
	Admin  *clusteradmin.Admin
	Pool   *clusteradmin.ClientPool
	opts   Options
	dir    string
	ownDir bool

	mu    sync.Mutex
	nodes []*Node
}

// New starts a cluster for a test and stops it at cleanup.
func New(t testing.TB, opts Options) *Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	c, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("start redis cluster: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Start starts Primaries + Primaries*ReplicasPerPrimary nodes, meets them,
// splits the slots evenly over the primaries, attaches the replicas and
// waits for cluster_state:ok everywhere.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Primaries <= 0 {
		return nil, errors.New("redistest: need at least one primary")
	}
	if opts.RedisServer == "" {
		opts.RedisServer = "redis-server"
	}
	c := &Cluster{opts: opts, dir: opts.Dir}
	if c.dir == "" {
		d, err := os.MkdirTemp(defaultParent(), "redistest-")
		if err != nil {
			return nil, fmt.Errorf("redistest: %w", err)
		}
		c.dir, c.ownDir = d, true
	}
	c.Pool = clusteradmin.NewClientPool(redis.Options{Password: opts.Password})
	c.Admin = clusteradmin.New(c.Pool, opts.Log, opts.Limits)
	c.Admin.MigratePassword = opts.Password // MIGRATE authenticates to the target itself
	ok := false
	defer func() {
		if !ok {
			_ = c.Close()
		}
	}()
	var primaries, all []string
	for range opts.Primaries {
		n, err := c.StartNode(ctx)
		if err != nil {
			return nil, err
		}
		primaries = append(primaries, n.Addr)
	}
	all = append(all, primaries...)
	replicas := map[string][]string{}
	for _, p := range primaries {
		for range opts.ReplicasPerPrimary {
			n, err := c.StartNode(ctx)
			if err != nil {
				return nil, err
			}
			replicas[p] = append(replicas[p], n.Addr)
			all = append(all, n.Addr)
		}
	}
	if _, err := c.Admin.Meet(ctx, clusteradmin.MeetInput{Addrs: all}); err != nil {
		return nil, fmt.Errorf("redistest: %w", err)
	}
	for i, r := range topology.EvenSplit(len(primaries)) {
		if _, err := c.Admin.AssignSlots(ctx, clusteradmin.AssignSlotsInput{Addr: primaries[i], Ranges: topology.Ranges{r}}); err != nil {
			return nil, fmt.Errorf("redistest: %w", err)
		}
	}
	for _, p := range primaries {
		for _, r := range replicas[p] {
			if _, err := c.Admin.Replicate(ctx, clusteradmin.ReplicateInput{ReplicaAddr: r, PrimaryAddr: p}); err != nil {
				return nil, fmt.Errorf("redistest: %w", err)
			}
		}
	}
	if _, err := c.Admin.WaitConverged(ctx, clusteradmin.WaitConvergedInput{Addrs: all, RequireStateOK: true}); err != nil {
		return nil, fmt.Errorf("redistest: %w", err)
	}
	for _, p := range primaries {
		for _, r := range replicas[p] {
			if _, err := c.Admin.WaitInSync(ctx, clusteradmin.WaitInSyncInput{ReplicaAddr: r}); err != nil {
				// Its log and its primary's say why (seen once under make
				// test's load: the link stayed down for 2 minutes).
				return nil, fmt.Errorf("redistest: %w\nreplica %s log:\n%s\nprimary %s log:\n%s", err, r, c.logTail(r, 12), p, c.logTail(p, 12))
			}
		}
	}
	ok = true
	return c, nil
}

// logTail is the last n lines of the redis.log of the node at addr.
func (c *Cluster) logTail(addr string, n int) string {
	for _, node := range c.Nodes() {
		if node.Addr == addr {
			b, _ := os.ReadFile(filepath.Join(node.Dir, "redis.log"))
			return lastLines(string(b), n)
		}
	}
	return ""
}

func defaultParent() string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if f, err := os.CreateTemp("/dev/shm", ".redistest-probe-"); err == nil {
			f.Close()
			os.Remove(f.Name())
			return "/dev/shm"
		}
	}
	return ""
}

// StartNode starts one more empty cluster-mode node (not yet met).
func (c *Cluster) StartNode(ctx context.Context) (*Node, error) {
	var lastErr error
	for range 5 {
		n, err := c.startNode(ctx)
		if err == nil {
			c.mu.Lock()
			c.nodes = append(c.nodes, n)
			c.mu.Unlock()
			return n, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func (c *Cluster) startNode(ctx context.Context) (*Node, error) {
	port, err := freePort(0)
	if err != nil {
		return nil, err
	}
	bus, err := freePort(port)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(c.dir, strconv.Itoa(port))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("redistest: %w", err)
	}
	args := []string{
		"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--protected-mode", "no",
		"--cluster-enabled", "yes", "--cluster-port", strconv.Itoa(bus),
		"--cluster-config-file", filepath.Join(dir, "nodes.conf"), "--cluster-node-timeout", "5000",
		"--dir", dir, "--save", "", "--appendonly", "no", "--daemonize", "no",
		"--logfile", filepath.Join(dir, "redis.log"),
	}
	if c.opts.Password != "" {
		args = append(args, "--requirepass", c.opts.Password, "--masterauth", c.opts.Password)
	}
	args = append(args, c.opts.Config...)
	n := &Node{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Port: port, BusPort: bus, Dir: dir,
		bin: c.opts.RedisServer, args: args, pass: c.opts.Password}
	if err := n.start(); err != nil {
		return nil, err
	}
	return n, n.waitPing(ctx)
}

// start starts the node's redis-server.
func (n *Node) start() error {
	n.Release()
	cmd := exec.Command(n.bin, n.args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("redistest: start %s: %w", n.bin, err)
	}
	exited := make(chan struct{})
	n.mu.Lock()
	n.cmd, n.exited = cmd, exited
	n.mu.Unlock()
	go func() { _ = cmd.Wait(); close(exited) }()
	return nil
}

// Restart SIGKILLs the node's redis-server and starts it again with the
// same arguments, directory and ports (its nodes.conf, and its AOF when
// the cluster's Config turns AOF on): a process crash and a container
// restart.
func (n *Node) Restart(ctx context.Context) error {
	n.kill()
	if err := n.start(); err != nil {
		return err
	}
	return n.waitPing(ctx)
}

// waitPing waits until the node answers PING (10 s at most).
func (n *Node) waitPing(ctx context.Context) error {
	port, dir := n.Port, n.Dir
	cl := redis.NewClient(&redis.Options{Addr: n.Addr, Password: n.pass, MaxRetries: -1, Protocol: 2, DisableIdentity: true})
	defer cl.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := cl.Ping(ctx).Err(); err == nil {
			return nil
		}
		select {
		case <-n.process().exited:
			log, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
			return fmt.Errorf("redistest: redis-server on port %d exited: %s", port, lastLines(string(log), 5))
		case <-ctx.Done():
			n.kill()
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			n.kill()
			return fmt.Errorf("redistest: redis-server on port %d did not answer PING", port)
		}
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// freePort finds a port in [20000, 30000) free on 127.0.0.1, other than
// avoid and the ports of killed nodes (porthold), by binding it.
func freePort(avoid int) (int, error) {
	start := 20000 + rand.IntN(10000)
	for i := range 10000 {
		p := 20000 + (start-20000+i)%10000
		if p == avoid || porthold.Held(p) {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		_ = l.Close()
		return p, nil
	}
	return 0, errors.New("redistest: no free port in [20000,30000)")
}

func (n *Node) kill() {
	if p := n.process(); p.cmd.Process != nil {
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// Pid is the process ID of the node's redis-server.
func (n *Node) Pid() int { return n.process().cmd.Process.Pid }

type proc struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

// process is the node's current redis-server and the channel closed when
// it exits.
func (n *Node) process() proc {
	n.mu.Lock()
	defer n.mu.Unlock()
	return proc{n.cmd, n.exited}
}

// CPUTime is the CPU time (user + system) the node's process has used so
// far, read from /proc (0 where /proc is not available).
func (n *Node) CPUTime() time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", n.Pid()))
	if err != nil {
		return 0
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s)
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ is 100 on Linux
}

// Kill stops the node at once (SIGKILL). Its ports are held (porthold:
// no test picks them, and nothing answers there) until it starts again
// (Restart, StartAgain on them), Release or the cluster's Close: no other
// test's redis-server answers at its address.
func (n *Node) Kill() {
	n.kill()
	porthold.Hold(n.Port)
	porthold.Hold(n.BusPort)
}

// Release gives back the ports of a killed node, for a test that starts a
// process on them itself.
func (n *Node) Release() {
	porthold.Release(n.Port)
	porthold.Release(n.BusPort)
}

// Promotion says how the node was made a primary, read from its log:
// "takeover" (CLUSTER FAILOVER TAKEOVER), "election" (Redis' own failover
// of a failed primary), "" (neither).
func (n *Node) Promotion() string {
	b, _ := os.ReadFile(filepath.Join(n.Dir, "redis.log"))
	switch {
	case bytes.Contains(b, []byte("Failover election won")):
		return "election"
	case bytes.Contains(b, []byte("Taking over the master (user request)")):
		return "takeover"
	}
	return ""
}

// Args is the node's redis-server command line (the program first): what
// a test gives an instance manager that runs the node instead.
func (n *Node) Args() []string { return append([]string{n.bin}, n.args...) }

// Nodes returns every node started, in start order.
func (c *Cluster) Nodes() []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Node(nil), c.nodes...)
}

// Addrs returns the address of every running node.
func (c *Cluster) Addrs() []string {
	var out []string
	for _, n := range c.Nodes() {
		select {
		case <-n.process().exited:
		default:
			out = append(out, n.Addr)
		}
	}
	return out
}

// AddPrimary starts a new empty node and meets it with the cluster.
func (c *Cluster) AddPrimary(ctx context.Context) (*Node, error) {
	seeds := c.Addrs()
	n, err := c.StartNode(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := c.Admin.Meet(ctx, clusteradmin.MeetInput{Addrs: append(seeds, n.Addr), RequireStateOK: true}); err != nil {
		return nil, fmt.Errorf("redistest: %w", err)
	}
	return n, nil
}

// AddReplica starts a new node, meets it with the cluster and makes it a
// replica of primaryID, and returns once every running node lists it as
// that primary's replica: a plan computed before then (topology.Rebalance
// over View) could count it as an empty primary and move slots to it.
func (c *Cluster) AddReplica(ctx context.Context, primaryID string) (*Node, error) {
	n, err := c.StartNode(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := c.Admin.Meet(ctx, clusteradmin.MeetInput{Addrs: c.Addrs()}); err != nil {
		return nil, fmt.Errorf("redistest: %w", err)
	}
	if err := c.Pool.Client(n.Addr).Do(ctx, "cluster", "replicate", primaryID).Err(); err != nil {
		return nil, fmt.Errorf("redistest: replicate %s on %s: %w", primaryID, n.Addr, err)
	}
	id, err := c.NodeID(ctx, n.Addr)
	if err != nil {
		return nil, err
	}
	err = c.Admin.Poll(ctx, 30*time.Second, "redistest: "+n.Addr+" a replica of "+primaryID+" on every node",
		func(ctx context.Context) (bool, string, error) {
			seen := 0
			for _, addr := range c.Addrs() {
				text, err := c.Pool.Client(addr).ClusterNodes(ctx).Result()
				if err != nil {
					continue
				}
				if v, err := clusteradmin.ParseClusterNodes(text); err == nil && v.Nodes[id].PrimaryID == primaryID {
					seen++
				}
			}
			return seen == len(c.Addrs()), fmt.Sprintf("%d of %d nodes see it", seen, len(c.Addrs())), nil
		})
	if err != nil {
		return nil, err
	}
	return n, nil
}

// View returns the cluster as the first running node sees it.
func (c *Cluster) View(ctx context.Context) (clusteradmin.ClusterView, error) {
	addrs := c.Addrs()
	if len(addrs) == 0 {
		return clusteradmin.ClusterView{}, errors.New("redistest: no node running")
	}
	text, err := c.Pool.Client(addrs[0]).ClusterNodes(ctx).Result()
	if err != nil {
		return clusteradmin.ClusterView{}, err
	}
	return clusteradmin.ParseClusterNodes(text)
}

// NodeID returns the node ID of addr.
func (c *Cluster) NodeID(ctx context.Context, addr string) (string, error) {
	return c.Pool.Client(addr).ClusterMyID(ctx).Result()
}

// ClusterClient returns a new cluster client for the nodes (the caller
// closes it). It follows MOVED/ASK as applications do.
func (c *Cluster) ClusterClient() *redis.ClusterClient {
	return redis.NewClusterClient(noaddr.Guard(&redis.ClusterOptions{
		Addrs:           c.Addrs(),
		Password:        c.opts.Password,
		MaxRedirects:    16,
		DisableIdentity: true,
		Protocol:        2,
		ReadTimeout:     10 * time.Second,
		WriteTimeout:    10 * time.Second,
	}))
}

// Check verifies the cluster is healthy: every running node agrees,
// cluster_state is ok, all slots are covered, no slot is open anywhere, and
// redis-cli --cluster check reports OK.
func (c *Cluster) Check(ctx context.Context) error {
	addrs := c.Addrs()
	res, err := c.Admin.WaitConverged(ctx, clusteradmin.WaitConvergedInput{Addrs: addrs, RequireStateOK: true, Timeout: 30 * time.Second})
	if err != nil {
		return err
	}
	if err := res.Layout.Validate(); err != nil {
		return fmt.Errorf("layout: %w", err)
	}
	for _, a := range addrs {
		text, err := c.Pool.Client(a).ClusterNodes(ctx).Result()
		if err != nil {
			return err
		}
		v, err := clusteradmin.ParseClusterNodes(text)
		if err != nil {
			return err
		}
		if len(v.Myself.Migrating)+len(v.Myself.Importing) > 0 {
			return fmt.Errorf("%s has open slots: migrating %v importing %v", a, v.Myself.Migrating, v.Myself.Importing)
		}
	}
	cli := []string{"--cluster", "check", addrs[0]}
	if c.opts.Password != "" {
		cli = append(cli, "--no-auth-warning", "-a", c.opts.Password)
	}
	out, err := exec.CommandContext(ctx, "redis-cli", cli...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("redis-cli --cluster check: %w: %s", err, out)
	}
	s := string(out)
	if !strings.Contains(s, "[OK] All 16384 slots covered.") || strings.Contains(s, "[WARNING]") || strings.Contains(s, "[ERR]") {
		return fmt.Errorf("redis-cli --cluster check is not OK:\n%s", s)
	}
	return nil
}

// Close kills every node and removes the temporary directory.
func (c *Cluster) Close() error {
	for _, n := range c.Nodes() {
		n.kill()
		n.Release()
	}
	if c.Pool != nil {
		_ = c.Pool.Close()
	}
	if c.ownDir {
		return os.RemoveAll(c.dir)
	}
	return nil
}

// Migration is a slot a primary reports MIGRATING, with the node it moves
// to: its ID and, where that primary knows it, its address.
type Migration struct {
	Slot       int
	To, ToAddr string
	// FromAddr is the primary that reported it (the source).
	FromAddr string
}

// OpenMigration returns a slot a primary of cc reports MIGRATING in its own
// CLUSTER NODES line ("slot->target"): a migration under way.
func OpenMigration(ctx context.Context, cc *redis.ClusterClient) (Migration, bool) {
	var mu sync.Mutex
	var found Migration
	ok := false
	_ = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		nodes, err := c.ClusterNodes(ctx).Result()
		if err != nil {
			return nil
		}
		v, err := clusteradmin.ParseClusterNodes(nodes)
		if err != nil {
			return nil
		}
		for slot, to := range v.Myself.Migrating {
			mu.Lock()
			found, ok = Migration{Slot: slot, To: to, ToAddr: v.Nodes[to].Addr, FromAddr: v.Myself.Addr}, true
			mu.Unlock()
			break
		}
		return nil
	})
	return found, ok
}

// OpenHalfMoved opens the first slot of [start, end] that holds four keys
// or more on the primary at src towards the primary at dst (IMPORTING on
// dst, MIGRATING on src) and moves half of its keys with MIGRATE, as a
// migration interrupted mid-slot leaves it.
func (c *Cluster) OpenHalfMoved(ctx context.Context, src, dst string, start, end int) (slot, moved int, err error) {
	srcID, err := c.NodeID(ctx, src)
	if err != nil {
		return 0, 0, err
	}
	dstID, err := c.NodeID(ctx, dst)
	if err != nil {
		return 0, 0, err
	}
	sc, tc := c.Pool.Client(src), c.Pool.Client(dst)
	for s := start; s <= end; s++ {
		keys, err := sc.ClusterGetKeysInSlot(ctx, s, 1000).Result()
		if err != nil {
			return 0, 0, err
		}
		if len(keys) < 4 {
			continue
		}
		if err := OpenWith(ctx, sc, tc, srcID, dstID, dst, c.opts.Password, s, keys[:len(keys)/2]); err != nil {
			return 0, 0, err
		}
		return s, len(keys) / 2, nil
	}
	return 0, 0, fmt.Errorf("no slot in %d-%d with four keys on %s", start, end, src)
}

// OpenSlot is OpenMigration as "slot->target ID", or "".
func OpenSlot(ctx context.Context, cc *redis.ClusterClient) string {
	if m, ok := OpenMigration(ctx, cc); ok {
		return fmt.Sprintf("%d->%s", m.Slot, m.To)
	}
	return ""
}
