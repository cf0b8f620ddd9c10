package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/dayops/dayops/internal/activities/backup"
	"github.com/dayops/dayops/internal/activities/kube"
	"github.com/dayops/dayops/internal/backupstore"
	"github.com/dayops/dayops/internal/operation"
	"github.com/dayops/dayops/internal/planner"
	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/topology"
	"github.com/dayops/dayops/internal/workflows"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"k8s.io/apimachinery/pkg/util/validation/field"
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
	Status    string                `json:"status"`
	Manifest  *backupstore.Manifest `json:"manifest,omitempty"`
	Operation *Operation            `json:"operation,omitempty"`
	// Live is the running step's own progress (bytes streamed, keys
	// replayed), from its last heartbeat.
	Live *backup.LiveProgress `json:"live,omitempty"`
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

func (s *Server) backupRoutes() {
	api := s.api
	huma.Register(api, secured(RoleOperator, huma.Operation{
		OperationID: "create-backup", Method: http.MethodPost, Path: "/v1/clusters/{name}/backups", Tags: []string{"backups"},
		Summary:     "Back up a cluster at one consistency point",
		Description: "Starts the Backup workflow: writes are paused on every primary just long enough for each to fork its snapshot (bounded, default 1s), then every shard's RDB streams into the backup store with a SHA-256 and a manifest. The response's id is the backup's ID.",
		Errors:      []int{http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity, http.StatusServiceUnavailable},
	}), s.createBackup)
	huma.Register(api, secured(RoleAuditor, huma.Operation{
		OperationID: "list-cluster-backups", Method: http.MethodGet, Path: "/v1/clusters/{name}/backups", Tags: []string{"backups"},
		Summary: "A cluster's complete backups, oldest first",
		Errors:  []int{http.StatusServiceUnavailable},
	}), s.listClusterBackups)
	huma.Register(api, secured(RoleAuditor, huma.Operation{
		OperationID: "list-backups", Method: http.MethodGet, Path: "/v1/backups", Tags: []string{"backups"},
		Summary: "Every complete backup, oldest first",
		Errors:  []int{http.StatusServiceUnavailable},
	}), s.listBackups)
	huma.Register(api, secured(RoleAuditor, huma.Operation{
		OperationID: "get-backup", Method: http.MethodGet, Path: "/v1/backups/{id}", Tags: []string{"backups"},
		Summary: "A backup's manifest, or its operation's progress while it runs",
		Errors:  []int{http.StatusNotFound, http.StatusUnprocessableEntity, http.StatusServiceUnavailable},
	}), s.getBackup)
	huma.Register(api, secured(RoleOperator, huma.Operation{
		OperationID: "delete-backup", Method: http.MethodDelete, Path: "/v1/backups/{id}", Tags: []string{"backups"},
		Summary: "Delete a backup (an audited operation of its cluster)",
		Errors:  []int{http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity, http.StatusServiceUnavailable},
	}), s.deleteBackup)
	huma.Register(api, secured(RoleOperator, huma.Operation{
		OperationID: "create-restore", Method: http.MethodPost, Path: "/v1/restores", Tags: []string{"backups"},
		Summary:     "Restore a backup into a new cluster with any shard count",
		Description: "Starts the Restore workflow. Every file's SHA-256 is checked before anything is created; a corrupt or missing file ends it with the file named and no cluster.",
		Errors:      []int{http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity, http.StatusServiceUnavailable},
	}), s.createRestore)
	huma.Register(api, secured(RoleOperator, huma.Operation{
		OperationID: "put-backup-schedule", Method: http.MethodPut, Path: "/v1/clusters/{name}/backup-schedule", Tags: []string{"backups"},
		Summary: "Create or replace the cluster's backup schedule (a Temporal schedule)",
		Errors:  []int{http.StatusNotFound, http.StatusUnprocessableEntity, http.StatusServiceUnavailable},
	}), s.putSchedule)
	huma.Register(api, secured(RoleAuditor, huma.Operation{
		OperationID: "get-backup-schedule", Method: http.MethodGet, Path: "/v1/clusters/{name}/backup-schedule", Tags: []string{"backups"},
		Summary: "The cluster's backup schedule",
		Errors:  []int{http.StatusNotFound, http.StatusServiceUnavailable},
	}), s.getSchedule)
	huma.Register(api, secured(RoleOperator, huma.Operation{
		OperationID: "delete-backup-schedule", Method: http.MethodDelete, Path: "/v1/clusters/{name}/backup-schedule", Tags: []string{"backups"},
		Summary: "Delete the cluster's backup schedule (backups are kept)",
		Errors:  []int{http.StatusNotFound, http.StatusServiceUnavailable},
	}), s.deleteSchedule)
}

func (s *Server) backups() (backupstore.Store, error) {
	if s.d.Backups == nil {
		return nil, huma.Error503ServiceUnavailable("no backup store is configured: set DAYOPS_BACKUP_STORE on the API and the worker")
	}
	return s.d.Backups, nil
}

func (s *Server) createBackup(ctx context.Context, in *struct {
	ClusterPath
	Body BackupBody
}) (*struct {
	Status int
	Body   BackupAccepted
}, error) {
	if _, err := s.backups(); err != nil {
		return nil, err
	}
	var errs field.ErrorList
	if b := in.Body.PauseBound.Duration; b < 0 || b > time.Minute {
		errs = append(errs, field.Invalid(field.NewPath("pauseBound"), in.Body.PauseBound.String(), "must be between 0 (default 1s) and 1m"))
	}
	if in.Body.KeepWithin.Duration < 0 {
		errs = append(errs, field.Invalid(field.NewPath("keepWithin"), in.Body.KeepWithin.String(), "must not be negative"))
	}
	if len(errs) > 0 {
		return nil, rejection(errs, false, "body.")
	}
	obs, err := s.observeCluster(ctx, in.Namespace, in.Name, nil)
	if err != nil {
		return nil, err
	}
	covered := 0
	for _, rs := range obs.State.Slots {
		covered += rs.Count()
	}
	if covered != topology.NumSlots || !obs.State.Health.Healthy() {
		problems := slices.Clone(obs.State.Health.Problems)
		if covered != topology.NumSlots {
			problems = append(problems, fmt.Sprintf("the primaries serve %d of %d slots", covered, topology.NumSlots))
		}
		return nil, huma.Error409Conflict(fmt.Sprintf("cluster %s/%s is not healthy enough for a backup: %s", in.Namespace, in.Name, strings.Join(problems, "; ")),
			&huma.ErrorDetail{Location: "path.name", Message: strings.Join(problems, "; "), Value: in.Name})
	}
	m := s.meta(ctx, operation.Backup, in.Namespace, in.Name, in.Body.Reason)
	bound := in.Body.PauseBound.Duration
	if bound == 0 {
		bound = backup.DefaultPauseBound
	}
	shards := len(obs.State.Slots)
	plan := planner.Plan{Operation: string(operation.Backup),
		Summary: fmt.Sprintf("backup %s/%s: %d shards at one consistency point (write pause bound %s)", in.Namespace, in.Name, shards, bound),
		Steps: []string{
			"observe the primaries and their slots",
			fmt.Sprintf("pause writes on %d primaries (CLIENT PAUSE WRITE, at most %s), SYNC each so it forks at that point, unpause", shards, bound),
			fmt.Sprintf("stream %d RDBs into the backup store with their SHA-256", shards),
			"write the manifest (spec, topology, Redis version, consistency point, sizes, checksums, key counts)",
		}}
	ret := backupstore.Retention{KeepLast: in.Body.KeepLast, KeepWithin: in.Body.KeepWithin.Duration}
	if ret.KeepLast > 0 || ret.KeepWithin > 0 {
		plan.Steps = append(plan.Steps, fmt.Sprintf("delete the cluster's backups beyond the retention (keep last %d / within %s)", ret.KeepLast, ret.KeepWithin))
	}
	res, err := s.start(ctx, m, plan, workflows.Backup, workflows.BackupInput{Meta: m, PauseBound: bound, Retention: ret})
	if err != nil {
		return nil, err
	}
	return &struct {
		Status int
		Body   BackupAccepted
	}{Status: http.StatusAccepted, Body: BackupAccepted{ID: m.OperationID, OperationAccepted: *res}}, nil
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
	if errs := spec.ValidateName(field.NewPath("name"), in.Name); len(errs) > 0 {
		return nil, rejection(errs, false, "path.")
	}
	out, err := s.listManifests(ctx, operation.ClusterKey(in.Namespace, in.Name))
	if err != nil {
		return nil, err
	}
	return &struct{ Body []BackupSummary }{Body: out}, nil
}

func (s *Server) listBackups(ctx context.Context, _ *struct{}) (*struct{ Body []BackupSummary }, error) {
	out, err := s.listManifests(ctx, "")
	if err != nil {
		return nil, err
	}
	return &struct{ Body []BackupSummary }{Body: out}, nil
}

func (s *Server) getBackup(ctx context.Context, in *BackupIDPath) (*struct{ Body BackupDetail }, error) {
	st, err := s.backups()
	if err != nil {
		return nil, err
	}
	m, err := backupstore.ReadManifest(ctx, st, in.ID)
	switch {
	case err == nil:
		return &struct{ Body BackupDetail }{Body: BackupDetail{ID: in.ID, Status: "Completed", Manifest: &m}}, nil
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
	return &struct{ Body BackupDetail }{Body: d}, nil
}

// liveProgress decodes the last heartbeat of the workflow's running
// activity, when it reports backup.LiveProgress.
func (s *Server) liveProgress(ctx context.Context, wid, rid string) *backup.LiveProgress {
	desc, err := s.d.Temporal.DescribeWorkflowExecution(ctx, wid, rid)
	if err != nil {
		return nil
	}
	for _, pa := range desc.GetPendingActivities() {
		payloads := pa.GetHeartbeatDetails().GetPayloads()
		if len(payloads) == 0 {
			continue
		}
		var p backup.LiveProgress
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
	st, err := s.backups()
	if err != nil {
		return nil, err
	}
	bm, err := backupstore.ReadManifest(ctx, st, in.ID)
	if errors.Is(err, backupstore.ErrNotFound) {
		return nil, huma.Error404NotFound(fmt.Sprintf("backup %s does not exist", in.ID))
	}
	if err != nil {
		return nil, huma.Error422UnprocessableEntity("cannot read backup "+in.ID, &huma.ErrorDetail{Location: "path.id", Message: err.Error(), Value: in.ID})
	}
	m := s.meta(ctx, operation.DeleteBackup, bm.Namespace, bm.Cluster, in.Reason)
	plan := planner.Plan{Operation: string(operation.DeleteBackup), Summary: fmt.Sprintf("delete backup %s of %s/%s (%d files)", in.ID, bm.Namespace, bm.Cluster, len(bm.Shards)+1),
		Steps: []string{"delete the manifest, then every file of the backup"}}
	res, err := s.startWithID(ctx, m, plan, workflows.BackupWorkflowID(in.ID), workflows.DeleteBackup, workflows.DeleteBackupInput{Meta: m, BackupID: in.ID})
	if err != nil {
		return nil, err
	}
	return &struct {
		Status int
		Body   BackupAccepted
	}{Status: http.StatusAccepted, Body: BackupAccepted{ID: m.OperationID, OperationAccepted: *res}}, nil
}

func (s *Server) createRestore(ctx context.Context, in *struct {
	DryRun bool `query:"dryRun" doc:"return the plan without starting anything"`
	Body   RestoreBody
}) (*struct {
	Status int
	Body   BackupAccepted
}, error) {
	st, err := s.backups()
	if err != nil {
		return nil, err
	}
	b := in.Body
	var errs field.ErrorList
	if b.Backup == "" {
		errs = append(errs, field.Required(field.NewPath("backup"), "the ID of the backup to restore"))
	}
	errs = append(errs, spec.ValidateName(field.NewPath("name"), b.Name)...)
	if len(errs) > 0 {
		return nil, rejection(errs, false, "body.")
	}
	bm, err := backupstore.ReadManifest(ctx, st, b.Backup)
	if errors.Is(err, backupstore.ErrNotFound) {
		return nil, huma.Error404NotFound(fmt.Sprintf("backup %s does not exist", b.Backup),
			&huma.ErrorDetail{Location: "body.backup", Message: "no such backup (no manifest in the store)", Value: b.Backup})
	}
	if err != nil {
		return nil, huma.Error422UnprocessableEntity("cannot read backup "+b.Backup,
			&huma.ErrorDetail{Location: "body.backup", Message: err.Error(), Value: b.Backup})
	}
	// Every file must be there with its size; checksums are verified by the
	// workflow before it creates anything.
	for _, f := range bm.Shards {
		o, err := st.Stat(ctx, f.Key)
		switch {
		case errors.Is(err, backupstore.ErrNotFound):
			return nil, huma.Error422UnprocessableEntity(fmt.Sprintf("backup %s: file %s is missing", b.Backup, f.Key),
				&huma.ErrorDetail{Location: "body.backup", Message: "file " + f.Key + " is missing", Value: b.Backup})
		case err != nil:
			return nil, huma.Error503ServiceUnavailable("cannot read the backup store: " + err.Error())
		case o.Size != f.Size:
			return nil, huma.Error422UnprocessableEntity(fmt.Sprintf("backup %s: file %s has %d bytes, the manifest says %d", b.Backup, f.Key, o.Size, f.Size),
				&huma.ErrorDetail{Location: "body.backup", Message: fmt.Sprintf("file %s is truncated or corrupt", f.Key), Value: b.Backup})
		}
	}
	c := bm.Spec
	c.Name = b.Name
	if b.Namespace != "" {
		c.Namespace = b.Namespace
	} else if c.Namespace == "" {
		c.Namespace = bm.Namespace
	}
	if b.Shards > 0 {
		c.Shards = b.Shards
	} else {
		c.Shards = len(bm.Shards)
	}
	if b.ReplicasPerShard != nil {
		c.ReplicasPerShard = *b.ReplicasPerShard
	}
	if c.PasswordSecret != "" && c.Namespace != bm.Namespace {
		c.PasswordSecret = "" // the source's Secret lives in another namespace
	}
	c.Default()
	if errs := c.Validate(s.d.Limits.Spec); len(errs) > 0 {
		return nil, rejection(errs, false, "body.")
	}
	if err := s.checkReferences(ctx, c); err != nil {
		return nil, err
	}
	obs, err := s.d.Kube.Observe(ctx, kube.ObserveInput{Namespace: c.Namespace, Cluster: c.Name})
	if err != nil {
		return nil, huma.Error503ServiceUnavailable("cannot read Kubernetes: " + err.Error())
	}
	if obs.Spec != nil || len(obs.Instances) > 0 {
		return nil, rejection(field.ErrorList{field.Duplicate(field.NewPath("name"), c.Name)}, true, "body.")
	}
	zones, err := s.d.Kube.ListZones(ctx, kube.ListZonesInput{ZoneKey: c.Zones.Key})
	if err != nil {
		return nil, huma.Error503ServiceUnavailable("cannot list nodes: " + err.Error())
	}
	noHooks := c
	noHooks.Hooks = nil // a restore runs no create hooks
	plan, err := planner.PlanCreate(planner.CreateRequest{Spec: noHooks, Zones: zones.Zones}, s.d.Limits)
	if err != nil {
		return nil, planError(err, "body.")
	}
	same := c.Shards == len(bm.Shards) && c.Persistence.Mode != spec.PersistenceAOF
	plan.Operation = string(operation.Restore)
	mode := fmt.Sprintf("replay every key from %d temporary instances into %d shards with pipelined RESTORE", len(bm.Shards), c.Shards)
	if same {
		for i, f := range bm.Shards {
			plan.Assign[i] = f.Slots
		}
		mode = "each new primary loads its shard's RDB at start (the backup's slot ranges)"
	}
	plan.Summary = fmt.Sprintf("restore backup %s (%s/%s, %d shards, %d keys) into %s/%s with %d shards: %s",
		bm.ID, bm.Namespace, bm.Cluster, len(bm.Shards), bm.TotalKeys, c.Namespace, c.Name, c.Shards, mode)
	plan.Steps = append([]string{
		fmt.Sprintf("verify the SHA-256 of the %d files (nothing is created if one is missing or corrupt)", len(bm.Shards)),
		"write redis.conf ConfigMap and password Secret",
		fmt.Sprintf("start %d temporary standalone instances and load one RDB into each", len(bm.Shards)),
	}, plan.Steps[2:]...)
	if !same {
		plan.Steps = append(plan.Steps, mode)
	}
	plan.Steps = append(plan.Steps, "compare key counts per slot range with the manifest"+map[bool]string{true: " and " + b.Compare + " values", false: ""}[b.Compare == "sample" || b.Compare == "full"],
		"delete the temporary instances")
	if in.DryRun {
		return &struct {
			Status int
			Body   BackupAccepted
		}{Status: http.StatusOK, Body: BackupAccepted{OperationAccepted: OperationAccepted{Type: string(operation.Restore), Namespace: c.Namespace, Cluster: c.Name, DryRun: true, Plan: plan}}}, nil
	}
	m := s.meta(ctx, operation.Restore, c.Namespace, c.Name, b.Reason)
	sample := b.Sample
	if b.Compare == "sample" && sample == 0 {
		sample = 1000
	}
	res, err := s.start(ctx, m, plan, workflows.Restore, workflows.RestoreInput{Meta: m, BackupID: bm.ID, Spec: c, Plan: plan, Compare: b.Compare, Sample: sample})
	if err != nil {
		return nil, err
	}
	return &struct {
		Status int
		Body   BackupAccepted
	}{Status: http.StatusAccepted, Body: BackupAccepted{ID: m.OperationID, OperationAccepted: *res}}, nil
}

// ScheduleID is the Temporal schedule of a cluster's backups.
func ScheduleID(namespace, name string) string { return "dayops-backup/" + namespace + "/" + name }

func (s *Server) putSchedule(ctx context.Context, in *struct {
	ClusterPath
	Body BackupSchedule
}) (*struct{ Body BackupSchedule }, error) {
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
	if _, err := s.observeCluster(ctx, in.Namespace, in.Name, nil); err != nil {
		return nil, err
	}
	sp := client.ScheduleSpec{}
	if b.Every.Duration > 0 {
		sp.Intervals = []client.ScheduleIntervalSpec{{Every: b.Every.Duration}}
	} else {
		sp.CronExpressions = []string{b.Cron}
	}
	bound := b.PauseBound.Duration
	if bound == 0 {
		bound = backup.DefaultPauseBound
	}
	input := workflows.ScheduledBackupInput{Namespace: in.Namespace, Cluster: in.Name, Actor: principal(ctx).Subject, Reason: b.Reason,
		PauseBound: bound, Retention: backupstore.Retention{KeepLast: b.KeepLast, KeepWithin: b.KeepWithin.Duration}, TaskQueue: s.d.TaskQueue}
	id := ScheduleID(in.Namespace, in.Name)
	action := &client.ScheduleWorkflowAction{ID: "dayops-scheduled-backup/" + in.Namespace + "/" + in.Name, Workflow: workflows.ScheduledBackup,
		Args: []any{input}, TaskQueue: s.d.TaskQueue}
	sc := s.d.Temporal.ScheduleClient()
	h := sc.GetHandle(ctx, id)
	if _, err := h.Describe(ctx); err == nil {
		err = h.Update(ctx, client.ScheduleUpdateOptions{DoUpdate: func(u client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			sch := u.Description.Schedule
			sch.Spec = &sp
			sch.Action = action
			return &client.ScheduleUpdate{Schedule: &sch}, nil
		}})
		if err != nil {
			return nil, huma.Error503ServiceUnavailable("cannot update the schedule: " + err.Error())
		}
	} else {
		if _, err := sc.Create(ctx, client.ScheduleOptions{ID: id, Spec: sp, Action: action,
			Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP, Note: fmt.Sprintf("backups of %s/%s, set by %s", in.Namespace, in.Name, principal(ctx).Subject)}); err != nil {
			return nil, huma.Error503ServiceUnavailable("cannot create the schedule: " + err.Error())
		}
	}
	s.d.Log.InfoContext(ctx, "backup schedule set", "cluster", operation.ClusterKey(in.Namespace, in.Name), "actor", principal(ctx).Subject)
	return s.getSchedule(ctx, &in.ClusterPath)
}

func (s *Server) getSchedule(ctx context.Context, in *ClusterPath) (*struct{ Body BackupSchedule }, error) {
	h := s.d.Temporal.ScheduleClient().GetHandle(ctx, ScheduleID(in.Namespace, in.Name))
	d, err := h.Describe(ctx)
	if err != nil {
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return nil, huma.Error404NotFound(fmt.Sprintf("cluster %s/%s has no backup schedule", in.Namespace, in.Name))
		}
		return nil, huma.Error503ServiceUnavailable("cannot read the schedule: " + err.Error())
	}
	out := BackupSchedule{ScheduleID: ScheduleID(in.Namespace, in.Name), NextRuns: d.Info.NextActionTimes}
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
	return &struct{ Body BackupSchedule }{Body: out}, nil
}

func (s *Server) deleteSchedule(ctx context.Context, in *ClusterPath) (*struct{ Status int }, error) {
	h := s.d.Temporal.ScheduleClient().GetHandle(ctx, ScheduleID(in.Namespace, in.Name))
	if err := h.Delete(ctx); err != nil {
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return nil, huma.Error404NotFound(fmt.Sprintf("cluster %s/%s has no backup schedule", in.Namespace, in.Name))
		}
		return nil, huma.Error503ServiceUnavailable("cannot delete the schedule: " + err.Error())
	}
	s.d.Log.InfoContext(ctx, "backup schedule deleted", "cluster", operation.ClusterKey(in.Namespace, in.Name), "actor", principal(ctx).Subject)
	return &struct{ Status int }{Status: http.StatusNoContent}, nil
}
