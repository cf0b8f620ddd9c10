package apiv1

import (
	"time"

	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/topology"
)

// BackupBody asks for a backup of a cluster.
type BackupBody struct {
	Reason string `json:"reason,omitempty" doc:"why: recorded with every audit event of the operation and in the manifest"`
	// PauseBound is the longest write pause at the consistency point.
	PauseBound spec.Duration `json:"pauseBound,omitzero" doc:"longest write pause at the consistency point (default 1s); past it the backup falls back to per-shard points"`
	KeepLast   int           `json:"keepLast,omitempty" minimum:"0" doc:"retention: afterwards keep only the newest N backups of the cluster (with keepWithin: those matching either)"`
	KeepWithin spec.Duration `json:"keepWithin,omitzero" doc:"retention: afterwards keep only backups younger than this"`
}

// BackupAccepted answers a started backup, restore or deletion.
type BackupAccepted struct {
	// ID is the backup's ID (a backup) or the operation's ID (a restore or
	// deletion).
	ID string `json:"id"`
	OperationAccepted
}

// BackupSummary is one line of a backup list.
type BackupSummary struct {
	ID                string    `json:"id"`
	Namespace         string    `json:"namespace"`
	Cluster           string    `json:"cluster"`
	Shards            int       `json:"shards"`
	Keys              int64     `json:"keys"`
	Bytes             int64     `json:"bytes"`
	ClusterConsistent bool      `json:"clusterConsistent"`
	PausedMS          float64   `json:"pausedMs"`
	RedisVersion      string    `json:"redisVersion"`
	Actor             string    `json:"actor"`
	Reason            string    `json:"reason,omitempty"`
	Scheduled         bool      `json:"scheduled,omitempty"`
	StartedAt         time.Time `json:"startedAt"`
	CompletedAt       time.Time `json:"completedAt"`
}

// BackupDetail is a backup: its manifest once complete, its operation while
// it runs (or if it failed).
type BackupDetail struct {
	ID string `json:"id"`
	// Status is Completed once the manifest exists, else the operation's
	// status (Running, Failed, ...).
	Status    string     `json:"status"`
	Manifest  *Manifest  `json:"manifest,omitempty"`
	Operation *Operation `json:"operation,omitempty"`
	// Live is the running step's own progress (bytes streamed, keys
	// replayed), from its last heartbeat.
	Live *LiveProgress `json:"live,omitempty"`
}

// RestoreBody asks for a backup to be restored into a new cluster.
type RestoreBody struct {
	Backup    string `json:"backup" doc:"the backup's ID"`
	Name      string `json:"name" doc:"the new cluster's name (it must not exist)"`
	Namespace string `json:"namespace,omitempty" doc:"the new cluster's namespace (default: the backup's)"`
	Shards    int    `json:"shards,omitempty" minimum:"0" doc:"shard count of the new cluster (default: the backup's)"`
	// ReplicasPerShard defaults to the backup's.
	ReplicasPerShard *int   `json:"replicasPerShard,omitempty" doc:"replicas per shard (default: the backup's)"`
	Compare          string `json:"compare,omitempty" enum:"counts,sample,full" doc:"after key counts per slot range: also compare a sample of values, or all"`
	Sample           int    `json:"sample,omitempty" minimum:"0" doc:"values compared per backup shard with compare=sample (default 1000)"`
	Reason           string `json:"reason,omitempty" doc:"why: recorded with every audit event of the operation"`
}

// BackupSchedule is a cluster's backup schedule.
type BackupSchedule struct {
	ScheduleID string `json:"scheduleId,omitempty" readOnly:"true"`
	// Every is the interval between backups.
	Every      spec.Duration `json:"every,omitzero" doc:"interval between backups, e.g. 6h (one of every, cron)"`
	Cron       string        `json:"cron,omitempty" doc:"cron expression, e.g. '0 3 * * *' (one of every, cron)"`
	KeepLast   int           `json:"keepLast,omitempty" minimum:"0"`
	KeepWithin spec.Duration `json:"keepWithin,omitzero"`
	PauseBound spec.Duration `json:"pauseBound,omitzero"`
	Reason     string        `json:"reason,omitempty"`
	Paused     bool          `json:"paused,omitempty" readOnly:"true"`
	NextRuns   []time.Time   `json:"nextRuns,omitempty" readOnly:"true"`
}

// ManifestVersion is the manifest schema version written now.
const ManifestVersion = 1

// Manifest describes one complete backup.
type Manifest struct {
	Version int `json:"version"`
	// ID is the backup's ID (the Backup operation's ID).
	ID        string `json:"id"`
	Namespace string `json:"namespace"`
	Cluster   string `json:"cluster"`
	// Actor and Reason are who asked and why (a schedule's actor for
	// scheduled backups).
	Actor     string    `json:"actor"`
	Reason    string    `json:"reason,omitempty"`
	Scheduled bool      `json:"scheduled,omitempty"`
	StartedAt time.Time `json:"startedAt"`
	// CompletedAt is when the last file was stored.
	CompletedAt time.Time `json:"completedAt"`
	// Spec is the cluster's spec at backup time.
	Spec         spec.Cluster `json:"spec"`
	RedisVersion string       `json:"redisVersion"`
	Consistency  Consistency  `json:"consistency"`
	Shards       []ShardFile  `json:"shards"`
	TotalBytes   int64        `json:"totalBytes"`
	TotalKeys    int64        `json:"totalKeys"`
}

// Consistency says how the shards' snapshots relate in time.
type Consistency struct {
	// ClusterConsistent is true when every shard's snapshot was forked while
	// writes were paused on every primary: the backup is one point in time.
	ClusterConsistent bool `json:"clusterConsistent"`
	// At is when writes were paused (the consistency point).
	At time.Time `json:"at"`
	// PauseBoundMS is the longest pause allowed.
	PauseBoundMS int64 `json:"pauseBoundMs"`
	// PausedMS is how long writes were actually paused: from the first
	// primary's CLIENT PAUSE reply to the last primary's CLIENT UNPAUSE reply.
	PausedMS float64 `json:"pausedMs"`
	// Note explains a fallback to per-shard points.
	Note string `json:"note,omitempty"`
}

// ShardFile is one shard's RDB.
type ShardFile struct {
	Shard int `json:"shard"`
	// Slots are the slot ranges the shard's primary owned.
	Slots         topology.Ranges `json:"slots"`
	PrimaryNodeID string          `json:"primaryNodeId"`
	PrimaryAddr   string          `json:"primaryAddr"`
	ReplicaIDs    []string        `json:"replicaNodeIds,omitempty"`
	// Key is the file's key in the store.
	Key    string `json:"key"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
	// Keys is DBSIZE of the primary at the consistency point.
	Keys int64 `json:"keys"`
	// ForkedAt is when the primary forked for this snapshot.
	ForkedAt time.Time `json:"forkedAt"`
}

// LiveProgress is what long activities heartbeat (and the API shows while they
// run).
type LiveProgress struct {
	Phase      string `json:"phase"`
	BytesDone  int64  `json:"bytesDone"`
	BytesTotal int64  `json:"bytesTotal,omitempty"`
	KeysDone   int64  `json:"keysDone,omitempty"`
}
