// Package schedule keeps a cluster's backup schedule as a Temporal schedule
// that starts the ScheduledBackup workflow. The API's handlers validate the
// request and map errors to HTTP; this package only talks to Temporal.
package schedule

import (
	"context"
	"errors"
	"fmt"

	"github.com/dayops/dayops/internal/apiv1"
	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/workflows"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
)

// ErrNotFound: the cluster has no backup schedule.
var ErrNotFound = errors.New("no backup schedule")

// ID is the Temporal schedule of a cluster's backups.
func ID(namespace, name string) string { return "dayops-backup/" + namespace + "/" + name }

// Put creates the schedule of in's cluster, or replaces its spec and action:
// every run starts ScheduledBackup with in on in.TaskQueue. actor is named
// in a new schedule's note.
func Put(ctx context.Context, c client.Client, sp client.ScheduleSpec, in workflows.ScheduledBackupInput, actor string) error {
	id := ID(in.Namespace, in.Cluster)
	action := &client.ScheduleWorkflowAction{ID: "dayops-scheduled-backup/" + in.Namespace + "/" + in.Cluster, Workflow: workflows.ScheduledBackup,
		Args: []any{in}, TaskQueue: in.TaskQueue}
	sc := c.ScheduleClient()
	h := sc.GetHandle(ctx, id)
	if _, err := h.Describe(ctx); err == nil {
		err = h.Update(ctx, client.ScheduleUpdateOptions{DoUpdate: func(u client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			sch := u.Description.Schedule
			sch.Spec = &sp
			sch.Action = action
			return &client.ScheduleUpdate{Schedule: &sch}, nil
		}})
		if err != nil {
			return fmt.Errorf("cannot update the schedule: %w", err)
		}
		return nil
	}
	if _, err := sc.Create(ctx, client.ScheduleOptions{ID: id, Spec: sp, Action: action,
		Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP, Note: fmt.Sprintf("backups of %s/%s, set by %s", in.Namespace, in.Cluster, actor)}); err != nil {
		return fmt.Errorf("cannot create the schedule: %w", err)
	}
	return nil
}

// Get reads a cluster's schedule (ErrNotFound when it has none).
func Get(ctx context.Context, c client.Client, namespace, name string) (apiv1.BackupSchedule, error) {
	d, err := c.ScheduleClient().GetHandle(ctx, ID(namespace, name)).Describe(ctx)
	if err != nil {
		return apiv1.BackupSchedule{}, notFound(err, "cannot read the schedule")
	}
	out := apiv1.BackupSchedule{ScheduleID: ID(namespace, name), NextRuns: d.Info.NextActionTimes}
	if sp := d.Schedule.Spec; sp != nil {
		if len(sp.Intervals) > 0 {
			out.Every = spec.Duration{Duration: sp.Intervals[0].Every}
		}
		if len(sp.CronExpressions) > 0 {
			out.Cron = sp.CronExpressions[0]
		}
	}
	if d.Schedule.State != nil {
		out.Paused = d.Schedule.State.Paused
	}
	return out, nil
}

// Delete removes a cluster's schedule (ErrNotFound when it has none); the
// backups it made are kept.
func Delete(ctx context.Context, c client.Client, namespace, name string) error {
	if err := c.ScheduleClient().GetHandle(ctx, ID(namespace, name)).Delete(ctx); err != nil {
		return notFound(err, "cannot delete the schedule")
	}
	return nil
}

func notFound(err error, what string) error {
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return ErrNotFound
	}
	return fmt.Errorf("%s: %w", what, err)
}
