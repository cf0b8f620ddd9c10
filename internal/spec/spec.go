package spec

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/danielgtaylor/huma/v2"
)

// Defaults applied by Cluster.Default.
const (
	DefaultNamespace  = "default"
	DefaultImage      = "redis:7.0"
	DefaultZoneKey    = "topology.kubernetes.io/zone"
	DefaultVolumeSize = "1Gi"
	// DefaultPersistence is AOF: with appendfsync everysec Redis write(2)s
	// each write to the AOF before it replies, so a killed redis-server loses
	// no acknowledged write (the page cache survives the process); only a
	// crash of the whole machine can lose up to the last second. RDB alone
	// loses everything since the last snapshot on any crash.
	DefaultPersistence = PersistenceAOF
	DefaultHookTimeout = 30 * time.Second
	DefaultHookRetries = 2
)

// Cluster is the desired shape of one Redis Cluster deployment.
type Cluster struct {
	// Name identifies the cluster within its namespace; it prefixes every
	// object the cluster owns, so it is a DNS-1035 label of at most 40 characters.
	Name string `json:"name"`
	// Namespace is the Kubernetes namespace the cluster lives in (default "default").
	Namespace string `json:"namespace,omitempty"`
	// Shards is the number of primaries, each owning a share of the 16384 slots.
	Shards int `json:"shards"`
	// ReplicasPerShard is the number of replicas of each primary.
	ReplicasPerShard int `json:"replicasPerShard"`
	// Image is the Redis container image (default "redis:7.0").
	Image string `json:"image,omitempty"`
	// Resources are the requests and limits of each instance.
	Resources Resources `json:"resources,omitzero"`
	// Persistence says how each instance keeps its data.
	Persistence Persistence `json:"persistence,omitzero"`
	// PasswordSecret names an existing Secret in the cluster's namespace (key
	// "password") holding the password; it must carry the opt-in label
	// dayops.io/password-secret=true (LabelPasswordSecret). When empty, dayops
	// generates one into "<name>-auth".
	PasswordSecret string `json:"passwordSecret,omitempty"`
	// Zones is the placement policy across failure zones.
	Zones ZonePolicy `json:"zones,omitzero"`
	// Config holds extra redis.conf directives. Directives dayops manages itself
	// (ports, cluster mode, persistence, authentication) are rejected.
	Config map[string]string `json:"config,omitempty"`
	// Hooks are user actions run at named points of every operation.
	Hooks []Hook `json:"hooks,omitempty"`
}

// Resources of one instance, as Kubernetes quantities ("500m", "1Gi").
type Resources struct {
	CPU    string `json:"cpu,omitempty"`
	Memory string `json:"memory,omitempty"`
	// MaxMemory is Redis' maxmemory; when empty and Memory is set, dayops uses
	// 75% of Memory to leave room for fork copy-on-write and buffers.
	MaxMemory string `json:"maxMemory,omitempty"`
}

// PersistenceMode selects how an instance keeps its data across restarts.
type PersistenceMode string

// Persistence modes.
const (
	PersistenceNone PersistenceMode = "none"
	PersistenceRDB  PersistenceMode = "rdb"
	PersistenceAOF  PersistenceMode = "aof"
)

// Persistence of each instance's data.
type Persistence struct {
	// Mode is none, rdb or aof (default aof: see DefaultPersistence).
	Mode PersistenceMode `json:"mode,omitempty"`
	// Size of each instance's PersistentVolumeClaim (default 1Gi).
	Size string `json:"size,omitempty"`
	// StorageClass of the claims; empty means the cluster's default class.
	StorageClass string `json:"storageClass,omitempty"`
}

// ZonePolicy controls placement across failure zones.
type ZonePolicy struct {
	// Key is the node label that names a zone (default topology.kubernetes.io/zone).
	Key string `json:"key,omitempty"`
	// AllowSharedZones accepts that a primary and one of its replicas share a zone
	// when there are fewer zones than instances per shard. Without it such a
	// request is refused before anything starts.
	AllowSharedZones bool `json:"allowSharedZones,omitempty"`
}

// Duration is a time.Duration that reads and writes as a Go duration string ("30s").
type Duration struct{ time.Duration }

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a duration string such as "30s" or "2m".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"30s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// Schema describes Duration in the OpenAPI document as a duration string.
func (Duration) Schema(huma.Registry) *huma.Schema {
	return &huma.Schema{Type: huma.TypeString, Description: "a Go duration such as 30s or 2m", Examples: []any{"30s"}}
}
