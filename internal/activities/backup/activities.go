package backup

import (
	"context"
	"errors"
	"fmt"
	"github.com/dayops/dayops/internal/apiv1"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/dayops/dayops/internal/activities/kube"
	"github.com/dayops/dayops/internal/activities/redisops"
	"github.com/dayops/dayops/internal/backupstore"
	"github.com/dayops/dayops/internal/kube/render"
	"github.com/dayops/dayops/internal/redis/noaddr"
	"github.com/dayops/dayops/internal/redis/rdb"
	"github.com/dayops/dayops/internal/spec"
	"github.com/dayops/dayops/internal/topology"
	"github.com/redis/go-redis/v9"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
)

// Stable error types of non-retryable failures.
const (
	ErrTypeNoStore        = "NoBackupStore"
	ErrTypeBackupNotFound = "BackupNotFound"
	ErrTypeCorrupt        = "BackupCorrupt"
	ErrTypeVerify         = "RestoreVerifyFailed"
)

// LabelRestoreOf marks the temporary instances of a restore with the name of
// the cluster being restored.
const LabelRestoreOf = "dayops.io/restore-of"

// Activities are the backup and restore activities.
type Activities struct {
	// Store is nil when no backup store is configured: every activity then
	// fails with ErrTypeNoStore.
	Store     backupstore.Store
	Kube      kubernetes.Interface
	Passwords redisops.Passwords
	Log       *slog.Logger
	// ListenHost is where LoadTemporary serves RDBs; empty means the local
	// address on the route to each temporary instance.
	ListenHost string
	// Clients caches node clients (shared; closed by whoever built it).
	Clients *Clients
	// InstanceImage: restored instances run under the instance manager
	// from this image, as kube.Activities' Pods do (empty or "none": not).
	InstanceImage string
}

// Clients caches one client per node address and password.
type Clients struct {
	mu    sync.Mutex
	pools map[string]*redis.Client
}

func (a *Activities) store() (backupstore.Store, error) {
	if a.Store == nil {
		return nil, temporal.NewNonRetryableApplicationError("no backup store is configured (DAYOPS_BACKUP_STORE)", ErrTypeNoStore, nil)
	}
	return a.Store, nil
}

func (a *Activities) password(ctx context.Context, auth redisops.Auth) (string, error) {
	if auth.Secret == "" {
		return "", nil
	}
	return a.Passwords.Password(ctx, auth.Namespace, auth.Secret)
}

// client returns a cached client of one node.
func (a *Activities) client(addr, password string) *redis.Client {
	if a.Clients == nil {
		a.Clients = &Clients{}
	}
	return a.Clients.Client(addr, password)
}

// Client returns the cached client of addr with password.
func (a *Clients) Client(addr, password string) *redis.Client {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.pools == nil {
		a.pools = map[string]*redis.Client{}
	}
	k := addr + "\x00" + password
	c, ok := a.pools[k]
	if !ok {
		c = redis.NewClient(&redis.Options{Addr: addr, Password: password, Protocol: 2, DisableIdentity: true,
			MaxRetries: -1, ReadTimeout: time.Minute, PoolSize: 16})
		a.pools[k] = c
	}
	return c
}

// Close closes the cached clients.
func (a *Clients) Close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for k, c := range a.pools {
		c.Close()
		delete(a.pools, k)
	}
}

// heartbeat records details now and then keeps the activity alive.
func heartbeat(ctx context.Context, details ...any) {
	if activity.IsActivity(ctx) {
		activity.RecordHeartbeat(ctx, details...)
	}
}

// LiveProgress is what long activities heartbeat (a wire type: the API shows
// it while they run).
type LiveProgress = apiv1.LiveProgress

// SnapshotInput asks for a backup's files.
type SnapshotInput struct {
	Auth       redisops.Auth `json:"auth"`
	BackupID   string        `json:"backupId"`
	Targets    []rdb.Target  `json:"targets"`
	PauseBound time.Duration `json:"pauseBound"`
}

// StepTarget names the step in the audit log.
func (in SnapshotInput) StepTarget() string {
	return fmt.Sprintf("backup %s: %d shards", in.BackupID, len(in.Targets))
}

// SnapshotCluster takes the consistency point and stores every shard's RDB
// (see Snapshot). A retry starts over with a new point.
func (a *Activities) SnapshotCluster(ctx context.Context, in SnapshotInput) (rdb.SnapshotResult, error) {
	st, err := a.store()
	if err != nil {
		return rdb.SnapshotResult{}, err
	}
	pw, err := a.password(ctx, in.Auth)
	if err != nil {
		return rdb.SnapshotResult{}, err
	}
	stop := redisops.HeartbeatEvery(ctx, 5*time.Second)
	defer stop()
	res, err := rdb.Snapshot(ctx, rdb.SnapshotRequest{
		Targets: in.Targets, Password: pw, PauseBound: in.PauseBound, Store: st, BackupID: in.BackupID,
		Client: func(addr string) *redis.Client { return a.client(addr, pw) },
		OnProgress: func(p rdb.SnapshotProgress) {
			heartbeat(ctx, LiveProgress{Phase: "snapshot", BytesDone: p.BytesDone, BytesTotal: p.BytesTotal})
		},
	})
	if err != nil {
		return res, fmt.Errorf("snapshot: %w", err)
	}
	a.Log.InfoContext(ctx, "backup snapshot stored", "backup_id", in.BackupID, "consistent", res.Consistency.ClusterConsistent,
		"paused_ms", res.Consistency.PausedMS)
	return res, nil
}

// ManifestInput is the manifest to write.
type ManifestInput struct {
	Manifest backupstore.Manifest `json:"manifest"`
}

// StepTarget names the step in the audit log.
func (in ManifestInput) StepTarget() string { return "backup " + in.Manifest.ID }

// WriteBackupManifest writes the manifest, which makes the backup exist.
func (a *Activities) WriteBackupManifest(ctx context.Context, in ManifestInput) error {
	st, err := a.store()
	if err != nil {
		return err
	}
	return backupstore.WriteManifest(ctx, st, in.Manifest)
}

// ExpiredInput asks which backups of a cluster retention drops.
type ExpiredInput struct {
	Cluster   string                `json:"cluster"` // namespace/name
	Retention backupstore.Retention `json:"retention"`
	Now       time.Time             `json:"now"`
}

// StepTarget names the step in the audit log.
func (in ExpiredInput) StepTarget() string { return in.Cluster }

// ExpiredResult lists the backups to delete, oldest first.
type ExpiredResult struct {
	IDs []string `json:"ids"`
}

// ListExpiredBackups applies the retention to the cluster's backups.
func (a *Activities) ListExpiredBackups(ctx context.Context, in ExpiredInput) (ExpiredResult, error) {
	st, err := a.store()
	if err != nil {
		return ExpiredResult{}, err
	}
	ms, err := backupstore.ListManifests(ctx, st, in.Cluster)
	if err != nil {
		return ExpiredResult{}, err
	}
	var out ExpiredResult
	for _, m := range in.Retention.Expired(ms, in.Now) {
		out.IDs = append(out.IDs, m.ID)
	}
	return out, nil
}

// DeleteBackupInput names a backup.
type DeleteBackupInput struct {
	ID string `json:"id"`
}

// StepTarget names the step in the audit log.
func (in DeleteBackupInput) StepTarget() string { return "backup " + in.ID }

// DeleteBackupResult lists the files removed.
type DeleteBackupResult struct {
	Files []string `json:"files,omitempty"`
}

// DeleteBackupFiles removes a backup (manifest first). A missing backup is
// success.
func (a *Activities) DeleteBackupFiles(ctx context.Context, in DeleteBackupInput) (DeleteBackupResult, error) {
	st, err := a.store()
	if err != nil {
		return DeleteBackupResult{}, err
	}
	files, err := backupstore.DeleteBackup(ctx, st, in.ID)
	return DeleteBackupResult{Files: files}, err
}

// VerifyBackupInput names a backup to check.
type VerifyBackupInput struct {
	ID string `json:"id"`
}

// StepTarget names the step in the audit log.
func (in VerifyBackupInput) StepTarget() string { return "backup " + in.ID }

// VerifyBackupFiles reads the manifest and every file, comparing size and
// SHA-256. A missing or corrupt file is a non-retryable BackupCorrupt error
// naming the file.
func (a *Activities) VerifyBackupFiles(ctx context.Context, in VerifyBackupInput) (backupstore.Manifest, error) {
	st, err := a.store()
	if err != nil {
		return backupstore.Manifest{}, err
	}
	m, err := backupstore.ReadManifest(ctx, st, in.ID)
	if errors.Is(err, backupstore.ErrNotFound) {
		return m, temporal.NewNonRetryableApplicationError(fmt.Sprintf("backup %s does not exist (no manifest)", in.ID), ErrTypeBackupNotFound, err)
	}
	if err != nil {
		return m, err
	}
	stop := redisops.HeartbeatEvery(ctx, 5*time.Second)
	defer stop()
	for _, f := range m.Shards {
		got, err := backupstore.Checksum(ctx, st, f.Key)
		switch {
		case errors.Is(err, backupstore.ErrNotFound):
			return m, temporal.NewNonRetryableApplicationError(fmt.Sprintf("backup %s: file %s is missing", in.ID, f.Key), ErrTypeCorrupt, err)
		case err != nil:
			return m, err
		case got.Size != f.Size:
			return m, temporal.NewNonRetryableApplicationError(fmt.Sprintf("backup %s: file %s has %d bytes, the manifest says %d", in.ID, f.Key, got.Size, f.Size), ErrTypeCorrupt, nil)
		case got.SHA256 != f.SHA256:
			return m, temporal.NewNonRetryableApplicationError(fmt.Sprintf("backup %s: file %s is corrupt: sha256 %s, the manifest says %s", in.ID, f.Key, got.SHA256, f.SHA256), ErrTypeCorrupt, nil)
		}
	}
	return m, nil
}

// TemporariesInput names the temporary instances of a restore: one per
// backup shard, standalone, with the new cluster's password.
type TemporariesInput struct {
	Spec   spec.Cluster `json:"spec"` // the new cluster's (name, namespace, image, password Secret)
	Shards []int        `json:"shards"`
}

// StepTarget names the step in the audit log.
func (in TemporariesInput) StepTarget() string {
	return fmt.Sprintf("%s/%s: %d temporary instances", in.Spec.Namespace, in.Spec.Name, len(in.Shards))
}

// TemporariesResult gives each temporary instance's address by shard.
type TemporariesResult struct {
	Addrs map[int]string `json:"addrs"`
}

// TemporaryPodName is the temporary instance of a restore for a shard.
func TemporaryPodName(cluster string, shard int) string {
	return cluster + "-restore-" + strconv.Itoa(shard)
}

// EnsureTemporaries creates the temporary Pods that are missing (owned by the
// new cluster's ConfigMap, so deleting the cluster removes them too) and
// waits until all are Ready.
func (a *Activities) EnsureTemporaries(ctx context.Context, in TemporariesInput) (TemporariesResult, error) {
	c := in.Spec
	cm, err := a.Kube.CoreV1().ConfigMaps(c.Namespace).Get(ctx, render.ConfigMapName(c.Name), metav1.GetOptions{})
	if err != nil {
		return TemporariesResult{}, fmt.Errorf("get configmap %s: %w", render.ConfigMapName(c.Name), err)
	}
	owner := render.OwnerReference(cm)
	for _, s := range in.Shards {
		_, err := a.Kube.CoreV1().Pods(c.Namespace).Create(ctx, TemporaryPod(c, s, owner), metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return TemporariesResult{}, fmt.Errorf("create pod %s: %w", TemporaryPodName(c.Name, s), err)
		}
	}
	for {
		out := TemporariesResult{Addrs: map[int]string{}}
		for _, s := range in.Shards {
			p, err := a.Kube.CoreV1().Pods(c.Namespace).Get(ctx, TemporaryPodName(c.Name, s), metav1.GetOptions{})
			if err != nil {
				return out, fmt.Errorf("get pod %s: %w", TemporaryPodName(c.Name, s), err)
			}
			if p.Status.Phase == corev1.PodFailed {
				return out, temporal.NewNonRetryableApplicationError(fmt.Sprintf("pod %s failed: %s", p.Name, p.Status.Message), kube.ErrTypePodFailed, nil)
			}
			if kube.PodReady(p) && p.Status.PodIP != "" {
				out.Addrs[s] = p.Status.PodIP + ":" + strconv.Itoa(render.RedisPort)
			}
		}
		if len(out.Addrs) == len(in.Shards) {
			return out, nil
		}
		heartbeat(ctx, len(out.Addrs))
		select {
		case <-ctx.Done():
			return out, ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// TemporaryPod is a standalone redis-server with no persistence, the new
// cluster's password, and an emptyDir for the replica's transfer file.
func TemporaryPod(c spec.Cluster, shard int, owner metav1.OwnerReference) *corev1.Pod {
	grace := int64(5)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: TemporaryPodName(c.Name, shard), Namespace: c.Namespace,
			Labels: map[string]string{render.LabelManagedBy: render.ManagedBy, render.LabelName: render.AppName,
				LabelRestoreOf: c.Name, render.LabelShard: strconv.Itoa(shard)},
			OwnerReferences: []metav1.OwnerReference{owner},
		},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: &grace,
			RestartPolicy:                 corev1.RestartPolicyAlways,
			Containers: []corev1.Container{{
				Name: "redis", Image: c.Image, Command: []string{"redis-server"},
				Args: []string{"--port", strconv.Itoa(render.RedisPort), "--bind", "$(POD_IP)", "--protected-mode", "no",
					"--requirepass", "$(REDIS_PASSWORD)", "--save", "", "--appendonly", "no", "--dir", render.DataDir,
					"--repl-diskless-sync-delay", "0", "--repl-timeout", "300"},
				Env: []corev1.EnvVar{
					{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
					{Name: "REDIS_PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
						LocalObjectReference: corev1.LocalObjectReference{Name: render.PasswordSecretName(c)}, Key: render.PasswordKey}}},
				},
				Ports:        []corev1.ContainerPort{{Name: "redis", ContainerPort: render.RedisPort}},
				VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: render.DataDir}},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intOrString(render.RedisPort)}},
					PeriodSeconds: 1, FailureThreshold: 3,
				},
			}},
			Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
		},
	}
}

// LoadInput loads one backup file into one temporary instance.
type LoadInput struct {
	Auth     redisops.Auth         `json:"auth"`
	Addr     string                `json:"addr"`
	BackupID string                `json:"backupId"`
	File     backupstore.ShardFile `json:"file"`
}

// StepTarget names the step in the audit log.
func (in LoadInput) StepTarget() string {
	return fmt.Sprintf("shard-%d: %s", in.File.Shard, in.File.Key)
}

// LoadResult is what was loaded.
type LoadResult struct {
	Bytes int64 `json:"bytes"`
	Keys  int64 `json:"keys"`
}

// LoadTemporary loads a shard's RDB into its temporary instance (LoadRDB).
func (a *Activities) LoadTemporary(ctx context.Context, in LoadInput) (LoadResult, error) {
	st, err := a.store()
	if err != nil {
		return LoadResult{}, err
	}
	pw, err := a.password(ctx, in.Auth)
	if err != nil {
		return LoadResult{}, err
	}
	stop := redisops.HeartbeatEvery(ctx, 5*time.Second)
	defer stop()
	err = rdb.LoadRDB(ctx, rdb.LoadRequest{Client: a.client(in.Addr, pw), Store: st, File: in.File, ListenHost: a.ListenHost,
		OnProgress: func(b int64) { heartbeat(ctx, LiveProgress{Phase: "load", BytesDone: b, BytesTotal: in.File.Size}) }})
	if errors.Is(err, rdb.ErrChecksum) {
		return LoadResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("backup %s: %v", in.BackupID, err), ErrTypeCorrupt, err)
	}
	if err != nil {
		return LoadResult{}, err
	}
	return LoadResult{Bytes: in.File.Size, Keys: in.File.Keys}, nil
}

// ReplayInput replays temporary instances into the new cluster.
type ReplayInput struct {
	Auth    redisops.Auth `json:"auth"`
	Seeds   []string      `json:"seeds"`
	Sources []rdb.Source  `json:"sources"`
	// MaxKeys per source in this call (0: to the end).
	MaxKeys int64  `json:"maxKeys"`
	Batch   int    `json:"batch,omitempty"`
	Label   string `json:"label,omitempty"`
}

// StepTarget names the step in the audit log.
func (in ReplayInput) StepTarget() string { return in.Label }

// ReplayKeys runs one round of Replay.
func (a *Activities) ReplayKeys(ctx context.Context, in ReplayInput) (rdb.ReplayResult, error) {
	pw, err := a.password(ctx, in.Auth)
	if err != nil {
		return rdb.ReplayResult{}, err
	}
	cc := redis.NewClusterClient(noaddr.Guard(&redis.ClusterOptions{Addrs: in.Seeds, Password: pw, Protocol: 2, DisableIdentity: true,
		MaxRedirects: 16, ReadTimeout: time.Minute, PoolSize: 32}))
	defer cc.Close()
	stop := redisops.HeartbeatEvery(ctx, 5*time.Second)
	defer stop()
	return rdb.Replay(ctx, rdb.ReplayRequest{Sources: in.Sources, Target: cc, MaxKeys: in.MaxKeys, Batch: in.Batch,
		Source: func(addr string) *redis.Client { return a.client(addr, pw) },
		OnProgress: func(keys, bytes int64, _ []rdb.Source) {
			heartbeat(ctx, LiveProgress{Phase: "replay", KeysDone: keys, BytesDone: bytes})
		}})
}

// VerifyInput checks the restored cluster.
type VerifyInput struct {
	Auth  redisops.Auth           `json:"auth"`
	Seeds []string                `json:"seeds"`
	Files []backupstore.ShardFile `json:"files"`
	// Compare: "" or "counts" (key counts per slot range only), "sample"
	// (also Sample random keys per temporary instance), "full" (every key).
	Compare string `json:"compare,omitempty"`
	Sample  int    `json:"sample,omitempty"`
	// Temporaries by shard, for value comparisons.
	Temporaries map[int]string `json:"temporaries,omitempty"`
}

// StepTarget names the step in the audit log.
func (in VerifyInput) StepTarget() string {
	if in.Compare == "" {
		return "counts"
	}
	return in.Compare
}

// VerifyResult reports the check.
type VerifyResult struct {
	Keys     []int64 `json:"keys"`
	Compared int64   `json:"compared"`
}

// VerifyRestoredKeys compares the key count of every backup shard's slot
// ranges in the new cluster with the manifest, and values on request.
func (a *Activities) VerifyRestoredKeys(ctx context.Context, in VerifyInput) (VerifyResult, error) {
	pw, err := a.password(ctx, in.Auth)
	if err != nil {
		return VerifyResult{}, err
	}
	cc := redis.NewClusterClient(noaddr.Guard(&redis.ClusterOptions{Addrs: in.Seeds, Password: pw, Protocol: 2, DisableIdentity: true, MaxRedirects: 16}))
	defer cc.Close()
	stop := redisops.HeartbeatEvery(ctx, 5*time.Second)
	defer stop()
	sets := make([]topology.Ranges, len(in.Files))
	for i, f := range in.Files {
		sets[i] = f.Slots
	}
	counts, err := rdb.CountKeys(ctx, cc, func(addr string) *redis.Client { return a.client(addr, pw) }, sets)
	if err != nil {
		return VerifyResult{}, err
	}
	out := VerifyResult{Keys: counts}
	var bad []string
	for i, f := range in.Files {
		if counts[i] != f.Keys {
			bad = append(bad, fmt.Sprintf("shard-%d slots %s: %d keys, the backup has %d", f.Shard, f.Slots, counts[i], f.Keys))
		}
	}
	if len(bad) > 0 {
		return out, temporal.NewNonRetryableApplicationError("restored key counts differ: "+fmt.Sprint(bad), ErrTypeVerify, nil)
	}
	if in.Compare == "sample" || in.Compare == "full" {
		sample := 0
		if in.Compare == "sample" {
			sample = max(in.Sample, 1)
		}
		for _, f := range in.Files {
			addr, ok := in.Temporaries[f.Shard]
			if !ok {
				continue
			}
			r, err := rdb.CompareKeys(ctx, a.client(addr, pw), cc, sample, 10*time.Second)
			if err != nil {
				return out, err
			}
			out.Compared += r.Compared
			if len(r.Different) > 0 {
				return out, temporal.NewNonRetryableApplicationError(fmt.Sprintf("shard-%d: %d keys differ, e.g. %v", f.Shard, len(r.Different), r.Different), ErrTypeVerify, nil)
			}
		}
	}
	return out, nil
}

// DeleteTemporariesInput names a restore's cluster.
type DeleteTemporariesInput struct {
	Namespace string `json:"namespace"`
	Cluster   string `json:"cluster"`
}

// StepTarget names the step in the audit log.
func (in DeleteTemporariesInput) StepTarget() string { return in.Namespace + "/" + in.Cluster }

// DeleteTemporaries deletes a restore's temporary Pods and waits until they
// are gone.
func (a *Activities) DeleteTemporaries(ctx context.Context, in DeleteTemporariesInput) error {
	sel := labels.SelectorFromSet(map[string]string{render.LabelManagedBy: render.ManagedBy, LabelRestoreOf: in.Cluster}).String()
	pods := a.Kube.CoreV1().Pods(in.Namespace)
	if err := pods.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: sel}); err != nil {
		return fmt.Errorf("delete temporary pods: %w", err)
	}
	for {
		l, err := pods.List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return err
		}
		if len(l.Items) == 0 {
			return nil
		}
		heartbeat(ctx, len(l.Items))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
}
