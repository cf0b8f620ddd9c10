package kube

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Stable error types of a Pod that will not become Ready on its own. Each is
// non-retryable: retrying the wait only waits longer for the same outcome, so
// a create fails fast and an upgrade rolls back instead.
const (
	// ErrTypeCrashLoop: a container keeps exiting (CrashLoopBackOff, or
	// restarted MaxRestarts times while the Pod was not Ready).
	ErrTypeCrashLoop = "PodCrashLoop"
	// ErrTypeImagePull: the image cannot be pulled or its name is invalid.
	ErrTypeImagePull = "PodImagePull"
	// ErrTypeContainerConfig: the container cannot be created from its spec
	// (CreateContainerConfigError, CreateContainerError, RunContainerError).
	ErrTypeContainerConfig = "PodContainerConfig"
)

// StuckPolicy bounds how long a wait tolerates a Pod in a failing state. The
// zero value means the defaults.
type StuckPolicy struct {
	// CrashLoopRestarts: a container waiting in CrashLoopBackOff after this
	// many restarts fails the wait (default 2). One restart is forgiven: a
	// process may exit once for a reason that does not repeat.
	CrashLoopRestarts int32 `json:"crashLoopRestarts,omitempty"`
	// MaxRestarts: a Pod that is not Ready with a container restarted this
	// often fails the wait whatever its current state (default 5).
	MaxRestarts int32 `json:"maxRestarts,omitempty"`
	// WaitingGrace: image pull and container creation errors fail the wait
	// once the Pod is this old (default 20s), so a registry hiccup or a
	// Secret created a moment late gets its retry first.
	WaitingGrace time.Duration `json:"waitingGrace,omitempty"`
}

func (p StuckPolicy) withDefaults() StuckPolicy {
	if p.CrashLoopRestarts <= 0 {
		p.CrashLoopRestarts = 2
	}
	if p.MaxRestarts <= 0 {
		p.MaxRestarts = 5
	}
	if p.WaitingGrace <= 0 {
		p.WaitingGrace = 20 * time.Second
	}
	return p
}

// PodStuck says why a Pod will not become Ready without someone changing it.
type PodStuck struct {
	// Type is one of the ErrType* constants.
	Type      string
	Pod       string
	Container string
	// Reason is the kubelet's reason (CrashLoopBackOff, ErrImagePull, ...).
	Reason   string
	Message  string
	Restarts int32
	// LastTermination describes the container's last exit ("" if none):
	// exit code, reason and termination message.
	LastTermination string
}

// Error is the sentence an operator reads: Pod, container, reason, restarts
// and how the container last ended.
func (s *PodStuck) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "pod %s container %s: %s", s.Pod, s.Container, s.Reason)
	if s.Restarts > 0 {
		fmt.Fprintf(&b, " after %d restart(s)", s.Restarts)
	}
	if s.Message != "" {
		fmt.Fprintf(&b, ": %s", s.Message)
	}
	if s.LastTermination != "" {
		fmt.Fprintf(&b, "; last termination: %s", s.LastTermination)
	}
	return b.String()
}

// ClassifyPod reports a Pod that cannot become Ready by itself (nil when it
// may still). It is pure: the same Pod status and clock give the same answer,
// so the table tests pin the policy. A Ready Pod is never stuck, whatever its
// restart history; init containers are checked before the main ones.
func ClassifyPod(pod *corev1.Pod, now time.Time, policy StuckPolicy) *PodStuck {
	if PodReady(pod) {
		return nil
	}
	p := policy.withDefaults()
	age := now.Sub(pod.CreationTimestamp.Time)
	check := func(statuses []corev1.ContainerStatus) *PodStuck {
		for _, cs := range statuses {
			s := &PodStuck{Pod: pod.Name, Container: cs.Name, Restarts: cs.RestartCount, LastTermination: describeTermination(cs.LastTerminationState.Terminated)}
			if w := cs.State.Waiting; w != nil {
				s.Reason, s.Message = w.Reason, w.Message
				switch w.Reason {
				case "CrashLoopBackOff":
					if cs.RestartCount >= p.CrashLoopRestarts {
						s.Type = ErrTypeCrashLoop
						return s
					}
				case "InvalidImageName":
					s.Type = ErrTypeImagePull
					return s
				case "ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull":
					if age >= p.WaitingGrace {
						s.Type = ErrTypeImagePull
						return s
					}
				case "CreateContainerConfigError", "CreateContainerError", "RunContainerError":
					if age >= p.WaitingGrace {
						s.Type = ErrTypeContainerConfig
						return s
					}
				}
			}
			if cs.RestartCount >= p.MaxRestarts {
				s.Type = ErrTypeCrashLoop
				if s.Reason == "" {
					s.Reason = "RepeatedRestarts"
				}
				return s
			}
		}
		return nil
	}
	if s := check(pod.Status.InitContainerStatuses); s != nil {
		return s
	}
	return check(pod.Status.ContainerStatuses)
}

func describeTermination(t *corev1.ContainerStateTerminated) string {
	if t == nil {
		return ""
	}
	s := fmt.Sprintf("exit code %d", t.ExitCode)
	if t.Signal != 0 {
		s += fmt.Sprintf(" (signal %d)", t.Signal)
	}
	if t.Reason != "" {
		s += ", " + t.Reason
	}
	if m := strings.TrimSpace(t.Message); m != "" {
		s += ": " + m
	}
	return s
}
