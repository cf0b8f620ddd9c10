package render

import (
	"testing"

	"github.com/dayops/dayops/internal/topology"
	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestWithInstanceManager(t *testing.T) {
	c := testSpec()
	in := topology.Instance{Shard: 0, Ordinal: 0, Role: topology.RolePrimary}
	plain := Pod(c, in, Placement{}, metav1.OwnerReference{})
	for _, img := range []string{"", InstanceManagerOff} {
		if diff := cmp.Diff(plain, WithInstanceManager(Pod(c, in, Placement{}, metav1.OwnerReference{}), img)); diff != "" {
			t.Errorf("image %q changed the Pod:\n%s", img, diff)
		}
	}
	pod := WithInstanceManager(Pod(c, in, Placement{}, metav1.OwnerReference{}), "dayops:dev")
	if len(pod.Spec.InitContainers) != 1 || pod.Spec.InitContainers[0].Image != "dayops:dev" {
		t.Fatalf("init containers: %+v", pod.Spec.InitContainers)
	}
	want := []string{"/dayops/dayops", "instance", "run", "--status-addr", "$(POD_IP):9121", "--", "redis-server"}
	if diff := cmp.Diff(want, pod.Spec.Containers[0].Command); diff != "" {
		t.Errorf("command (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(plain.Spec.Containers[0].Args, pod.Spec.Containers[0].Args); diff != "" {
		t.Errorf("args changed:\n%s", diff)
	}
	if pod.Annotations[AnnotationSpecHash] != plain.Annotations[AnnotationSpecHash] {
		t.Error("spec hash changed")
	}
}

func TestWithGoneReplicas(t *testing.T) {
	c := testSpec()
	in := topology.Instance{Shard: 0, Ordinal: 2, Role: topology.RolePrimary}
	plain := Pod(c, in, Placement{}, metav1.OwnerReference{})
	if diff := cmp.Diff(plain, WithGoneReplicas(Pod(c, in, Placement{}, metav1.OwnerReference{}), nil)); diff != "" {
		t.Errorf("no gone replica changed the Pod:\n%s", diff)
	}
	pod := WithGoneReplicas(Pod(c, in, Placement{}, metav1.OwnerReference{}), []string{"id0", "id4"})
	env := pod.Spec.Containers[0].Env
	if last := env[len(env)-1]; last.Name != GoneReplicasEnv || last.Value != "id0,id4" {
		t.Errorf("env %+v, want %s=id0,id4 last", env, GoneReplicasEnv)
	}
	if pod.Annotations[AnnotationSpecHash] != plain.Annotations[AnnotationSpecHash] {
		t.Error("spec hash changed")
	}
}
