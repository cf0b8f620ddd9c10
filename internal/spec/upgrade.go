package spec

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Defaults of an upgrade request.
const (
	DefaultUpgradeBake        = 2 * time.Minute
	DefaultGateInterval       = 15 * time.Second
	DefaultGateProbe          = 2 * time.Second
	DefaultGateMaxLagBytes    = 1 << 20
	DefaultGateMaxErrorRate   = 0.01
	DefaultGateMaxLatency     = 250 * time.Millisecond
	DefaultGateSettle         = 60 * time.Second
	DefaultUpgradeConcurrency = 1
	MaxUpgradeBake            = 24 * time.Hour
	DefaultApprovalTimeout    = 72 * time.Hour
	MinApprovalTimeout        = time.Minute
	MaxApprovalTimeout        = 30 * 24 * time.Hour
	maxGateInterval           = time.Hour
	maxGateProbe              = time.Minute
	maxGateSettle             = 10 * time.Minute
	maxGateLatency            = time.Minute
)

// Upgrade asks for a rolling change of the image and/or redis.conf of every
// instance: canary shard(s) first, a bake under a health gate, an approval,
// then the other shards (see docs/upgrade.md).
type Upgrade struct {
	// Image is the target container image; empty keeps the current one.
	Image string `json:"image,omitempty" doc:"target container image; empty keeps the current image"`
	// Config sets redis.conf directives (merged into the cluster's); an empty
	// value removes a directive.
	Config map[string]string `json:"config,omitempty" doc:"redis.conf directives to set; an empty value removes the directive"`
	// Canary is the shard set upgraded first, alone.
	Canary Canary `json:"canary,omitzero"`
	// Bake is how long the canary runs under the health gate before the
	// approval (default 2m).
	Bake Duration `json:"bake,omitzero" doc:"how long the canary bakes under the health gate (default 2m)"`
	// Concurrency is how many shards after the canary are upgraded at once
	// (default 1). Instances of one shard never go at once.
	Concurrency int `json:"concurrency,omitempty" doc:"shards upgraded at once after the canary (default 1)"`
	// AutoApprove continues after a passing bake without waiting for an
	// approve update.
	AutoApprove bool `json:"autoApprove,omitempty"`
	// ApprovalTimeout is how long the upgrade waits for an approval after a
	// passing bake; then it rolls the canary back, as an abort by dayops
	// would (default 72h). An upgrade nobody decides on would otherwise hold
	// the cluster (no other operation may start) for ever.
	ApprovalTimeout Duration `json:"approvalTimeout,omitzero" doc:"how long to wait for an approval after the bake before rolling the canary back (default 72h)"`
	// AcceptDowntime allows upgrading a shard that has no replica: its primary
	// restarts in place, so its slots are unavailable for the restart.
	AcceptDowntime bool `json:"acceptDowntime,omitempty"`
	// Gate bounds what the health gate accepts.
	Gate Gate `json:"gate,omitzero"`
}

// Canary chooses the shards upgraded first.
type Canary struct {
	// Shards are the canary shard numbers (default: the lowest shard).
	Shards []int `json:"shards,omitempty" doc:"canary shard numbers (default: the lowest numbered shard)"`
}

// Gate is the health gate's bounds. It passes when every node reports
// cluster_state ok and sees every other node connected, every replica's link
// is up and within MaxLagBytes, no Pod restarted, a probe client's writes and
// reads on every primary fail at most MaxErrorRate with a p99 latency at most
// MaxLatency, and every user gate (hooks at point upgrade-gate) answers pass.
type Gate struct {
	MaxLagBytes  *int64   `json:"maxLagBytes,omitempty" doc:"largest replica lag in bytes (default 1 MiB)"`
	MaxErrorRate *float64 `json:"maxErrorRate,omitempty" doc:"largest share of failed probe commands, 0..1 (default 0.01)"`
	MaxLatency   Duration `json:"maxLatency,omitzero" doc:"largest p99 latency of probe commands (default 250ms)"`
	// Probe is how long the probe client runs per evaluation (default 2s).
	Probe Duration `json:"probe,omitzero" doc:"how long the probe client runs per evaluation (default 2s)"`
	// Interval between two evaluations during the bake (default 15s).
	Interval Duration `json:"interval,omitzero" doc:"time between two gate evaluations during the bake (default 15s)"`
	// Settle is how long an evaluation waits for cluster health to return
	// after a change (gossip needs a moment) before it fails (default 60s).
	Settle Duration `json:"settle,omitzero" doc:"how long an evaluation waits for health to settle (default 60s)"`
}

// Default fills unset fields. It is idempotent.
func (u *Upgrade) Default() {
	if u.Bake.Duration == 0 {
		u.Bake.Duration = DefaultUpgradeBake
	}
	if u.Concurrency == 0 {
		u.Concurrency = DefaultUpgradeConcurrency
	}
	if u.ApprovalTimeout.Duration == 0 {
		u.ApprovalTimeout.Duration = DefaultApprovalTimeout
	}
	u.Gate.Default()
}

// Default fills the gate's unset bounds.
func (g *Gate) Default() {
	if g.MaxLagBytes == nil {
		v := int64(DefaultGateMaxLagBytes)
		g.MaxLagBytes = &v
	}
	if g.MaxErrorRate == nil {
		v := DefaultGateMaxErrorRate
		g.MaxErrorRate = &v
	}
	if g.MaxLatency.Duration == 0 {
		g.MaxLatency.Duration = DefaultGateMaxLatency
	}
	if g.Probe.Duration == 0 {
		g.Probe.Duration = DefaultGateProbe
	}
	if g.Interval.Duration == 0 {
		g.Interval.Duration = DefaultGateInterval
	}
	if g.Settle.Duration == 0 {
		g.Settle.Duration = DefaultGateSettle
	}
}

// Validate reports every problem of a defaulted request that does not depend
// on the cluster (the planner checks shard numbers and live state).
func (u *Upgrade) Validate() field.ErrorList {
	var errs field.ErrorList
	if u.Image == "" && len(u.Config) == 0 {
		errs = append(errs, field.Required(field.NewPath("image"), "an upgrade needs a new image, a config change, or both"))
	}
	if u.Image != "" {
		errs = append(errs, ValidateImage(field.NewPath("image"), u.Image)...)
	}
	errs = append(errs, ValidateConfigChange(field.NewPath("config"), u.Config)...)
	seen := map[int]bool{}
	for i, s := range u.Canary.Shards {
		p := field.NewPath("canary", "shards").Index(i)
		if s < 0 {
			errs = append(errs, field.Invalid(p, s, "must be a shard number (0 or more)"))
		}
		if seen[s] {
			errs = append(errs, field.Duplicate(p, s))
		}
		seen[s] = true
	}
	if u.Bake.Duration < 0 || u.Bake.Duration > MaxUpgradeBake {
		errs = append(errs, field.Invalid(field.NewPath("bake"), u.Bake.String(), fmt.Sprintf("must be between 0s and %s", MaxUpgradeBake)))
	}
	// Zero is an input from before the deadline existed (Default sets one).
	if d := u.ApprovalTimeout.Duration; d != 0 && (d < MinApprovalTimeout || d > MaxApprovalTimeout) {
		errs = append(errs, field.Invalid(field.NewPath("approvalTimeout"), u.ApprovalTimeout.String(),
			fmt.Sprintf("must be between %s and %s", MinApprovalTimeout, MaxApprovalTimeout)))
	}
	if u.Concurrency < 1 {
		errs = append(errs, field.Invalid(field.NewPath("concurrency"), u.Concurrency, "must be at least 1"))
	}
	g, p := u.Gate, field.NewPath("gate")
	if g.MaxLagBytes != nil && *g.MaxLagBytes < 0 {
		errs = append(errs, field.Invalid(p.Child("maxLagBytes"), *g.MaxLagBytes, "must be 0 or more"))
	}
	if g.MaxErrorRate != nil && (*g.MaxErrorRate < 0 || *g.MaxErrorRate > 1) {
		errs = append(errs, field.Invalid(p.Child("maxErrorRate"), *g.MaxErrorRate, "must be between 0 and 1"))
	}
	for _, d := range []struct {
		name     string
		v        time.Duration
		min, max time.Duration
	}{{"maxLatency", g.MaxLatency.Duration, time.Millisecond, maxGateLatency}, {"probe", g.Probe.Duration, 100 * time.Millisecond, maxGateProbe},
		{"interval", g.Interval.Duration, MinGateInterval, maxGateInterval}, {"settle", g.Settle.Duration, time.Second, maxGateSettle}} {
		if d.v < d.min || d.v > d.max {
			errs = append(errs, field.Invalid(p.Child(d.name), d.v.String(), fmt.Sprintf("must be between %s and %s", d.min, d.max)))
		}
	}
	return errs
}

// Apply returns the target spec: c with the request's image and config.
func (u *Upgrade) Apply(c Cluster) Cluster {
	out := c
	if u.Image != "" {
		out.Image = u.Image
	}
	if len(u.Config) > 0 {
		out.Config = map[string]string{}
		for k, v := range c.Config {
			out.Config[k] = v
		}
		for _, k := range slices.Sorted(maps.Keys(u.Config)) {
			if u.Config[k] == "" {
				delete(out.Config, k)
			} else {
				out.Config[k] = u.Config[k]
			}
		}
		if len(out.Config) == 0 {
			out.Config = nil
		}
	}
	out.Hooks = slices.Clone(c.Hooks)
	return out
}
