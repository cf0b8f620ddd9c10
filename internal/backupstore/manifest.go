package backupstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/topology"
)

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

// ManifestKey is the key of a backup's manifest.
func ManifestKey(id string) string { return id + "/manifest.json" }

// ShardKey is the key of a shard's RDB in a backup.
func ShardKey(id string, shard int) string { return fmt.Sprintf("%s/shard-%d.rdb", id, shard) }

// WriteManifest stores m (last, after every file).
func WriteManifest(ctx context.Context, s Store, m Manifest) error {
	if m.Version == 0 {
		m.Version = ManifestVersion
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	_, err = s.Put(ctx, ManifestKey(m.ID), bytes.NewReader(b))
	return err
}

// ReadManifest reads the manifest of backup id; a backup without one is
// ErrNotFound.
func ReadManifest(ctx context.Context, s Store, id string) (Manifest, error) {
	if err := validID(id); err != nil {
		return Manifest{}, err
	}
	r, err := s.Get(ctx, ManifestKey(id))
	if err != nil {
		return Manifest{}, err
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, 16<<20))
	if err != nil {
		return Manifest{}, fmt.Errorf("read manifest of %s: %w", id, err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return Manifest{}, fmt.Errorf("manifest of %s: %w", id, err)
	}
	return m, nil
}

// ListManifests returns every complete backup's manifest, oldest first;
// with cluster set ("namespace/name"), only that cluster's.
func ListManifests(ctx context.Context, s Store, cluster string) ([]Manifest, error) {
	objs, err := s.List(ctx, "")
	if err != nil {
		return nil, err
	}
	var out []Manifest
	for _, o := range objs {
		id, rest, ok := strings.Cut(o.Key, "/")
		if !ok || rest != "manifest.json" {
			continue
		}
		m, err := ReadManifest(ctx, s, id)
		if errors.Is(err, ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, err
		}
		if cluster == "" || m.Namespace+"/"+m.Cluster == cluster {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b Manifest) int {
		if c := a.StartedAt.Compare(b.StartedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// DeleteBackup removes a backup: its manifest first (so it stops existing at
// once), then every file under its ID. Deleting a missing backup is success.
func DeleteBackup(ctx context.Context, s Store, id string) ([]string, error) {
	if err := validID(id); err != nil {
		return nil, err
	}
	if err := s.Delete(ctx, ManifestKey(id)); err != nil {
		return nil, err
	}
	objs, err := s.List(ctx, id+"/")
	if err != nil {
		return nil, err
	}
	var gone []string
	for _, o := range objs {
		if err := s.Delete(ctx, o.Key); err != nil {
			return gone, err
		}
		gone = append(gone, o.Key)
	}
	return gone, nil
}

func validID(id string) error {
	if id == "" || strings.ContainsAny(id, "/\\") || strings.Contains(id, "..") {
		return fmt.Errorf("invalid backup ID %q", id)
	}
	return nil
}

// Retention says which backups of a cluster to keep; zero fields keep all.
type Retention struct {
	// KeepLast keeps the newest N backups.
	KeepLast int `json:"keepLast,omitempty"`
	// KeepWithin keeps backups younger than this.
	KeepWithin time.Duration `json:"keepWithin,omitempty"`
}

// Expired returns the backups (oldest first in ms) that r does not keep at
// now: a backup is kept when it is among the newest KeepLast or younger than
// KeepWithin; with neither set every backup is kept.
func (r Retention) Expired(ms []Manifest, now time.Time) []Manifest {
	if r.KeepLast <= 0 && r.KeepWithin <= 0 {
		return nil
	}
	var out []Manifest
	for i, m := range ms {
		newest := r.KeepLast > 0 && i >= len(ms)-r.KeepLast
		young := r.KeepWithin > 0 && now.Sub(m.StartedAt) < r.KeepWithin
		if !newest && !young {
			out = append(out, m)
		}
	}
	return out
}

// DefaultPauseBound is the longest write pause a backup takes by default.
const DefaultPauseBound = time.Second

// LiveProgress is what a backup's long activities heartbeat, and what the
// API shows while they run.
type LiveProgress struct {
	Phase      string `json:"phase"`
	BytesDone  int64  `json:"bytesDone"`
	BytesTotal int64  `json:"bytesTotal,omitempty"`
	KeysDone   int64  `json:"keysDone,omitempty"`
}
