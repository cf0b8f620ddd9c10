package admission

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dayops/dayops/internal/backupstore"
	"github.com/dayops/dayops/internal/operation"
	"github.com/dayops/dayops/internal/planner"
	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/topology"
	"github.com/dayops/dayops/internal/workflows"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// PauseBound is a backup's write pause bound, defaulted.
func PauseBound(d time.Duration) time.Duration {
	if d == 0 {
		return backupstore.DefaultPauseBound
	}
	return d
}

func backupEntry() Entry {
	return Entry{
		Type: operation.Backup, NeedsBackups: true,
		Validate: func(r *Request, _ planner.Limits) *Error {
			var errs field.ErrorList
			if b := r.Backup.PauseBound; b < 0 || b > time.Minute {
				errs = append(errs, field.Invalid(field.NewPath("pauseBound"), spec.Duration{Duration: b}.String(), "must be between 0 (default 1s) and 1m"))
			}
			if r.Backup.KeepWithin < 0 {
				errs = append(errs, field.Invalid(field.NewPath("keepWithin"), spec.Duration{Duration: r.Backup.KeepWithin}.String(), "must not be negative"))
			}
			if len(errs) > 0 {
				return invalid("body.", errs)
			}
			r.Backup.PauseBound = PauseBound(r.Backup.PauseBound)
			return nil
		},
		Observe: observeExisting,
		Plan: func(r *Request, l Live, _ planner.Limits) (planner.Plan, error) {
			if err := backupable(l); err != nil {
				return planner.Plan{}, err
			}
			return planner.PlanBackup(planner.BackupRequest{Namespace: l.Namespace, Cluster: l.Cluster, Shards: len(l.State.Slots),
				PauseBound: r.Backup.PauseBound, KeepLast: r.Backup.KeepLast, KeepWithin: r.Backup.KeepWithin}), nil
		},
		Start: func(r *Request, _ Live, p planner.Plan, _ planner.Limits, m operation.Meta) Start {
			return Start{Workflow: workflows.Backup, WorkflowID: workflows.WorkflowID(m.Namespace, m.Cluster),
				Input: workflows.BackupInput{Meta: m, PauseBound: r.Backup.PauseBound, Plan: &p,
					Retention: backupstore.Retention{KeepLast: r.Backup.KeepLast, KeepWithin: r.Backup.KeepWithin}}}
		},
	}
}

// backupable refuses a backup unless reachable primaries serve every slot
// and no slot is open (being migrated). That is all a backup needs (it
// snapshots primaries, the rule the workflow applies too): a degraded
// cluster, e.g. one that lost a replica, is backed up, since the data is
// most at risk then.
func backupable(l Live) *Error {
	covered := 0
	for _, rs := range l.State.Slots {
		covered += rs.Count()
	}
	open := len(l.State.Health.OpenSlots) > 0
	if covered == topology.NumSlots && !open {
		return nil
	}
	problems := slices.Clone(l.State.Health.Problems)
	if covered != topology.NumSlots {
		problems = append(problems, fmt.Sprintf("the primaries serve %d of %d slots", covered, topology.NumSlots))
	}
	if open {
		problems = append(problems, fmt.Sprintf("slots %s are open (migrating or importing)", topology.RangesOf(l.State.Health.OpenSlots)))
	}
	msg := strings.Join(problems, "; ")
	return &Error{Kind: Conflict, Message: fmt.Sprintf("cluster %s/%s is not healthy enough for a backup: %s", l.Namespace, l.Cluster, msg),
		Details: []Detail{{Location: "path.name", Message: msg, Value: l.Cluster}}}
}

// readManifest reads a backup's manifest; location names the request field.
func readManifest(ctx context.Context, st backupstore.Store, id, location string) (backupstore.Manifest, *Error) {
	m, err := backupstore.ReadManifest(ctx, st, id)
	if errors.Is(err, backupstore.ErrNotFound) {
		return m, notFound(fmt.Sprintf("backup %s does not exist", id),
			Detail{Location: location, Message: "no such backup (no manifest in the store)", Value: id})
	}
	if err != nil {
		return m, &Error{Kind: Invalid, Message: "cannot read backup " + id, Details: []Detail{{Location: location, Message: err.Error(), Value: id}}}
	}
	return m, nil
}

func deleteBackupEntry() Entry {
	return Entry{
		Type: operation.DeleteBackup, NeedsBackups: true,
		Observe: func(ctx context.Context, src Sources, r *Request) (Live, *Error) {
			m, err := readManifest(ctx, src.Backups, r.BackupID, "path.id")
			return Live{Namespace: m.Namespace, Cluster: m.Cluster, Manifest: m}, err
		},
		Plan: func(r *Request, l Live, _ planner.Limits) (planner.Plan, error) {
			return planner.PlanDeleteBackup(r.BackupID, l.Namespace, l.Cluster, len(l.Manifest.Shards)+1), nil
		},
		Start: func(r *Request, _ Live, p planner.Plan, _ planner.Limits, m operation.Meta) Start {
			return Start{Workflow: workflows.DeleteBackup, WorkflowID: workflows.BackupWorkflowID(r.BackupID),
				Input: workflows.DeleteBackupInput{Meta: m, BackupID: r.BackupID, Plan: &p}}
		},
	}
}
