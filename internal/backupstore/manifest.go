package backupstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/dayops/dayops/internal/apiv1"
	"io"
	"slices"
	"strings"
	"time"
)

// ManifestVersion is the manifest schema version written now.
const ManifestVersion = apiv1.ManifestVersion

// The manifest types are wire types (the API returns manifests as they are
// stored): they live in package apiv1.
type (
	Manifest    = apiv1.Manifest
	Consistency = apiv1.Consistency
	ShardFile   = apiv1.ShardFile
)

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
// API shows while they run (a wire type).
type LiveProgress = apiv1.LiveProgress
