package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/dayops/dayops/internal/admission"
	"github.com/dayops/dayops/internal/backupstore"
	"github.com/dayops/dayops/internal/httpapi/access"
	"github.com/dayops/dayops/internal/httpapi/schedule"
	"github.com/dayops/dayops/internal/operation"
	"github.com/dayops/dayops/internal/workflows"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func (s *Server) backupRoutes() {
	api := s.api
	huma.Register(api, endpoint(RoleOperator, "POST /v1/clusters/{name}/backups", "create-backup", "backups",
		"Back up a cluster at one consistency point",
		"Starts the Backup workflow: writes are paused on every primary just long enough for each to fork its snapshot (bounded, default 1s), then every shard's RDB streams into the backup store with a SHA-256 and a manifest. The response's id is the backup's ID.",
		http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity, http.StatusServiceUnavailable), s.createBackup)
	huma.Register(api, endpoint(RoleAuditor, "GET /v1/clusters/{name}/backups", "list-cluster-backups", "backups",
		"A cluster's complete backups, oldest first", "",
		http.StatusServiceUnavailable), s.listClusterBackups)
	huma.Register(api, endpoint(RoleAuditor, "GET /v1/backups", "list-backups", "backups",
		"Every complete backup, oldest first", "",
		http.StatusServiceUnavailable), s.listBackups)
	huma.Register(api, endpoint(RoleAuditor, "GET /v1/backups/{id}", "get-backup", "backups",
		"A backup's manifest, or its operation's progress while it runs", "",
		http.StatusNotFound, http.StatusUnprocessableEntity, http.StatusServiceUnavailable), s.getBackup)
	huma.Register(api, endpoint(RoleOperator, "DELETE /v1/backups/{id}", "delete-backup", "backups",
		"Delete a backup (an audited operation of its cluster)", "",
		http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity, http.StatusServiceUnavailable), s.deleteBackup)
	huma.Register(api, endpoint(RoleOperator, "POST /v1/restores", "create-restore", "backups",
		"Restore a backup into a new cluster with any shard count",
		"Starts the Restore workflow. Every file's SHA-256 is checked before anything is created; a corrupt or missing file ends it with the file named and no cluster.",
		http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity, http.StatusServiceUnavailable), s.createRestore)
	huma.Register(api, endpoint(RoleOperator, "PUT /v1/clusters/{name}/backup-schedule", "put-backup-schedule", "backups",
		"Create or replace the cluster's backup schedule (a Temporal schedule)", "",
		http.StatusNotFound, http.StatusUnprocessableEntity, http.StatusServiceUnavailable), s.putSchedule)
	huma.Register(api, endpoint(RoleAuditor, "GET /v1/clusters/{name}/backup-schedule", "get-backup-schedule", "backups",
		"The cluster's backup schedule", "",
		http.StatusNotFound, http.StatusServiceUnavailable), s.getSchedule)
	huma.Register(api, endpoint(RoleOperator, "DELETE /v1/clusters/{name}/backup-schedule", "delete-backup-schedule", "backups",
		"Delete the cluster's backup schedule (backups are kept)", "",
		http.StatusNotFound, http.StatusServiceUnavailable), s.deleteSchedule)
}

func (s *Server) backups() (backupstore.Store, error) {
	if s.d.Backups == nil {
		return nil, huma.Error503ServiceUnavailable("no backup store is configured: set DAYOPS_BACKUP_STORE on the API and the worker")
	}
	return s.d.Backups, nil
}

func (s *Server) createBackup(ctx context.Context, in *createBackupInput) (*struct {
	Status int
	Body   BackupAccepted
}, error) {
	req := admission.Request{Type: operation.Backup, Namespace: in.Namespace, Cluster: in.Name, Backup: admission.BackupOptions{
		PauseBound: in.Body.PauseBound.Duration, KeepLast: in.Body.KeepLast, KeepWithin: in.Body.KeepWithin.Duration}}
	return s.launchBackup(ctx, req, in.Body.Reason, false)
}

// launchBackup admits and starts a backup, restore or backup deletion; the
// answer's ID is the operation's (for a backup: the backup's ID).
func (s *Server) launchBackup(ctx context.Context, req admission.Request, reason string, dryRun bool) (*struct {
	Status int
	Body   BackupAccepted
}, error) {
	status, res, id, err := s.launch(ctx, req, reason, dryRun)
	if err != nil {
		return nil, err
	}
	return &struct {
		Status int
		Body   BackupAccepted
	}{Status: status, Body: BackupAccepted{ID: id, OperationAccepted: *res}}, nil
}

func summaryOf(m backupstore.Manifest) BackupSummary {
	return BackupSummary{ID: m.ID, Namespace: m.Namespace, Cluster: m.Cluster, Shards: len(m.Shards), Keys: m.TotalKeys, Bytes: m.TotalBytes,
		ClusterConsistent: m.Consistency.ClusterConsistent, PausedMS: m.Consistency.PausedMS, RedisVersion: m.RedisVersion,
		Actor: m.Actor, Reason: m.Reason, Scheduled: m.Scheduled, StartedAt: m.StartedAt, CompletedAt: m.CompletedAt}
}

func (s *Server) listManifests(ctx context.Context, cluster string) ([]BackupSummary, error) {
	st, err := s.backups()
	if err != nil {
		return nil, err
	}
	ms, err := backupstore.ListManifests(ctx, st, cluster)
	if err != nil {
		return nil, huma.Error503ServiceUnavailable("cannot read the backup store: " + err.Error())
	}
	out := []BackupSummary{}
	for _, m := range ms {
		out = append(out, summaryOf(m))
	}
	return out, nil
}

func (s *Server) listClusterBackups(ctx context.Context, in *ClusterPath) (*struct{ Body []BackupSummary }, error) {
	if err := validName(in.Name); err != nil {
		return nil, err
	}
	out, err := s.listManifests(ctx, operation.ClusterKey(in.Namespace, in.Name))
	if err != nil {
		return nil, err
	}
	return bodyOf(out), nil
}

func (s *Server) listBackups(ctx context.Context, _ *struct{}) (*struct{ Body []BackupSummary }, error) {
	out, err := s.listManifests(ctx, "")
	if err != nil {
		return nil, err
	}
	return bodyOf(out), nil
}

func (s *Server) getBackup(ctx context.Context, in *BackupIDPath) (*struct{ Body BackupDetail }, error) {
	st, err := s.backups()
	if err != nil {
		return nil, err
	}
	m, err := backupstore.ReadManifest(ctx, st, in.ID)
	switch {
	case err == nil:
		return bodyOf(BackupDetail{ID: in.ID, Status: "Completed", Manifest: &m}), nil
	case !errors.Is(err, backupstore.ErrNotFound):
		return nil, huma.Error503ServiceUnavailable("cannot read the backup store: " + err.Error())
	}
	// No manifest: the backup runs, failed, or never existed.
	op, err := s.getOperation(ctx, &struct {
		ID string `path:"id" doc:"operation ID"`
	}{ID: in.ID})
	if err != nil {
		var se huma.StatusError
		if errors.As(err, &se) && se.GetStatus() == http.StatusNotFound {
			return nil, huma.Error404NotFound(fmt.Sprintf("backup %s does not exist", in.ID))
		}
		return nil, err
	}
	if op.Body.Type != string(operation.Backup) {
		return nil, huma.Error404NotFound(fmt.Sprintf("backup %s does not exist (%s is a %s operation)", in.ID, in.ID, op.Body.Type))
	}
	if op.Body.Status == "Completed" {
		// It completed, and its manifest is gone: deleted since.
		return nil, huma.Error404NotFound(fmt.Sprintf("backup %s does not exist any more (deleted)", in.ID))
	}
	d := BackupDetail{ID: in.ID, Status: op.Body.Status, Operation: &op.Body}
	if op.Body.Status == "Running" {
		d.Live = s.liveProgress(ctx, op.Body.WorkflowID, op.Body.RunID)
	}
	return bodyOf(d), nil
}

// liveProgress decodes the last heartbeat of the workflow's running
// activity, when it reports backupstore.LiveProgress.
func (s *Server) liveProgress(ctx context.Context, wid, rid string) *backupstore.LiveProgress {
	desc, err := s.d.Temporal.DescribeWorkflowExecution(ctx, wid, rid)
	if err != nil {
		return nil
	}
	for _, pa := range desc.GetPendingActivities() {
		payloads := pa.GetHeartbeatDetails().GetPayloads()
		if len(payloads) == 0 {
			continue
		}
		var p backupstore.LiveProgress
		if err := converter.GetDefaultDataConverter().FromPayload(payloads[0], &p); err == nil && p.Phase != "" {
			return &p
		}
	}
	return nil
}

func (s *Server) deleteBackup(ctx context.Context, in *struct {
	BackupIDPath
	ReasonQuery
}) (*struct {
	Status int
	Body   BackupAccepted
}, error) {
	return s.launchBackup(ctx, admission.Request{Type: operation.DeleteBackup, BackupID: in.ID}, in.Reason, false)
}

func (s *Server) createRestore(ctx context.Context, in *createRestoreInput) (*struct {
	Status int
	Body   BackupAccepted
}, error) {
	b := in.Body
	req := admission.Request{Type: operation.Restore, Restore: admission.RestoreOptions{Backup: b.Backup, Name: b.Name,
		Namespace: b.Namespace, Shards: b.Shards, ReplicasPerShard: b.ReplicasPerShard, Compare: b.Compare, Sample: b.Sample}}
	return s.launchBackup(ctx, req, b.Reason, in.DryRun)
}

// ScheduleID is the Temporal schedule of a cluster's backups.
func ScheduleID(namespace, name string) string { return schedule.ID(namespace, name) }

func (s *Server) putSchedule(ctx context.Context, in *putScheduleInput) (*struct{ Body BackupSchedule }, error) {
	if _, err := s.backups(); err != nil {
		return nil, err
	}
	b := in.Body
	var errs field.ErrorList
	if (b.Every.Duration > 0) == (b.Cron != "") {
		errs = append(errs, field.Invalid(field.NewPath("every"), b.Every.String(), "give exactly one of every and cron"))
	}
	if b.Every.Duration < 0 || (b.Every.Duration > 0 && b.Every.Duration < time.Minute) {
		errs = append(errs, field.Invalid(field.NewPath("every"), b.Every.String(), "must be at least 1m"))
	}
	if len(errs) > 0 {
		return nil, rejection(errs, false, "body.")
	}
	if _, err := s.observeCluster(ctx, in.Namespace, in.Name); err != nil {
		return nil, err
	}
	sp := client.ScheduleSpec{}
	if b.Every.Duration > 0 {
		sp.Intervals = []client.ScheduleIntervalSpec{{Every: b.Every.Duration}}
	} else {
		sp.CronExpressions = []string{b.Cron}
	}
	bound := admission.PauseBound(b.PauseBound.Duration)
	input := workflows.ScheduledBackupInput{Namespace: in.Namespace, Cluster: in.Name, Actor: access.Caller(ctx).Subject, Reason: b.Reason,
		PauseBound: bound, Retention: backupstore.Retention{KeepLast: b.KeepLast, KeepWithin: b.KeepWithin.Duration}, TaskQueue: s.d.TaskQueue}
	if err := schedule.Put(ctx, s.d.Temporal, sp, input, access.Caller(ctx).Subject); err != nil {
		return nil, huma.Error503ServiceUnavailable(err.Error())
	}
	s.d.Log.InfoContext(ctx, "backup schedule set", "cluster", operation.ClusterKey(in.Namespace, in.Name), "actor", access.Caller(ctx).Subject)
	return s.getSchedule(ctx, &in.ClusterPath)
}

func (s *Server) getSchedule(ctx context.Context, in *ClusterPath) (*struct{ Body BackupSchedule }, error) {
	out, err := schedule.Get(ctx, s.d.Temporal, in.Namespace, in.Name)
	if err != nil {
		return nil, scheduleError(err, in)
	}
	return bodyOf(out), nil
}

func (s *Server) deleteSchedule(ctx context.Context, in *ClusterPath) (*struct{ Status int }, error) {
	if err := schedule.Delete(ctx, s.d.Temporal, in.Namespace, in.Name); err != nil {
		return nil, scheduleError(err, in)
	}
	s.d.Log.InfoContext(ctx, "backup schedule deleted", "cluster", operation.ClusterKey(in.Namespace, in.Name), "actor", access.Caller(ctx).Subject)
	return &struct{ Status int }{Status: http.StatusNoContent}, nil
}

func scheduleError(err error, in *ClusterPath) error {
	if errors.Is(err, schedule.ErrNotFound) {
		return huma.Error404NotFound(fmt.Sprintf("cluster %s/%s has no backup schedule", in.Namespace, in.Name))
	}
	return huma.Error503ServiceUnavailable(err.Error())
}
