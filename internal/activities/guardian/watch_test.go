package guardian

import (
	"errors"
	"strings"
	"testing"

	"go.temporal.io/sdk/testsuite"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// lingering makes a fake clientset answer reads of resource as if each
// deleted object were still there (a finalizer, a dead node's kubelet) for
// its first `reads` reads, then fail every further read with failAfter, or
// NotFound when it is nil.
func lingering(cs *fake.Clientset, resource string, reads int, failAfter error) *int {
	n := 0
	cs.PrependReactor("get", resource, func(a k8stesting.Action) (bool, runtime.Object, error) {
		n++
		name := a.(k8stesting.GetAction).GetName()
		switch {
		case n <= reads:
			return true, nil, nil
		case failAfter != nil:
			return true, nil, failAfter
		}
		return true, nil, apierrors.NewNotFound(schema.GroupResource{Resource: resource}, name)
	})
	return &n
}

// TestDeletesWaitUntilGone: ForceDeletePods and DropVolume return once
// every object reads NotFound (reading again while it lingers), tolerate
// objects already gone, and name the object when a read fails.
func TestDeletesWaitUntilGone(t *testing.T) {
	for name, tc := range map[string]struct {
		absent    bool // nothing to delete
		reads     int
		failAfter error
		wantErr   string
	}{
		"gone at once": {},
		"lingers":      {reads: 2},
		"read fails":   {reads: 1, failAfter: errors.New("etcd timeout"), wantErr: "etcd timeout"},
		"already gone": {absent: true},
	} {
		t.Run(name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "c-0"}}
			pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "data-c-0"}}
			objs := []runtime.Object{pod, pvc}
			if tc.absent {
				objs = nil
			}
			cs := fake.NewClientset(objs...)
			podReads := lingering(cs, "pods", tc.reads, tc.failAfter)
			pvcReads := lingering(cs, "persistentvolumeclaims", tc.reads, tc.failAfter)
			a := &Activities{Kube: cs}
			var s testsuite.WorkflowTestSuite
			env := s.NewTestActivityEnvironment()
			env.RegisterActivity(a)
			_, podErr := env.ExecuteActivity(a.ForceDeletePods, ForceDeleteInput{Namespace: "ns", Pods: []string{"c-0"}})
			_, pvcErr := env.ExecuteActivity(a.DropVolume, DropVolumeInput{Namespace: "ns", Cluster: "c", Ordinal: 0})
			for what, err := range map[string]error{"pod c-0": podErr, "pvc data-c-0": pvcErr} {
				switch {
				case tc.wantErr == "" && err != nil:
					t.Errorf("%s: %v", what, err)
				case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), "get "+what+": ") || !strings.Contains(err.Error(), tc.wantErr)):
					t.Errorf("%s: error %v, want it to name the object and %q", what, err, tc.wantErr)
				}
			}
			if *podReads != tc.reads+1 || *pvcReads != tc.reads+1 {
				t.Errorf("reads: pods %d, pvcs %d, want %d each", *podReads, *pvcReads, tc.reads+1)
			}
		})
	}
}
