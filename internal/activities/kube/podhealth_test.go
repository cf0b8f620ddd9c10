package kube

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestClassifyPod(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	crashed := &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error", Message: "Bad directive"}
	waiting := func(reason string, restarts int32, last *corev1.ContainerStateTerminated) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: "redis", RestartCount: restarts,
			State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: "msg"}},
			LastTerminationState: corev1.ContainerState{Terminated: last}}
	}
	running := func(restarts int32) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: "redis", RestartCount: restarts,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
	}
	pod := func(age time.Duration, ready bool, init []corev1.ContainerStatus, main ...corev1.ContainerStatus) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "c-0", CreationTimestamp: metav1.NewTime(now.Add(-age))}}
		st := corev1.ConditionFalse
		if ready {
			st = corev1.ConditionTrue
		}
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}
		p.Status.InitContainerStatuses, p.Status.ContainerStatuses = init, main
		return p
	}
	tests := map[string]struct {
		pod       *corev1.Pod
		wantType  string
		wantInMsg []string
	}{
		"starting":                        {pod: pod(time.Second, false, nil, waiting("ContainerCreating", 0, nil))},
		"running, not ready yet":          {pod: pod(time.Second, false, nil, running(0))},
		"first crash is forgiven":         {pod: pod(time.Minute, false, nil, waiting("CrashLoopBackOff", 1, crashed))},
		"crash loop":                      {pod: pod(time.Minute, false, nil, waiting("CrashLoopBackOff", 2, crashed)), wantType: ErrTypeCrashLoop, wantInMsg: []string{"pod c-0", "container redis", "CrashLoopBackOff", "2 restart(s)", "exit code 1", "Bad directive"}},
		"crash loop in an init container": {pod: pod(time.Minute, false, []corev1.ContainerStatus{{Name: "install", RestartCount: 3, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}}, waiting("PodInitializing", 0, nil)), wantType: ErrTypeCrashLoop, wantInMsg: []string{"container install"}},
		"restarting while running":        {pod: pod(time.Minute, false, nil, running(5)), wantType: ErrTypeCrashLoop, wantInMsg: []string{"RepeatedRestarts", "5 restart(s)"}},
		"ready pod with restarts is fine": {pod: pod(time.Hour, true, nil, waiting("CrashLoopBackOff", 9, crashed))},
		"invalid image name at once":      {pod: pod(0, false, nil, waiting("InvalidImageName", 0, nil)), wantType: ErrTypeImagePull, wantInMsg: []string{"InvalidImageName"}},
		"image pull within grace":         {pod: pod(5*time.Second, false, nil, waiting("ErrImagePull", 0, nil))},
		"image pull after grace":          {pod: pod(21*time.Second, false, nil, waiting("ImagePullBackOff", 0, nil)), wantType: ErrTypeImagePull, wantInMsg: []string{"ImagePullBackOff: msg"}},
		"config error within grace":       {pod: pod(5*time.Second, false, nil, waiting("CreateContainerConfigError", 0, nil))},
		"config error after grace":        {pod: pod(time.Minute, false, nil, waiting("CreateContainerConfigError", 0, nil)), wantType: ErrTypeContainerConfig},
		"run container error":             {pod: pod(time.Minute, false, nil, waiting("RunContainerError", 0, nil)), wantType: ErrTypeContainerConfig},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := ClassifyPod(tc.pod, now, StuckPolicy{})
			if tc.wantType == "" {
				if got != nil {
					t.Fatalf("stuck %s: %v, want not stuck", got.Type, got)
				}
				return
			}
			if got == nil || got.Type != tc.wantType {
				t.Fatalf("got %+v, want type %s", got, tc.wantType)
			}
			for _, w := range tc.wantInMsg {
				if !strings.Contains(got.Error(), w) {
					t.Errorf("message %q lacks %q", got.Error(), w)
				}
			}
		})
	}
}

func TestClassifyPodPolicy(t *testing.T) {
	now := time.Now()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "c-1", CreationTimestamp: metav1.NewTime(now)}}
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "redis", RestartCount: 1,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}}
	if s := ClassifyPod(p, now, StuckPolicy{}); s != nil {
		t.Fatalf("default policy: %v", s)
	}
	if s := ClassifyPod(p, now, StuckPolicy{CrashLoopRestarts: 1}); s == nil || s.Type != ErrTypeCrashLoop {
		t.Fatalf("CrashLoopRestarts 1: %v", s)
	}
}

func TestRedactLog(t *testing.T) {
	got := redactLog("\n*** FATAL CONFIG FILE ERROR ***\n>>> 'requirepass \"s3cret\"'\nmasterauth x\nBad directive or wrong number of arguments\n\n")
	if strings.Contains(got, "s3cret") || strings.Contains(got, "masterauth") {
		t.Fatalf("password line kept: %q", got)
	}
	if want := "*** FATAL CONFIG FILE ERROR *** | Bad directive or wrong number of arguments"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestClassifyKubeErrors(t *testing.T) {
	gr := schema.GroupResource{Resource: "pods"}
	tests := map[string]struct {
		err          error
		nonRetryable bool
	}{
		"bad request":          {apierrors.NewBadRequest("no"), true},
		"invalid":              {apierrors.NewInvalid(schema.GroupKind{Kind: "Pod"}, "p", nil), true},
		"forbidden":            {apierrors.NewForbidden(gr, "p", errors.New("rbac")), true},
		"forbidden, no SA yet": {apierrors.NewForbidden(gr, "p", errors.New(`error looking up service account ns/default: serviceaccount "default" not found`)), false},
		"not found":            {apierrors.NewNotFound(gr, "p"), true},
		"wrapped not found":    {fmt.Errorf("create pod p: %w", apierrors.NewNotFound(gr, "p")), true},
		"conflict":             {apierrors.NewConflict(gr, "p", errors.New("x")), false},
		"too many requests":    {apierrors.NewTooManyRequests("slow down", 1), false},
		"unauthorized":         {apierrors.NewUnauthorized("token"), false},
		"internal":             {apierrors.NewInternalError(errors.New("etcd")), false},
		"timeout":              {apierrors.NewServerTimeout(gr, "get", 1), false},
		"plain":                {errors.New("connection refused"), false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := classify(tc.err)
			var app *temporal.ApplicationError
			got := errors.As(err, &app) && app.NonRetryable()
			if got != tc.nonRetryable {
				t.Fatalf("non-retryable %v, want %v (%v)", got, tc.nonRetryable, err)
			}
			if got && app.Type() != ErrTypeKubeRejected {
				t.Fatalf("type %s", app.Type())
			}
		})
	}
	keep := temporal.NewNonRetryableApplicationError("x", ErrTypeCrashLoop, nil)
	if classify(keep) != keep {
		t.Fatal("an application error keeps its classification")
	}
}
