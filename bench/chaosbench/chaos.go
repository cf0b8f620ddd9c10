package chaosbench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.temporal.io/sdk/client"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/dayops/dayops/bench/benchkit"
	"github.com/dayops/dayops/internal/apiv1"
	"github.com/dayops/dayops/internal/cli"
	"github.com/dayops/dayops/internal/redis/noaddr"
	"github.com/dayops/dayops/internal/testutil/redistest"
	"github.com/dayops/dayops/internal/workflows"
)

// Worker is the dayops worker process the scenarios kill and start again.
type Worker interface {
	// PID of the running worker process (its CPU time is read from /proc).
	PID() int
	// Kill SIGKILLs the worker and waits for it to exit.
	Kill() error
	// Start starts a fresh worker process.
	Start() error
}

// Env is what the bench drives: the stack's Kubernetes and Temporal clients,
// a dayops API (operator and auditor clients), the worker process and the
// API's database.
type Env struct {
	Kube      kubernetes.Interface
	Temporal  client.Client
	Operator  *cli.Client
	Auditor   *cli.Client
	Namespace string
	Worker    Worker
	// Database takes dayops' database down (the audit-db-down scenario),
	// KubeAPI the Kubernetes API away from the worker (kube-api-down),
	// TemporalLink Temporal away from the worker (temporal-down).
	Database, KubeAPI, TemporalLink Outager
	Log                             *slog.Logger
}

// Figure is one scenario's measurements. A zero duration means "did not
// happen" (no promotion after a replica's loss, for instance).
type Figure struct {
	Scenario string
	// Promoted: fault -> a replica of the shard is a primary holding slots
	// in its own CLUSTER NODES.
	Promoted time.Duration
	// Service: fault -> the shard's primary Service selects exactly the
	// promoted instance; ServiceAfterPromotion is the same from the
	// promotion (the goal: <= 2 s).
	Service               time.Duration
	ServiceAfterPromotion time.Duration
	// Redundancy: fault -> the guardian sees the cluster Healthy, every
	// desired instance ready.
	Redundancy time.Duration
	// Gap is the longest time no write was acknowledged.
	Gap time.Duration
	// Acked and Failed count the writes acknowledged and failed (outcome
	// unknown, not lost) during the scenario; AckedLost the acknowledged
	// writes lost (a later write found an older value in their place).
	Acked, Failed, AckedLost int64
	// KeysLost of KeysBefore filled keys (0 of 0 when nothing was filled).
	KeysLost, KeysBefore int
	// Note says what else happened (the step the worker was killed at, the
	// operation that held the cluster).
	Note string
	// OperationID and RunID of the operation the scenario started itself
	// (switchover), for the caller's records.
	OperationID, RunID string
}

// Bench runs scenarios on one cluster. Create the cluster first, then
// StartWriter; Stop checks every acknowledged write at the end.
type Bench struct {
	Env
	Cluster string

	password string
	addrs    []string
	writer   *redistest.Writer
	wcc      *redis.ClusterClient
	gaps     *benchkit.GapMeter
	filled   int
	Figures  []Figure
}

// New returns a bench for the cluster (which must exist, with its guardian).
func New(env Env, cluster string) *Bench {
	if env.Log == nil {
		env.Log = slog.Default()
	}
	if env.Auditor == nil {
		env.Auditor = env.Operator
	}
	return &Bench{Env: env, Cluster: cluster}
}

// Health queries the cluster's guardian.
func (b *Bench) Health(ctx context.Context) (workflows.GuardianHealth, error) {
	var gh workflows.GuardianHealth
	v, err := b.Temporal.QueryWorkflow(ctx, workflows.GuardianWorkflowID(b.Namespace, b.Cluster), "", workflows.QueryHealth)
	if err != nil {
		return gh, err
	}
	err = v.Get(&gh)
	return gh, err
}

// WaitWhole waits until the guardian says Healthy with every instance ready
// and returns when that was first seen.
func (b *Bench) WaitWhole(ctx context.Context, limit time.Duration) (time.Time, error) {
	deadline := time.Now().Add(limit)
	for {
		gh, err := b.Health(ctx)
		if err == nil && gh.State == "Healthy" && gh.Ready == gh.Desired && gh.Desired > 0 {
			return time.Now(), nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("cluster %s not whole after %s: %+v (err %v)", b.Cluster, limit, gh, err)
		}
		if err := benchkit.Sleep(ctx, 100*time.Millisecond); err != nil {
			return time.Time{}, err
		}
	}
}

// pods lists the cluster's Pods matching extra labels ("" for all).
func (b *Bench) pods(ctx context.Context, extra string) ([]corev1.Pod, error) {
	sel := "dayops.io/cluster=" + b.Cluster
	if extra != "" {
		sel += "," + extra
	}
	l, err := b.Kube.CoreV1().Pods(b.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("list pods %s: %w", sel, err)
	}
	return l.Items, nil
}

// PrimaryOf returns the Pod of shard's primary (by role label).
func (b *Bench) PrimaryOf(ctx context.Context, shard int) (corev1.Pod, error) {
	ps, err := b.pods(ctx, fmt.Sprintf("dayops.io/shard=%d,dayops.io/role=primary", shard))
	if err != nil {
		return corev1.Pod{}, err
	}
	if len(ps) != 1 {
		return corev1.Pod{}, fmt.Errorf("shard-%d has %d Pods labelled primary, want 1", shard, len(ps))
	}
	return ps[0], nil
}

// ReplicasOf returns the Pods of shard's replicas (by role label).
func (b *Bench) ReplicasOf(ctx context.Context, shard int) ([]corev1.Pod, error) {
	return b.pods(ctx, fmt.Sprintf("dayops.io/shard=%d,dayops.io/role=replica", shard))
}

// FirstReplicaOf returns one of shard's replica Pods; a shard without one is
// an error.
func (b *Bench) FirstReplicaOf(ctx context.Context, shard int) (corev1.Pod, error) {
	reps, err := b.ReplicasOf(ctx, shard)
	if err != nil {
		return corev1.Pod{}, err
	}
	if len(reps) == 0 {
		return corev1.Pod{}, fmt.Errorf("shard-%d has no replica", shard)
	}
	return reps[0], nil
}

// ServiceName is the shard's primary Service.
func (b *Bench) ServiceName(shard int) string { return b.Cluster + "-shard-" + strconv.Itoa(shard) }

// Endpoints returns the ready addresses a Service selects.
func (b *Bench) Endpoints(ctx context.Context, svc string) []string {
	sl, err := b.Kube.DiscoveryV1().EndpointSlices(b.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=" + svc})
	if err != nil {
		return nil
	}
	var out []string
	for _, s := range sl.Items {
		for _, e := range s.Endpoints {
			if e.Conditions.Ready == nil || *e.Conditions.Ready {
				out = append(out, e.Addresses...)
			}
		}
	}
	return out
}

// Credentials reads the cluster's addresses and password from the API.
func (b *Bench) Credentials(ctx context.Context) (apiv1.Credentials, error) {
	var c apiv1.Credentials
	err := b.Operator.Do(ctx, http.MethodGet, "/v1/clusters/"+b.Cluster+"/credentials", url.Values{"namespace": {b.Namespace}}, nil, &c)
	if err == nil {
		b.password, b.addrs = c.Password, c.Addresses
	}
	return c, err
}

// Client returns a fresh cluster client (the caller closes it): a client
// made before a fault may still map slots to Pods that are gone.
func (b *Bench) Client(ctx context.Context) (*redis.ClusterClient, error) {
	if _, err := b.Credentials(ctx); err != nil {
		return nil, err
	}
	return redis.NewClusterClient(noaddr.Guard(&redis.ClusterOptions{Addrs: b.addrs, Password: b.password, MaxRedirects: 16,
		DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second})), nil
}

// Fill writes n keys "fill:<i>" of size bytes; KeysLost counts them after
// each scenario.
func (b *Bench) Fill(ctx context.Context, n, size int) error {
	cc, err := b.Client(ctx)
	if err != nil {
		return err
	}
	defer cc.Close()
	if err := redistest.Fill(ctx, cc, "fill:", n, size, 8); err != nil {
		return err
	}
	b.filled = n
	return nil
}

// countFilled counts the filled keys that exist.
func (b *Bench) countFilled(ctx context.Context) (int, error) {
	if b.filled == 0 {
		return 0, nil
	}
	cc, err := b.Client(ctx)
	if err != nil {
		return 0, err
	}
	defer cc.Close()
	return redistest.CountFilled(ctx, cc, "fill:", b.filled)
}

// StartWriter starts the checking writer (5,000 keys, 4 workers) and the
// gap meter. waitReplicas > 0 acknowledges a write only once WAIT saw it on
// that many replicas: what a client that must survive the loss of its
// primary's node does (Redis replicates asynchronously).
func (b *Bench) StartWriter(ctx context.Context, waitReplicas int) error {
	cc, err := b.Client(ctx)
	if err != nil {
		return err
	}
	b.wcc = cc
	b.writer = redistest.StartWriter(ctx, cc, redistest.WriterOptions{Keys: 5_000, Workers: 4, WaitReplicas: waitReplicas, CheckPrevious: true})
	b.gaps = benchkit.StartGapMeter(b.writer)
	// Some acknowledged writes before the first fault.
	for deadline := time.Now().Add(30 * time.Second); b.writer.Stats().Acked < 2_000; {
		if time.Now().After(deadline) {
			return fmt.Errorf("the writer acknowledged only %d writes in 30s (%v)", b.writer.Stats().Acked, b.writer.Stats().LastErr)
		}
		if err := benchkit.Sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

// WriterResult is the writer's account at Stop.
type WriterResult struct {
	redistest.WriterStats
	// Verified keys hold their last acknowledged value (or a later one of
	// unknown outcome); VerifyErr lists those that do not.
	Verified  int
	VerifyErr error
}

// Stop stops the writer and reads every key it wrote back through a fresh
// client.
func (b *Bench) Stop(ctx context.Context) (WriterResult, error) {
	if b.writer == nil {
		return WriterResult{}, errors.New("no writer")
	}
	st := b.writer.Stop()
	b.gaps.Close()
	b.wcc.Close()
	r := WriterResult{WriterStats: st}
	cc, err := b.Client(ctx)
	if err != nil {
		return r, err
	}
	defer cc.Close()
	r.Verified, r.VerifyErr = b.writer.Verify(ctx, cc)
	return r, nil
}

// promotionWatch follows one shard after a fault: when a replica first
// is a primary serving slots, then when the primary Service selects exactly
// it.
type promotionWatch struct {
	cancel     context.CancelFunc
	done       chan struct{}
	mu         sync.Mutex
	promotedAt time.Time
	promotedIP string
	serviceAt  time.Time
}

func (b *Bench) watchPromotion(ctx context.Context, shard int, replicaIPs []string) *promotionWatch {
	ctx, cancel := context.WithCancel(ctx)
	w := &promotionWatch{cancel: cancel, done: make(chan struct{})}
	clients := map[string]*redis.Client{}
	ids := map[string]string{} // the replica at each address when the fault came
	for _, ip := range replicaIPs {
		clients[ip] = redis.NewClient(&redis.Options{Addr: benchkit.PodAddr(ip), Password: b.password,
			DialTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond, MaxRetries: -1, PoolSize: 1})
		ids[ip] = clients[ip].ClusterMyID(ctx).Val()
	}
	svc := b.ServiceName(shard)
	go func() {
		defer close(w.done)
		defer func() {
			for _, c := range clients {
				c.Close()
			}
		}()
		for ctx.Err() == nil {
			w.mu.Lock()
			promoted, ip := !w.promotedAt.IsZero(), w.promotedIP
			w.mu.Unlock()
			if !promoted {
				for rip, c := range clients {
					if servesSlots(ctx, c, ids[rip]) {
						w.mu.Lock()
						w.promotedAt, w.promotedIP = time.Now(), rip
						w.mu.Unlock()
						break
					}
				}
			} else if eps := b.Endpoints(ctx, svc); len(eps) == 1 && eps[0] == ip {
				w.mu.Lock()
				w.serviceAt = time.Now()
				w.mu.Unlock()
				return
			}
			_ = benchkit.Sleep(ctx, 20*time.Millisecond)
		}
	}()
	return w
}

func (w *promotionWatch) stop() (promotedAt, serviceAt time.Time) {
	w.cancel()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.promotedAt, w.serviceAt
}

// waitService waits (up to limit) for the Service to follow a promotion
// already seen.
func (w *promotionWatch) waitService(ctx context.Context, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		w.mu.Lock()
		done := w.promotedAt.IsZero() || !w.serviceAt.IsZero()
		w.mu.Unlock()
		if done {
			return
		}
		select {
		case <-w.done:
			return
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// shardProbe asks a shard's instances (by pod IP) for their ROLE: the shard
// is whole when exactly one answers master and every replica's link is up.
type shardProbe struct{ clients []*redis.Client }

func newShardProbe(password string, ips []string) *shardProbe {
	p := &shardProbe{}
	for _, ip := range ips {
		p.clients = append(p.clients, redis.NewClient(&redis.Options{Addr: benchkit.PodAddr(ip), Password: password,
			DialTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond, MaxRetries: -1, PoolSize: 1}))
	}
	return p
}

func (p *shardProbe) whole(ctx context.Context) bool {
	masters := 0
	for _, c := range p.clients {
		role, err := c.Do(ctx, "ROLE").Slice()
		if err != nil || len(role) == 0 {
			return false
		}
		switch role[0] {
		case "master":
			masters++
		case "slave":
			if len(role) < 4 || role[3] != "connected" {
				return false
			}
		default:
			return false
		}
	}
	return masters == 1
}

func (p *shardProbe) close() {
	for _, c := range p.clients {
		c.Close()
	}
}

// servesSlots: node id (the replica at the address when the fault came) is
// a primary holding slots in its own view (CLUSTER NODES' myself line). Not
// ROLE: a Pod recreated at the address (empty, or another of the shard's).
func servesSlots(ctx context.Context, c *redis.Client, id string) bool {
	out, err := c.ClusterNodes(ctx).Result()
	return err == nil && ownsSlots(out, id)
}

// ownsSlots: the myself line of CLUSTER NODES out is id's, a primary's with a slot.
func ownsSlots(out, id string) bool {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) >= 8 && strings.Contains(f[2], "myself") && f[0] == id {
			// "[slot-<-id]" is an open slot, not one it owns (stray-primary).
			return strings.Contains(f[2], "master") && slices.ContainsFunc(f[8:], func(s string) bool { return !strings.HasPrefix(s, "[") })
		}
	}
	return false
}
