package redisops

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/dayops/dayops/internal/redis/clusteradmin"
	"github.com/dayops/dayops/internal/redis/clusteradmin/readdress"
	"github.com/dayops/dayops/internal/redis/slotmigrate"
	"github.com/dayops/dayops/internal/tick"
	"github.com/dayops/dayops/internal/topology"
	"github.com/redis/go-redis/v9"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
)

// Passwords reads a password from a Secret.
type Passwords interface {
	Password(ctx context.Context, namespace, secret string) (string, error)
}

// Auth names the Secret holding a cluster's password. An empty Secret means
// the nodes need no password.
type Auth struct {
	Namespace string `json:"namespace"`
	Secret    string `json:"secret"`
}

// Conns caches one authenticated connection pool per cluster. It is shared
// by the activities and closed by whoever built it (not an activity).
type Conns struct {
	Passwords Passwords
	Log       *slog.Logger
	Limits    clusteradmin.Limits

	mu    sync.Mutex
	pools map[Auth]*authPool
}

type authPool struct {
	password string
	pool     *clusteradmin.ClientPool
	admin    *clusteradmin.Admin
}

// admin returns a clusteradmin.Admin authenticated for auth; a changed password
// gets fresh connections.
func (c *Conns) admin(ctx context.Context, auth Auth) (*clusteradmin.Admin, *clusteradmin.ClientPool, error) {
	pw := ""
	if auth.Secret != "" {
		var err error
		if pw, err = c.Passwords.Password(ctx, auth.Namespace, auth.Secret); err != nil {
			return nil, nil, err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pools == nil {
		c.pools = map[Auth]*authPool{}
	}
	p, ok := c.pools[auth]
	if !ok || p.password != pw {
		if ok {
			p.pool.Close()
		}
		pool := clusteradmin.NewClientPool(redis.Options{Password: pw})
		adm := clusteradmin.New(pool, c.Log, c.Limits)
		adm.MigratePassword = pw // MIGRATE authenticates to the target itself
		p = &authPool{password: pw, pool: pool, admin: adm}
		c.pools[auth] = p
	}
	return p.admin, p.pool, nil
}

// Close closes every connection.
func (c *Conns) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, p := range c.pools {
		p.pool.Close()
		delete(c.pools, k)
	}
}

// Activities are the Redis activities of dayops. Every exported method is an
// activity.
type Activities struct {
	Conns *Conns
	Log   *slog.Logger
}

// New returns the activities over conns.
func New(conns *Conns) *Activities { return &Activities{Conns: conns, Log: conns.Log} }

func (a *Activities) admin(ctx context.Context, auth Auth) (*clusteradmin.Admin, *clusteradmin.ClientPool, error) {
	return a.Conns.admin(ctx, auth)
}

// classify turns an error into a Temporal application error once.
func classify(err error) error {
	if err == nil || temporal.IsApplicationError(err) {
		return err
	}
	typ, retry := clusteradmin.Classify(err)
	return temporal.NewApplicationErrorWithOptions(err.Error(), typ, temporal.ApplicationErrorOptions{NonRetryable: !retry, Cause: err})
}

// MeetInput introduces nodes to each other.
type MeetInput struct {
	Auth  Auth     `json:"auth"`
	Addrs []string `json:"addrs"`
	// RequireStateOK also waits for cluster_state:ok on every node: set it when
	// the cluster already serves slots, so new nodes know the slot map before
	// anything migrates to them (a new node answers CLUSTERDOWN until then).
	RequireStateOK bool `json:"requireStateOk,omitempty"`
	// NodeIDs gives the node ID expected at an address whose node may be
	// fenced (it came back with its ID at a new address): see readdress.
	NodeIDs map[string]string `json:"nodeIds,omitempty"`
}

// MeetResult maps addresses to node IDs.
type MeetResult struct {
	NodeIDs map[string]string `json:"nodeIds"`
}

// Meet runs CLUSTER MEET where needed and waits until every node knows every
// other. First, a node that knows another at an old address meets it at
// the given one (readdress.Repair: nodes back with their IDs at new IPs).
func (a *Activities) Meet(ctx context.Context, in MeetInput) (MeetResult, error) {
	adm, _, err := a.admin(ctx, in.Auth)
	if err != nil {
		return MeetResult{}, err
	}
	stop := HeartbeatEvery(ctx, 5*time.Second)
	defer stop()
	if _, err := readdress.Repair(ctx, adm, in.Addrs, in.NodeIDs); err != nil {
		return MeetResult{}, classify(err)
	}
	r, err := adm.Meet(ctx, clusteradmin.MeetInput{Addrs: in.Addrs, RequireStateOK: in.RequireStateOK})
	return MeetResult{NodeIDs: r.NodeIDs}, classify(err)
}

// SlotAssignment gives a node its slots.
type SlotAssignment struct {
	Addr   string          `json:"addr"`
	Ranges topology.Ranges `json:"ranges"`
}

// AssignSlotsInput assigns slots to several nodes.
type AssignSlotsInput struct {
	Auth    Auth             `json:"auth"`
	Assign  []SlotAssignment `json:"assign"`
	WaitFor []string         `json:"waitFor"` // nodes that must then agree, with cluster_state ok
}

// AssignSlotsResult counts the slots added now.
type AssignSlotsResult struct {
	Added int `json:"added"`
}

// AssignSlots adds each node's slots it does not own yet, then waits until
// every node in WaitFor agrees and reports cluster_state:ok.
func (a *Activities) AssignSlots(ctx context.Context, in AssignSlotsInput) (AssignSlotsResult, error) {
	adm, _, err := a.admin(ctx, in.Auth)
	if err != nil {
		return AssignSlotsResult{}, err
	}
	var out AssignSlotsResult
	for _, as := range in.Assign {
		r, err := adm.AssignSlots(ctx, clusteradmin.AssignSlotsInput{Addr: as.Addr, Ranges: as.Ranges})
		if err != nil {
			return out, classify(err)
		}
		out.Added += r.Added
	}
	stop := HeartbeatEvery(ctx, 5*time.Second)
	defer stop()
	_, err = adm.WaitConverged(ctx, clusteradmin.WaitConvergedInput{Addrs: in.WaitFor, RequireStateOK: true})
	return out, classify(err)
}

// ReplicaPair attaches a replica to a primary.
type ReplicaPair struct {
	Replica string `json:"replica"`
	Primary string `json:"primary"`
}

// AttachReplicasInput attaches replicas and waits for them to sync.
type AttachReplicasInput struct {
	Auth  Auth          `json:"auth"`
	Pairs []ReplicaPair `json:"pairs"`
	// MaxLagBytes a replica may be behind to count as in sync (default 0).
	MaxLagBytes int64 `json:"maxLagBytes,omitempty"`
	// StepDown: a replica-to-be that is a primary owning no slot has its
	// old keys (of slots other primaries own) discarded first
	// (stepDownStray); without it CLUSTER REPLICATE refuses such a node.
	StepDown bool `json:"stepDown,omitempty"`
}

// AttachReplicasResult lists what changed.
type AttachReplicasResult struct {
	Changed []string `json:"changed,omitempty"`
	// Discarded counts the keys StepDown discarded.
	Discarded int64 `json:"discarded,omitempty"`
}

// AttachReplicas makes every replica follow its primary (already following is
// success), then waits until each is in sync.
func (a *Activities) AttachReplicas(ctx context.Context, in AttachReplicasInput) (AttachReplicasResult, error) {
	adm, pool, err := a.admin(ctx, in.Auth)
	if err != nil {
		return AttachReplicasResult{}, err
	}
	stop := HeartbeatEvery(ctx, 5*time.Second)
	defer stop()
	var out AttachReplicasResult
	for _, p := range in.Pairs {
		if in.StepDown {
			n, err := stepDownStray(ctx, adm, pool, p.Replica, p.Primary)
			if err != nil {
				return out, classify(err)
			}
			out.Discarded += n
		}
		r, err := adm.Replicate(ctx, clusteradmin.ReplicateInput{ReplicaAddr: p.Replica, PrimaryAddr: p.Primary})
		if err != nil {
			return out, classify(err)
		}
		if r.Changed {
			out.Changed = append(out.Changed, p.Replica)
		}
	}
	for _, p := range in.Pairs {
		if _, err := adm.WaitInSync(ctx, clusteradmin.WaitInSyncInput{ReplicaAddr: p.Replica, MaxLagBytes: in.MaxLagBytes}); err != nil {
			return out, classify(err)
		}
	}
	return out, nil
}

// RolesInput names nodes.
type RolesInput struct {
	Auth  Auth     `json:"auth"`
	Addrs []string `json:"addrs"`
}

// RolesResult is each node's own view of its role.
type RolesResult struct {
	Nodes []clusteradmin.NodeRole `json:"nodes"`
}

// RedisRoles reports each node's role (CLUSTER NODES, ROLE and INFO agree).
func (a *Activities) RedisRoles(ctx context.Context, in RolesInput) (RolesResult, error) {
	adm, _, err := a.admin(ctx, in.Auth)
	if err != nil {
		return RolesResult{}, err
	}
	r, err := adm.Roles(ctx, clusteradmin.RolesInput{Addrs: in.Addrs})
	return RolesResult{Nodes: r.Nodes}, classify(err)
}

// MigrateInput moves slots between primaries by node ID.
type MigrateInput struct {
	Auth  Auth            `json:"auth"`
	Moves []topology.Move `json:"moves"`
	Seeds []string        `json:"seeds"`
	// Label says what moves in shard terms, for audit step events.
	Label string `json:"label,omitempty"`
}

// StepTarget names the moves in audit step events.
func (in MigrateInput) StepTarget() string { return in.Label }

// MigrateResult is the final progress.
type MigrateResult struct {
	Progress slotmigrate.Progress `json:"progress"`
	Method   string               `json:"method"`
}

// MigrateSlots moves the slots, heartbeating slotmigrate.Progress every second.
// A retried attempt resumes from the last heartbeat: clusteradmin observes the
// cluster, skips finished slots and closes half-open ones first.
func (a *Activities) MigrateSlots(ctx context.Context, in MigrateInput) (MigrateResult, error) {
	adm, _, err := a.admin(ctx, in.Auth)
	if err != nil {
		return MigrateResult{}, err
	}
	var resume *slotmigrate.Progress
	if activity.HasHeartbeatDetails(ctx) {
		var p slotmigrate.Progress
		if err := activity.GetHeartbeatDetails(ctx, &p); err == nil {
			resume = &p
			a.Log.InfoContext(ctx, "resuming slot migration", "slots_done", p.SlotsDone, "slots_total", p.SlotsTotal, "keys_moved", p.KeysMoved)
		}
	}
	r, err := slotmigrate.New(adm).MigrateSlots(ctx, slotmigrate.MigrateInput{
		Moves: in.Moves, Seeds: in.Seeds, Resume: resume,
		OnProgress: func(p slotmigrate.Progress) { activity.RecordHeartbeat(ctx, p) },
	})
	return MigrateResult{Progress: r.Progress, Method: r.Method}, classify(err)
}

// CloseOpenSlotsInput names a cluster whose open slots must be closed.
type CloseOpenSlotsInput struct {
	Auth  Auth     `json:"auth"`
	Seeds []string `json:"seeds"`
	// Replaced maps a lost primary's node ID to its successor's
	// (slotmigrate.CloseOpenSlotsInput.Replaced).
	Replaced map[string]string `json:"replaced,omitempty"`
}

// CloseOpenSlotsResult says which way each slot was closed.
type CloseOpenSlotsResult = slotmigrate.CloseOpenSlotsResult

// CloseOpenSlots closes every MIGRATING/IMPORTING slot in the direction that
// loses no key (used by cancellation and recovery).
func (a *Activities) CloseOpenSlots(ctx context.Context, in CloseOpenSlotsInput) (CloseOpenSlotsResult, error) {
	adm, _, err := a.admin(ctx, in.Auth)
	if err != nil {
		return CloseOpenSlotsResult{}, err
	}
	r, err := slotmigrate.New(adm).CloseOpenSlots(ctx, slotmigrate.CloseOpenSlotsInput{Seeds: in.Seeds, Replaced: in.Replaced})
	return r, classify(err)
}

// ForgetInput removes nodes from the cluster.
type ForgetInput struct {
	Auth    Auth     `json:"auth"`
	NodeIDs []string `json:"nodeIds"`
	// Addrs are the nodes that stay; they must all forget.
	Addrs []string `json:"addrs"`
}

// ForgetNodes sends CLUSTER FORGET for every node ID to every remaining node,
// back to back (within the 60 s before gossip would bring it back).
func (a *Activities) ForgetNodes(ctx context.Context, in ForgetInput) error {
	adm, _, err := a.admin(ctx, in.Auth)
	if err != nil {
		return err
	}
	for _, id := range in.NodeIDs {
		if _, err := adm.Forget(ctx, clusteradmin.ForgetInput{NodeID: id, Addrs: in.Addrs}); err != nil {
			return classify(err)
		}
	}
	return nil
}

// HeartbeatEvery heartbeats in the background while a long call runs: the
// step speaks for itself, so the worker's keepalive (internal/server) goes on
// heartbeating for it past its 20 s silence limit, and a long wait that makes
// no progress report is not taken for a hung step.
func HeartbeatEvery(ctx context.Context, d time.Duration) (stop func()) {
	if !activity.IsActivity(ctx) {
		return func() {}
	}
	return tick.Go(ctx, d, func(time.Time) bool {
		activity.RecordHeartbeat(ctx)
		return true
	})
}

// ResetInput names nodes leaving the cluster.
type ResetInput struct {
	Auth  Auth     `json:"auth"`
	Addrs []string `json:"addrs"`
}

// ResetNodes hard-resets nodes that are leaving (they must hold no key), so
// they stop gossiping about the cluster before the others FORGET them;
// otherwise gossip would bring them back after FORGET's 60 second ban.
func (a *Activities) ResetNodes(ctx context.Context, in ResetInput) error {
	adm, _, err := a.admin(ctx, in.Auth)
	if err != nil {
		return err
	}
	for _, addr := range in.Addrs {
		if _, err := adm.Reset(ctx, clusteradmin.ResetInput{Addr: addr, Hard: true}); err != nil {
			return classify(err)
		}
	}
	return nil
}
