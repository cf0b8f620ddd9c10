package admission

import (
	"context"
	"errors"
	"fmt"

	"github.com/dayops/dayops/internal/backupstore"
	"github.com/dayops/dayops/internal/operation"
	"github.com/dayops/dayops/internal/planner"
	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/topology"
	"github.com/dayops/dayops/internal/workflows"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// DefaultSample is the number of values compared per backup shard with
// compare=sample.
const DefaultSample = 1000

func restoreEntry() Entry {
	return Entry{
		Type: operation.Restore, NeedsBackups: true,
		Validate: func(r *Request, _ planner.Limits) *Error {
			var errs field.ErrorList
			if r.Restore.Backup == "" {
				errs = append(errs, field.Required(field.NewPath("backup"), "the ID of the backup to restore"))
			}
			errs = append(errs, spec.ValidateName(field.NewPath("name"), r.Restore.Name)...)
			if len(errs) > 0 {
				return invalid("body.", errs)
			}
			if r.Restore.Compare == "sample" && r.Restore.Sample == 0 {
				r.Restore.Sample = DefaultSample
			}
			return nil
		},
		Observe: observeRestore,
		Plan: func(r *Request, l Live, lim planner.Limits) (planner.Plan, error) {
			m := l.Manifest
			slots := make([]topology.Ranges, len(m.Shards))
			for i, f := range m.Shards {
				slots[i] = f.Slots
			}
			return planner.PlanRestore(planner.RestoreRequest{Spec: l.Spec, Zones: l.Zones, BackupID: m.ID,
				Source: operation.ClusterKey(m.Namespace, m.Cluster), Slots: slots, Keys: m.TotalKeys, Compare: r.Restore.Compare}, lim)
		},
		Start: func(r *Request, l Live, p planner.Plan, lim planner.Limits, m operation.Meta) Start {
			return Start{Workflow: workflows.Restore, WorkflowID: workflows.WorkflowID(m.Namespace, m.Cluster),
				Input: workflows.RestoreInput{Meta: m, BackupID: l.Manifest.ID, Spec: l.Spec, Plan: p,
					Compare: r.Restore.Compare, Sample: r.Restore.Sample, Limits: limitsPtr(lim)}}
		},
	}
}

// observeRestore reads the backup, checks that its files are there, derives
// the new cluster's spec and checks that its name is free.
func observeRestore(ctx context.Context, src Sources, r *Request) (Live, *Error) {
	m, err := readManifest(ctx, src.Backups, r.Restore.Backup, "body.backup")
	if err != nil {
		return Live{}, err
	}
	if err := filesPresent(ctx, src.Backups, m); err != nil {
		return Live{}, err
	}
	c := restoreSpec(m, r.Restore)
	// Validate ran before the manifest was known, so the derived spec is
	// validated here.
	if errs := c.Validate(src.Limits.Spec); len(errs) > 0 {
		return Live{}, invalid("body.", errs)
	}
	if err := checkReferences(ctx, src.Cluster, c); err != nil {
		return Live{}, err
	}
	l, err := observeNew(ctx, src.Cluster, c.Namespace, c.Name, c.Zones.Key)
	if err != nil {
		return Live{}, err
	}
	l.Spec, l.Manifest = c, m
	return l, nil
}

// filesPresent checks that every file is there with its size; checksums are
// verified by the workflow before it creates anything.
func filesPresent(ctx context.Context, st backupstore.Store, m backupstore.Manifest) *Error {
	for _, f := range m.Shards {
		o, err := st.Stat(ctx, f.Key)
		switch {
		case errors.Is(err, backupstore.ErrNotFound):
			return &Error{Kind: Invalid, Message: fmt.Sprintf("backup %s: file %s is missing", m.ID, f.Key),
				Details: []Detail{{Location: "body.backup", Message: "file " + f.Key + " is missing", Value: m.ID}}}
		case err != nil:
			return unavailable("cannot read the backup store", err)
		case o.Size != f.Size:
			return &Error{Kind: Invalid, Message: fmt.Sprintf("backup %s: file %s has %d bytes, the manifest says %d", m.ID, f.Key, o.Size, f.Size),
				Details: []Detail{{Location: "body.backup", Message: fmt.Sprintf("file %s is truncated or corrupt", f.Key), Value: m.ID}}}
		}
	}
	return nil
}

// restoreSpec is the backup's spec renamed, with the requested shape.
func restoreSpec(m backupstore.Manifest, o RestoreOptions) spec.Cluster {
	c := m.Spec
	c.Name = o.Name
	if o.Namespace != "" {
		c.Namespace = o.Namespace
	} else if c.Namespace == "" {
		c.Namespace = m.Namespace
	}
	c.Shards = len(m.Shards)
	if o.Shards > 0 {
		c.Shards = o.Shards
	}
	if o.ReplicasPerShard != nil {
		c.ReplicasPerShard = *o.ReplicasPerShard
	}
	if c.PasswordSecret != "" && c.Namespace != m.Namespace {
		c.PasswordSecret = "" // the source's Secret lives in another namespace
	}
	c.Default()
	return c
}
