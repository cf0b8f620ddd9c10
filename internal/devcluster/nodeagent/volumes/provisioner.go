package volumes

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// Provisioner provisions hostPath PersistentVolumes for the claims of one
// StorageClass.
type Provisioner struct {
	CS  kubernetes.Interface
	Log *slog.Logger
	// StorageClass is the class served; Default marks it the cluster default.
	StorageClass string
	Default      bool
	// StateDir holds the volumes (StateDir/volumes).
	StateDir string
}

// provisionerName is the provisioner of the agent's StorageClass.
const provisionerName = "dayops.dev/local"

// agentLabel marks the objects of the node agent (the same label as its Nodes).
const agentLabel = "dayops.dev/node-agent"

// EnsureStorageClass creates the agent's StorageClass as the cluster
// default (reclaim Delete, Immediate binding: every node of the local
// stack shares one file system, so a volume is reachable from any node).
func (p *Provisioner) EnsureStorageClass(ctx context.Context) error {
	del := corev1.PersistentVolumeReclaimDelete
	mode := storagev1.VolumeBindingImmediate
	sc := &storagev1.StorageClass{
		ObjectMeta:        metav1.ObjectMeta{Name: p.StorageClass},
		Provisioner:       provisionerName,
		ReclaimPolicy:     &del,
		VolumeBindingMode: &mode,
	}
	if p.Default {
		sc.Annotations = map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}
	}
	_, err := p.CS.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create storage class %s: %w", sc.Name, err)
	}
	return nil
}

func (p *Provisioner) volumesDir() string { return filepath.Join(p.StateDir, "volumes") }

// Run creates a hostPath PersistentVolume (a directory under the
// state dir) for every unbound claim of the agent's StorageClass, pre-bound
// to the claim (the controller-manager's binder completes the binding), and
// deletes the directory and the volume once the claim is gone (reclaim
// policy Delete). Both are idempotent: the volume is named after the claim
// UID.
func (p *Provisioner) Run(ctx context.Context) {
	f := informers.NewSharedInformerFactory(p.CS, 5*time.Minute)
	pvcInf := f.Core().V1().PersistentVolumeClaims().Informer()
	pvInf := f.Core().V1().PersistentVolumes().Informer()
	q := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())
	defer q.ShutDown()
	enqueue := func(prefix string) func(obj any) {
		return func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if m, err := metaKey(obj); err == nil {
				q.Add(prefix + m)
			}
		}
	}
	_, _ = pvcInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue("pvc/"),
		UpdateFunc: func(_, o any) { enqueue("pvc/")(o) },
	})
	_, _ = pvInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue("pv/"),
		UpdateFunc: func(_, o any) { enqueue("pv/")(o) },
	})
	f.Start(ctx.Done())
	defer f.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), pvcInf.HasSynced, pvInf.HasSynced) {
		return
	}
	go func() {
		<-ctx.Done()
		q.ShutDown()
	}()
	for {
		key, quit := q.Get()
		if quit {
			return
		}
		var err error
		if k, ok := strings.CutPrefix(key, "pvc/"); ok {
			err = p.provisionClaim(ctx, pvcInf.GetIndexer(), k)
		} else if k, ok := strings.CutPrefix(key, "pv/"); ok {
			err = p.reclaimVolume(ctx, pvInf.GetIndexer(), k)
		}
		if err != nil && ctx.Err() == nil {
			p.Log.Warn("provisioner", "key", key, "err", err)
			q.AddRateLimited(key)
		} else {
			q.Forget(key)
		}
		q.Done(key)
	}
}

func metaKey(obj any) (string, error) { return cache.MetaNamespaceKeyFunc(obj) }

func (p *Provisioner) provisionClaim(ctx context.Context, idx cache.Indexer, key string) error {
	obj, ok, err := idx.GetByKey(key)
	if err != nil || !ok {
		return err
	}
	pvc := obj.(*corev1.PersistentVolumeClaim)
	if pvc.Spec.VolumeName != "" || pvc.DeletionTimestamp != nil {
		return nil
	}
	if pvc.Spec.StorageClassName == nil || *pvc.Spec.StorageClassName != p.StorageClass {
		return nil
	}
	name := "pvc-" + string(pvc.UID)
	dir := filepath.Join(p.volumesDir(), name)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return fmt.Errorf("volume dir: %w", err)
	}
	size := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	if size.IsZero() {
		size = resource.MustParse("1Gi")
	}
	modes := pvc.Spec.AccessModes
	if len(modes) == 0 {
		modes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	}
	dirType := corev1.HostPathDirectoryOrCreate
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{"pv.kubernetes.io/provisioned-by": provisionerName},
			Labels:      map[string]string{agentLabel: "true"},
		},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: size},
			AccessModes:                   modes,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
			StorageClassName:              p.StorageClass,
			VolumeMode:                    pvc.Spec.VolumeMode,
			ClaimRef: &corev1.ObjectReference{
				Kind: "PersistentVolumeClaim", APIVersion: "v1",
				Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID,
			},
			PersistentVolumeSource: corev1.PersistentVolumeSource{
				HostPath: &corev1.HostPathVolumeSource{Path: dir, Type: &dirType},
			},
		},
	}
	_, err = p.CS.CoreV1().PersistentVolumes().Create(ctx, pv, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create volume %s for claim %s: %w", name, key, err)
	}
	p.Log.Info("provisioned volume", "claim", key, "volume", name, "path", dir)
	return nil
}

func (p *Provisioner) reclaimVolume(ctx context.Context, idx cache.Indexer, key string) error {
	obj, ok, err := idx.GetByKey(key)
	if err != nil || !ok {
		return err
	}
	pv := obj.(*corev1.PersistentVolume)
	// Only volumes of this agent's class: another agent (a test's) may
	// serve another class with volumes under its own state dir.
	if pv.Annotations["pv.kubernetes.io/provisioned-by"] != provisionerName || pv.Spec.StorageClassName != p.StorageClass || pv.DeletionTimestamp != nil {
		return nil
	}
	if pv.Spec.PersistentVolumeReclaimPolicy != corev1.PersistentVolumeReclaimDelete {
		return nil
	}
	released := pv.Status.Phase == corev1.VolumeReleased || pv.Status.Phase == corev1.VolumeFailed
	if !released && pv.Spec.ClaimRef != nil {
		// A pre-bound volume whose claim vanished before binding.
		_, err := p.CS.CoreV1().PersistentVolumeClaims(pv.Spec.ClaimRef.Namespace).Get(ctx, pv.Spec.ClaimRef.Name, metav1.GetOptions{})
		if !apierrors.IsNotFound(err) {
			return nil
		}
	}
	if pv.Spec.HostPath != nil && strings.HasPrefix(pv.Spec.HostPath.Path, p.volumesDir()+string(filepath.Separator)) {
		if err := os.RemoveAll(pv.Spec.HostPath.Path); err != nil {
			return fmt.Errorf("remove volume dir: %w", err)
		}
	}
	err = p.CS.CoreV1().PersistentVolumes().Delete(ctx, pv.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &pv.UID}})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete volume %s: %w", pv.Name, err)
	}
	p.Log.Info("deleted released volume", "volume", pv.Name)
	return nil
}
