package guardian

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/dayops/dayops/internal/instance"
	"github.com/dayops/dayops/internal/kube/render"
	corev1 "k8s.io/api/core/v1"
)

// FenceLookback bounds which fence records the guardian reads: only from
// instances whose redis-server started less than this long ago, and only
// records of fences lifted within it. A fence happens at a restart, so the
// cost is one HTTP request per restarted instance per observation for this
// long, nothing for the others; a guardian that was down longer than this
// misses the record (the marker stays on the volume and in the Pod's log).
const FenceLookback = 10 * time.Minute

// FenceReport is one fenced start recorded by an instance manager
// (instance.Marker), as the guardian reports it in a Fenced audit event.
type FenceReport struct {
	Ordinal int    `json:"ordinal"`
	Shard   int    `json:"shard"`
	ID      string `json:"id"`
	Action  string `json:"action"`
	Reason  string `json:"reason"`
	// Role is the instance's role when the fence was lifted.
	Role       string        `json:"role"`
	Served     time.Time     `json:"served"`
	ServeAfter time.Duration `json:"serveAfterNs"`
	// SelfOffset is the restarted node's replication offset (its loaded
	// data); ReplicaOffset the furthest reachable replica's.
	SelfOffset    int64 `json:"selfOffset"`
	ReplicaOffset int64 `json:"replicaOffset"`
	Unverified    bool  `json:"unverified,omitempty"`
}

var statusClient = &http.Client{Timeout: time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// StatusAddr is where the Pod's instance manager answers its status ("":
// the Pod runs without it).
func StatusAddr(p *corev1.Pod) string {
	if p.Status.PodIP == "" {
		return ""
	}
	for _, c := range p.Spec.Containers {
		for _, port := range c.Ports {
			if port.Name == render.InstanceStatusPortName {
				return p.Status.PodIP + ":" + strconv.Itoa(int(port.ContainerPort))
			}
		}
	}
	return ""
}

// readFence asks an instance manager for its last fence record; ok is false
// when there is none recent enough (or the manager does not answer: the
// record is for the audit log and never holds up an observation).
func readFence(ctx context.Context, addr string, ordinal, shard int, now time.Time) (FenceReport, bool) {
	st, err := instance.FetchStatus(ctx, statusClient, addr)
	if err != nil || st.Marker == nil || st.Marker.ID == "" || st.Marker.Served.IsZero() || now.Sub(st.Marker.Served) > FenceLookback {
		return FenceReport{}, false
	}
	m := st.Marker
	r := FenceReport{Ordinal: ordinal, Shard: shard, ID: m.ID, Action: string(m.Decision.Action), Reason: m.Decision.Reason,
		Role: m.Role, Served: m.Served, ServeAfter: m.ServeAfter, SelfOffset: m.Observation.Self.Offset, Unverified: m.Unverified}
	for _, p := range m.Observation.Replicas {
		if p.Reachable && p.Repl.Offset > r.ReplicaOffset {
			r.ReplicaOffset = p.Repl.Offset
		}
	}
	return r, true
}
