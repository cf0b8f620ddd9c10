package redisops

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dayops/dayops/internal/redis/clusteradmin"
	"github.com/dayops/dayops/internal/redis/failover"
	"github.com/dayops/dayops/internal/topology"
	"github.com/redis/go-redis/v9"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"golang.org/x/sync/errgroup"
)

// gateProbeParallel is how many primaries the health gate probes at once.
const gateProbeParallel = 8

// Error types of the upgrade activities.
const (
	// ErrTypeGateFailed: the health gate found a problem (non-retryable; the
	// workflow rolls back).
	ErrTypeGateFailed = "GateFailed"
	// ErrTypeWrongRole: a recreated instance came back in a role it must not
	// have (for example an empty primary: its nodes.conf was lost).
	ErrTypeWrongRole = "WrongRole"
)

// RunInfoInput names one node.
type RunInfoInput struct {
	Auth Auth   `json:"auth"`
	Addr string `json:"addr"`
	// Label names the instance in audit step events.
	Label string `json:"label,omitempty"`
}

// StepTarget names the instance in audit step events.
func (in RunInfoInput) StepTarget() string { return in.Label }

// RunInfo is what INFO server says of the running process.
type RunInfo struct {
	Addr    string `json:"addr"`
	RunID   string `json:"runId"`
	Version string `json:"version"`
	// Role is the node's replication role.
	Role topology.Role `json:"role,omitempty"`
}

// NodeRunInfo reads run_id and redis_version of a node (before it is
// recreated, so that the new process can be told from the old).
func (a *Activities) NodeRunInfo(ctx context.Context, in RunInfoInput) (RunInfo, error) {
	_, pool, err := a.admin(ctx, in.Auth)
	if err != nil {
		return RunInfo{}, err
	}
	ri, err := runInfo(ctx, pool.Client(in.Addr))
	ri.Addr = in.Addr
	return ri, classify(err)
}

func runInfo(ctx context.Context, c *redis.Client) (RunInfo, error) {
	text, err := c.Info(ctx, "server", "replication").Result()
	if err != nil {
		return RunInfo{}, fmt.Errorf("info server: %w", err)
	}
	kv := clusteradmin.ParseInfo(text)
	ri := RunInfo{RunID: kv["run_id"], Version: kv["redis_version"]}
	switch kv["role"] {
	case "master":
		ri.Role = topology.RolePrimary
	case "slave":
		ri.Role = topology.RoleReplica
	}
	return ri, nil
}

// WaitUpgradedInput names a recreated instance and what it must show.
type WaitUpgradedInput struct {
	Auth Auth   `json:"auth"`
	Addr string `json:"addr"`
	// PreviousRunID is the run_id of the process the Pod ran before; the
	// node must show another one (a new process). Empty skips the check.
	PreviousRunID string `json:"previousRunId,omitempty"`
	// Role the node must come back in: a replica must then be linked and in
	// sync; a primary (restarted in place) must see cluster_state ok.
	Role topology.Role `json:"role"`
	// MaxLagBytes a replica may be behind its primary (default
	// DefaultMaxLagBytes).
	MaxLagBytes int64  `json:"maxLagBytes,omitempty"`
	Label       string `json:"label,omitempty"`
}

// StepTarget names the instance in audit step events.
func (in WaitUpgradedInput) StepTarget() string { return in.Label }

// WaitInstanceUpgraded waits until a recreated instance runs a new process
// (run_id differs from PreviousRunID), is back in the cluster in its role,
// and, for a replica, has its link up and has caught up with its primary. A
// node that comes back as a primary owning no slot (its nodes.conf was lost)
// when a replica was expected is a non-retryable WrongRole error: waiting
// would not fix it.
func (a *Activities) WaitInstanceUpgraded(ctx context.Context, in WaitUpgradedInput) (RunInfo, error) {
	adm, pool, err := a.admin(ctx, in.Auth)
	if err != nil {
		return RunInfo{}, err
	}
	if in.MaxLagBytes <= 0 {
		in.MaxLagBytes = DefaultMaxLagBytes
	}
	stop := HeartbeatEvery(ctx, 5*time.Second)
	defer stop()
	c := pool.Client(in.Addr)
	var ri RunInfo
	reason := "not checked yet"
	for {
		ok, why, err := func() (bool, string, error) {
			var err error
			if ri, err = runInfo(ctx, c); err != nil {
				return false, err.Error(), nil
			}
			ri.Addr = in.Addr
			if in.PreviousRunID != "" && ri.RunID == in.PreviousRunID {
				return false, "still the previous process (run_id " + ri.RunID + ")", nil
			}
			v, err := adm.Roles(ctx, clusteradmin.RolesInput{Addrs: []string{in.Addr}})
			if err != nil {
				return false, err.Error(), nil
			}
			nr := v.Nodes[0]
			if nr.Role != in.Role {
				if in.Role == topology.RoleReplica && nr.Role == topology.RolePrimary && len(nr.Slots) == 0 {
					// An empty primary that knows no other node has lost its
					// cluster identity.
					text, err := c.ClusterNodes(ctx).Result()
					if err == nil && strings.Count(strings.TrimSpace(text), "\n") == 0 {
						return false, "", temporal.NewNonRetryableApplicationError(fmt.Sprintf(
							"%s came back as an empty primary that knows no other node: its volume lost nodes.conf", in.Addr), ErrTypeWrongRole, nil)
					}
				}
				return false, fmt.Sprintf("role %s, want %s", nr.Role, in.Role), nil
			}
			if in.Role == topology.RolePrimary {
				info, err := c.ClusterInfo(ctx).Result()
				if err != nil {
					return false, err.Error(), nil
				}
				if st := clusteradmin.ParseInfo(info)["cluster_state"]; st != "ok" {
					return false, "cluster_state " + st, nil
				}
				return true, "", nil
			}
			if !nr.LinkUp {
				return false, "link to its primary is down", nil
			}
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if _, err := adm.WaitInSync(wctx, clusteradmin.WaitInSyncInput{ReplicaAddr: in.Addr, MaxLagBytes: in.MaxLagBytes}); err != nil {
				return false, err.Error(), nil
			}
			return true, "", nil
		}()
		if err != nil {
			return ri, err
		}
		if ok {
			return ri, nil
		}
		reason = why
		activity.RecordHeartbeat(ctx, reason)
		select {
		case <-ctx.Done():
			return ri, fmt.Errorf("wait for %s to come back upgraded: %w (last state: %s)", in.Addr, ctx.Err(), reason)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// HandoverInput promotes an upgraded replica in a planned way.
type HandoverInput struct {
	Auth        Auth   `json:"auth"`
	ReplicaAddr string `json:"replicaAddr"`
	MaxLagBytes int64  `json:"maxLagBytes,omitempty"`
	Label       string `json:"label,omitempty"`
}

// StepTarget names the handover in audit step events.
func (in HandoverInput) StepTarget() string { return in.Label }

// HandoverResult names the old and new primary.
type HandoverResult struct {
	NewPrimaryID   string `json:"newPrimaryId"`
	OldPrimaryID   string `json:"oldPrimaryId,omitempty"`
	AlreadyPrimary bool   `json:"alreadyPrimary,omitempty"`
	// Attempts, Method and Why: how the replica was promoted (failover.Result).
	Attempts int    `json:"attempts,omitempty"`
	Method   string `json:"method,omitempty"`
	Why      string `json:"why,omitempty"`
}

// Handover runs a graceful CLUSTER FAILOVER (default mode: the primary holds
// its clients' writes until the replica has caught up, so no acknowledged
// write is lost) on the replica, after checking it is in sync and the
// cluster is ok, and waits until the roles have swapped and cluster_state is
// ok on both. A replica already promoted is success. When Redis gives the
// manual failover up (refused votes, or Redis 7.0's stale election after a
// recent one by the same replica), the next attempt is a paused takeover
// that needs no election: see failover.Run.
func (a *Activities) Handover(ctx context.Context, in HandoverInput) (HandoverResult, error) {
	adm, _, err := a.admin(ctx, in.Auth)
	if err != nil {
		return HandoverResult{}, err
	}
	if in.MaxLagBytes <= 0 {
		in.MaxLagBytes = DefaultMaxLagBytes
	}
	stop := HeartbeatEvery(ctx, 5*time.Second)
	defer stop()
	r, err := failover.Run(ctx, adm, failover.Input{ReplicaAddr: in.ReplicaAddr, MaxLagBytes: in.MaxLagBytes, Timeout: 2 * time.Minute})
	return HandoverResult{NewPrimaryID: r.NewPrimaryID, OldPrimaryID: r.OldPrimaryID, AlreadyPrimary: r.AlreadyPrimary,
		Attempts: r.Attempts, Method: r.Method}, classify(err)
}

// GateInput bounds one evaluation of the Redis part of the health gate.
type GateInput struct {
	Auth  Auth     `json:"auth"`
	Addrs []string `json:"addrs"`
	// Shards maps address to shard number, for the report.
	Shards       map[string]int `json:"shards,omitempty"`
	MaxLagBytes  int64          `json:"maxLagBytes"`
	MaxErrorRate float64        `json:"maxErrorRate"`
	MaxLatency   time.Duration  `json:"maxLatency"`
	Probe        time.Duration  `json:"probe"`
	// Settle is how long the health checks may take to pass (gossip after a
	// change needs a moment) before the gate fails.
	Settle time.Duration `json:"settle"`
	Label  string        `json:"label,omitempty"`
}

// StepTarget names the gate in audit step events.
func (in GateInput) StepTarget() string { return in.Label }

// ProbeStats is what the probe client saw on one primary.
type ProbeStats struct {
	Addr      string        `json:"addr"`
	Shard     int           `json:"shard"`
	Key       string        `json:"key"`
	Ops       int           `json:"ops"`
	Errors    int           `json:"errors"`
	P99       time.Duration `json:"p99"`
	Max       time.Duration `json:"max"`
	LastError string        `json:"lastError,omitempty"`
}

// GateReport is a passing evaluation. It is a summary of a size that does
// not grow with the cluster: an upgrade runs a gate after every batch and
// keeps each report in its history (it used to hold a ProbeStats per
// primary, "probes" in recorded histories, which decodes into this type).
type GateReport struct {
	// Summary is one line for progress and audit.
	Summary string `json:"summary"`
	// Nodes, Primaries and Ops count the nodes checked, the primaries probed
	// and the probe commands; WorstP99 is the highest probe p99 of any
	// primary and WorstShard its shard.
	Nodes      int           `json:"nodes,omitempty"`
	Primaries  int           `json:"primaries,omitempty"`
	Ops        int           `json:"ops,omitempty"`
	WorstP99   time.Duration `json:"worstP99,omitempty"`
	WorstShard int           `json:"worstShard,omitempty"`
}

// HealthGate evaluates the Redis part of the upgrade health gate: every node
// reports cluster_state ok and sees every other connected, every replica's
// link is up within MaxLagBytes of its primary (waiting up to Settle for all
// that), then a probe client writes and reads a key of every primary for
// Probe, and its error rate and p99 latency must stay within bounds. A
// failure is a non-retryable GateFailed error that names every problem.
func (a *Activities) HealthGate(ctx context.Context, in GateInput) (GateReport, error) {
	_, pool, err := a.admin(ctx, in.Auth)
	if err != nil {
		return GateReport{}, err
	}
	stop := HeartbeatEvery(ctx, 5*time.Second)
	defer stop()
	deadline := time.Now().Add(in.Settle)
	var obs ObserveResult
	var problems []string
	for {
		obs, err = a.ObserveRedis(ctx, ObserveInput{Auth: in.Auth, Addrs: in.Addrs, MaxLagBytes: max(in.MaxLagBytes, 1)})
		if err != nil {
			return GateReport{}, err
		}
		problems = healthProblems(obs, in.MaxLagBytes)
		if len(problems) == 0 || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return GateReport{}, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	if len(problems) > 0 {
		return GateReport{}, temporal.NewNonRetryableApplicationError("health gate: "+strings.Join(problems, "; "), ErrTypeGateFailed, nil)
	}
	var primaries []NodeState
	for _, n := range obs.Nodes {
		if n.Role == topology.RolePrimary && n.Slots.Count() > 0 {
			primaries = append(primaries, n)
		}
	}
	// The primaries are probed gateProbeParallel at a time: one after the
	// other, a gate took shards x Probe, and an upgrade runs a gate after
	// every batch, so its probing grew with the square of the shard count.
	probes := make([]ProbeStats, len(primaries))
	errs := make([]error, len(primaries))
	var g errgroup.Group
	g.SetLimit(gateProbeParallel)
	for i, n := range primaries {
		g.Go(func() error {
			probes[i], errs[i] = probe(ctx, pool.Client(n.Addr), n.Slots, in.Probe, in.MaxErrorRate)
			return nil
		})
	}
	_ = g.Wait()
	rep := GateReport{Nodes: len(obs.Nodes), Primaries: len(primaries)}
	for i, n := range primaries {
		if errs[i] != nil {
			return GateReport{}, classify(fmt.Errorf("probe %s: %w", n.Addr, errs[i]))
		}
		ps := probes[i]
		ps.Addr, ps.Shard = n.Addr, in.Shards[n.Addr]
		rep.Ops += ps.Ops
		if ps.P99 > rep.WorstP99 {
			rep.WorstP99, rep.WorstShard = ps.P99, ps.Shard
		}
		rate := float64(ps.Errors) / float64(max(ps.Ops, 1))
		switch {
		case rate > in.MaxErrorRate:
			problems = append(problems, fmt.Sprintf("shard-%d primary %s: %d of %d probe commands failed (%.1f%% > %.1f%%): %s",
				ps.Shard, n.Addr, ps.Errors, ps.Ops, rate*100, in.MaxErrorRate*100, ps.LastError))
		case ps.P99 > in.MaxLatency:
			problems = append(problems, fmt.Sprintf("shard-%d primary %s: probe p99 latency %s > %s", ps.Shard, n.Addr, ps.P99, in.MaxLatency))
		}
	}
	if len(problems) > 0 {
		return rep, temporal.NewNonRetryableApplicationError("health gate: "+strings.Join(problems, "; "), ErrTypeGateFailed, nil)
	}
	rep.Summary = fmt.Sprintf("passed: %d nodes ok and connected, %d probe commands on %d primaries, 0 errors over bound, worst p99 %s",
		rep.Nodes, rep.Ops, rep.Primaries, rep.WorstP99.Round(time.Microsecond))
	return rep, nil
}

// healthProblems lists what keeps the cluster from being healthy.
func healthProblems(obs ObserveResult, maxLag int64) []string {
	var out []string
	if !obs.StateOK || !obs.AllConnected {
		out = append(out, obs.Problems...)
	}
	if len(obs.OpenSlots) > 0 {
		out = append(out, fmt.Sprintf("slots %s are open", topology.RangesOf(obs.OpenSlots)))
	}
	primaryOffset := map[string]int64{}
	for _, n := range obs.Nodes {
		if n.Role == topology.RolePrimary {
			primaryOffset[n.NodeID] = n.Offset
		}
	}
	for _, n := range obs.Nodes {
		if n.Role != topology.RoleReplica || !n.Reachable {
			continue
		}
		if !n.LinkUp {
			out = append(out, fmt.Sprintf("replica %s: link to its primary is down", n.Addr))
			continue
		}
		if po, ok := primaryOffset[n.PrimaryID]; ok && po-n.Offset > maxLag {
			out = append(out, fmt.Sprintf("replica %s lags %d bytes behind its primary (bound %d)", n.Addr, po-n.Offset, maxLag))
		}
	}
	return out
}

// probeInterval is how often the probe client writes and reads back its
// key: 100 pairs, 200 commands a second per primary, what a light client
// does. The probe used to send them back to back as fast as the round trip
// allowed (thousands a second per primary, all primaries at once): on
// bench scale's 12-shard upgrade it was 51% of the worker's CPU, and its
// own load on the primaries raised the latency it measured.
const probeInterval = 10 * time.Millisecond

// probe writes (SET with a short expiry) and reads back one key owned by
// slots on c, one command at a time, every probeInterval, for d. It stops
// early once 100 commands have failed and failures are over a quarter of
// the commands and over maxErrorRate: such a primary is failing, not
// blipping, and one that refuses writes should not keep its clients waiting
// for the rest of d.
func probe(ctx context.Context, c *redis.Client, slots topology.Ranges, d time.Duration, maxErrorRate float64) (ProbeStats, error) {
	key, err := keyIn(ctx, c, slots)
	if err != nil {
		return ProbeStats{}, err
	}
	ps := ProbeStats{Key: key}
	var lat []time.Duration
	end := time.Now().Add(d)
	tick := time.NewTicker(probeInterval)
	defer tick.Stop()
	for i := 0; time.Now().Before(end); i++ {
		if i > 0 {
			select {
			case <-ctx.Done():
			case <-tick.C:
			}
		}
		if ctx.Err() != nil {
			return ps, ctx.Err()
		}
		if rate := float64(ps.Errors) / float64(max(ps.Ops, 1)); ps.Errors >= 100 && rate > 0.25 && rate > maxErrorRate {
			break
		}
		for _, write := range []bool{true, false} {
			cctx, cancel := context.WithTimeout(ctx, time.Second)
			start := time.Now()
			var err error
			if write {
				err = c.Set(cctx, key, strconv.Itoa(i), 30*time.Second).Err()
			} else {
				err = c.Get(cctx, key).Err()
				if errors.Is(err, redis.Nil) {
					err = nil
				}
			}
			el := time.Since(start)
			cancel()
			ps.Ops++
			lat = append(lat, el)
			if err != nil {
				ps.Errors++
				ps.LastError = err.Error()
			}
		}
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		ps.P99 = lat[min(len(lat)-1, len(lat)*99/100)]
		ps.Max = lat[len(lat)-1]
	}
	return ps, nil
}

// keyIn finds a key name that hashes to one of slots (asking the node with
// CLUSTER KEYSLOT, so no slot hashing is reimplemented here).
func keyIn(ctx context.Context, c *redis.Client, slots topology.Ranges) (string, error) {
	host, _, _ := net.SplitHostPort(c.Options().Addr)
	for i := range 4096 {
		k := fmt.Sprintf("dayops:gate:%s:%d", host, i)
		s, err := c.ClusterKeySlot(ctx, k).Result()
		if err != nil {
			return "", fmt.Errorf("cluster keyslot: %w", err)
		}
		if slots.Contains(int(s)) {
			return k, nil
		}
	}
	return "", fmt.Errorf("no probe key found in slots %s", slots)
}

// ProbePrimaryInput names a primary just promoted by a handover.
type ProbePrimaryInput struct {
	Auth         Auth          `json:"auth"`
	Addr         string        `json:"addr"`
	Shard        int           `json:"shard"`
	Probe        time.Duration `json:"probe"`
	MaxErrorRate float64       `json:"maxErrorRate"`
	Label        string        `json:"label,omitempty"`
}

// StepTarget names the primary in audit step events.
func (in ProbePrimaryInput) StepTarget() string { return in.Label }

// ProbePrimary is the health gate's probe client on one primary right after
// a handover made it primary: writes and reads on one of its slots for Probe.
// An upgraded primary that rejects writes is caught here, while the old
// primary (not upgraded yet) can still take its place back at once; the
// error is a non-retryable GateFailed.
func (a *Activities) ProbePrimary(ctx context.Context, in ProbePrimaryInput) (ProbeStats, error) {
	adm, pool, err := a.admin(ctx, in.Auth)
	if err != nil {
		return ProbeStats{}, err
	}
	v, err := adm.Roles(ctx, clusteradmin.RolesInput{Addrs: []string{in.Addr}})
	if err != nil {
		return ProbeStats{}, classify(err)
	}
	n := v.Nodes[0]
	if n.Role != topology.RolePrimary || n.Slots.Count() == 0 {
		return ProbeStats{}, classify(&clusteradmin.PreconditionError{Addr: in.Addr, Reason: "is not a primary owning slots"})
	}
	ps, err := probe(ctx, pool.Client(in.Addr), n.Slots, in.Probe, in.MaxErrorRate)
	if err != nil {
		return ps, classify(fmt.Errorf("probe %s: %w", in.Addr, err))
	}
	ps.Addr, ps.Shard = in.Addr, in.Shard
	if rate := float64(ps.Errors) / float64(max(ps.Ops, 1)); rate > in.MaxErrorRate {
		return ps, temporal.NewNonRetryableApplicationError(fmt.Sprintf("shard-%d new primary %s: %d of %d probe commands failed (%.1f%% > %.1f%%): %s",
			in.Shard, in.Addr, ps.Errors, ps.Ops, rate*100, in.MaxErrorRate*100, ps.LastError), ErrTypeGateFailed, nil)
	}
	return ps, nil
}
