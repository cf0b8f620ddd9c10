package spec

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// MaxNameLength keeps "<name>-<ordinal>" and "<name>-shard-<n>" within the
// 63 characters of a label value and a Service name.
const MaxNameLength = 40

// Limits bound what one request may ask for.
type Limits struct {
	MinShards, MaxShards int
	MaxReplicasPerShard  int
	MaxHooks             int
}

// DefaultLimits are the limits the API enforces unless configured otherwise.
var DefaultLimits = Limits{MinShards: 1, MaxShards: 128, MaxReplicasPerShard: 5, MaxHooks: 64}

// Default fills unset fields with their defaults. It is idempotent.
func (c *Cluster) Default() {
	if c.Namespace == "" {
		c.Namespace = DefaultNamespace
	}
	if c.Image == "" {
		c.Image = DefaultImage
	}
	if c.Persistence.Mode == "" {
		c.Persistence.Mode = DefaultPersistence
	}
	if c.Persistence.Size == "" && c.Persistence.Mode != PersistenceNone {
		c.Persistence.Size = DefaultVolumeSize
	}
	if c.Zones.Key == "" {
		c.Zones.Key = DefaultZoneKey
	}
	for i := range c.Hooks {
		c.Hooks[i].Default()
	}
}

// Default fills the hook's unset fields.
func (h *Hook) Default() {
	if h.Scope == "" {
		h.Scope = ScopeShard
	}
	if h.Timeout.Duration == 0 {
		h.Timeout.Duration = DefaultHookTimeout
	}
	if h.Retries == nil {
		r := DefaultHookRetries
		h.Retries = &r
	}
	if h.FailurePolicy == "" {
		h.FailurePolicy = FailOperation
	}
}

// Validate reports every problem of a defaulted spec at once.
func (c *Cluster) Validate(lim Limits) field.ErrorList {
	var errs field.ErrorList
	errs = append(errs, ValidateName(field.NewPath("name"), c.Name)...)
	if msgs := validation.IsDNS1123Label(c.Namespace); len(msgs) > 0 {
		errs = append(errs, field.Invalid(field.NewPath("namespace"), c.Namespace, strings.Join(msgs, "; ")))
	}
	if c.Shards < lim.MinShards || c.Shards > lim.MaxShards {
		errs = append(errs, field.Invalid(field.NewPath("shards"), c.Shards,
			fmt.Sprintf("must be between %d and %d", lim.MinShards, lim.MaxShards)))
	}
	if c.ReplicasPerShard < 0 || c.ReplicasPerShard > lim.MaxReplicasPerShard {
		errs = append(errs, field.Invalid(field.NewPath("replicasPerShard"), c.ReplicasPerShard,
			fmt.Sprintf("must be between 0 and %d", lim.MaxReplicasPerShard)))
	}
	errs = append(errs, ValidateImage(field.NewPath("image"), c.Image)...)
	errs = append(errs, c.Resources.validate(field.NewPath("resources"))...)
	errs = append(errs, c.Persistence.validate(field.NewPath("persistence"))...)
	if c.PasswordSecret != "" {
		if msgs := validation.IsDNS1123Subdomain(c.PasswordSecret); len(msgs) > 0 {
			errs = append(errs, field.Invalid(field.NewPath("passwordSecret"), c.PasswordSecret, strings.Join(msgs, "; ")))
		}
	}
	if msgs := validation.IsQualifiedName(c.Zones.Key); len(msgs) > 0 {
		errs = append(errs, field.Invalid(field.NewPath("zones", "key"), c.Zones.Key, strings.Join(msgs, "; ")))
	}
	errs = append(errs, validateConfig(field.NewPath("config"), c.Config)...)
	errs = append(errs, ValidateHooks(field.NewPath("hooks"), c.Hooks, lim)...)
	return errs
}

// ValidateName checks a cluster name.
func ValidateName(p *field.Path, name string) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(p, "a cluster name is required")}
	}
	var errs field.ErrorList
	if len(name) > MaxNameLength {
		errs = append(errs, field.TooLong(p, name, MaxNameLength))
	}
	if msgs := validation.IsDNS1035Label(name); len(msgs) > 0 {
		errs = append(errs, field.Invalid(p, name, strings.Join(msgs, "; ")))
	}
	return errs
}

func (r Resources) validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, q := range []struct{ name, v string }{{"cpu", r.CPU}, {"memory", r.Memory}, {"maxMemory", r.MaxMemory}} {
		if q.v == "" {
			continue
		}
		v, err := resource.ParseQuantity(q.v)
		if err != nil {
			errs = append(errs, field.Invalid(p.Child(q.name), q.v, "must be a Kubernetes quantity such as 500m or 1Gi"))
			continue
		}
		if v.Sign() <= 0 {
			errs = append(errs, field.Invalid(p.Child(q.name), q.v, "must be positive"))
		}
	}
	if r.Memory != "" && r.MaxMemory != "" {
		mem, err1 := resource.ParseQuantity(r.Memory)
		mx, err2 := resource.ParseQuantity(r.MaxMemory)
		if err1 == nil && err2 == nil && mx.Cmp(mem) >= 0 {
			errs = append(errs, field.Invalid(p.Child("maxMemory"), r.MaxMemory, "must be below memory, to leave room for forks and buffers"))
		}
	}
	return errs
}

func (ps Persistence) validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch ps.Mode {
	case PersistenceNone, PersistenceRDB, PersistenceAOF:
	default:
		errs = append(errs, field.NotSupported(p.Child("mode"), ps.Mode,
			[]PersistenceMode{PersistenceNone, PersistenceRDB, PersistenceAOF}))
	}
	if ps.Size != "" {
		v, err := resource.ParseQuantity(ps.Size)
		if err != nil || v.Sign() <= 0 {
			errs = append(errs, field.Invalid(p.Child("size"), ps.Size, "must be a positive quantity such as 1Gi"))
		}
	}
	if ps.StorageClass != "" {
		if msgs := validation.IsDNS1123Subdomain(ps.StorageClass); len(msgs) > 0 {
			errs = append(errs, field.Invalid(p.Child("storageClass"), ps.StorageClass, strings.Join(msgs, "; ")))
		}
	}
	return errs
}

// ValidateHooks checks defaulted hooks, from a cluster spec or a request.
func ValidateHooks(p *field.Path, hooks []Hook, lim Limits) field.ErrorList {
	var errs field.ErrorList
	if len(hooks) > lim.MaxHooks {
		errs = append(errs, field.TooMany(p, len(hooks), lim.MaxHooks))
	}
	seen := map[string]bool{}
	for i, h := range hooks {
		hp := p.Index(i)
		if msgs := validation.IsDNS1123Label(h.Name); len(msgs) > 0 {
			errs = append(errs, field.Invalid(hp.Child("name"), h.Name, strings.Join(msgs, "; ")))
		}
		key := string(h.Point) + "/" + h.Name
		if seen[key] {
			errs = append(errs, field.Duplicate(hp.Child("name"), h.Name))
		}
		seen[key] = true
		if !slices.Contains(HookPoints, h.Point) {
			errs = append(errs, field.NotSupported(hp.Child("point"), h.Point, HookPoints))
		}
		switch h.Scope {
		case ScopeCluster, ScopeShard, ScopeReplica:
		default:
			errs = append(errs, field.NotSupported(hp.Child("scope"), h.Scope, []HookScope{ScopeCluster, ScopeShard, ScopeReplica}))
		}
		switch {
		case h.HTTP == nil && h.Exec == nil:
			errs = append(errs, field.Required(hp, "exactly one of http and exec is required"))
		case h.HTTP != nil && h.Exec != nil:
			errs = append(errs, field.Invalid(hp, "http+exec", "exactly one of http and exec may be set"))
		case h.HTTP != nil:
			u, err := url.Parse(h.HTTP.URL)
			switch {
			case len(h.HTTP.URL) > MaxHookURLLength:
				errs = append(errs, field.TooLong(hp.Child("http", "url"), "", MaxHookURLLength))
			case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
				errs = append(errs, field.Invalid(hp.Child("http", "url"), RedactURL(h.HTTP.URL), "must be an absolute http or https URL"))
			}
			if len(h.HTTP.Headers) > MaxHookHeaders {
				errs = append(errs, field.TooMany(hp.Child("http", "headers"), len(h.HTTP.Headers), MaxHookHeaders))
			}
			for _, k := range slices.Sorted(maps.Keys(h.HTTP.Headers)) {
				v := h.HTTP.Headers[k]
				if k == "" || len(k) > MaxHookHeaderBytes || len(v) > MaxHookHeaderBytes || strings.ContainsAny(k, " :\r\n\x00") || strings.ContainsAny(v, "\r\n\x00") {
					errs = append(errs, field.Invalid(hp.Child("http", "headers").Key(k), "", fmt.Sprintf("must be an HTTP header name and value of at most %d bytes each, without line breaks", MaxHookHeaderBytes)))
				}
			}
		case h.Exec != nil:
			if len(h.Exec.Command) == 0 || h.Exec.Command[0] == "" {
				errs = append(errs, field.Required(hp.Child("exec", "command"), "a command is required"))
			}
			if len(h.Exec.Command) > MaxExecArgs {
				errs = append(errs, field.TooMany(hp.Child("exec", "command"), len(h.Exec.Command), MaxExecArgs))
			}
			for j, a := range h.Exec.Command {
				if len(a) > MaxExecArgBytes {
					errs = append(errs, field.TooLong(hp.Child("exec", "command").Index(j), "", MaxExecArgBytes))
				}
			}
			if h.Scope == ScopeCluster {
				errs = append(errs, field.Invalid(hp.Child("scope"), h.Scope, "exec hooks run in an instance's pod: use scope shard or replica"))
			}
		}
		if h.Timeout.Duration < MinHookTimeout || h.Timeout.Duration > MaxHookTimeout {
			errs = append(errs, field.Invalid(hp.Child("timeout"), h.Timeout.String(), fmt.Sprintf("must be between %s and %s", MinHookTimeout, MaxHookTimeout)))
		}
		if h.Retries != nil && (*h.Retries < 0 || *h.Retries > MaxHookRetries) {
			errs = append(errs, field.Invalid(hp.Child("retries"), *h.Retries, fmt.Sprintf("must be between 0 and %d", MaxHookRetries)))
		}
		switch h.FailurePolicy {
		case FailOperation, IgnoreFailure:
		default:
			errs = append(errs, field.NotSupported(hp.Child("failurePolicy"), h.FailurePolicy, []FailurePolicy{FailOperation, IgnoreFailure}))
		}
	}
	return errs
}
