// Package notify holds the activities that tell a shard's instance
// managers what the recover knows and they cannot see.
//
// TellGoneMembers: a former primary restarting in place runs fenced and
// waits up to --unreachable-timeout (60 s) for each replica its nodes.conf
// names, whatever became of it; the shard takes no write meanwhile. A
// replica whose Pod and volume are both gone will never answer and holds
// nothing to protect: the recover tells the shard's live managers so
// (instance/gonenotice), and a fenced one serves at once.
package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/dayops/dayops/internal/activities/guardian"
	"github.com/dayops/dayops/internal/activities/redisops"
	"github.com/dayops/dayops/internal/instance"
	"github.com/dayops/dayops/internal/instance/gonenotice"
	"github.com/dayops/dayops/internal/kube/render"
)

// Activities tell instance managers things.
type Activities struct {
	Kube      kubernetes.Interface
	Passwords guardian.Passwords
	Log       *slog.Logger
}

// TellGoneInput names the members gone with their data (NodeIDs) and the
// ordinals whose managers are told.
type TellGoneInput struct {
	Namespace string        `json:"namespace"`
	Cluster   string        `json:"cluster"`
	Auth      redisops.Auth `json:"auth"`
	Ordinals  []int         `json:"ordinals"`
	NodeIDs   []string      `json:"nodeIds"`
}

// TellGoneResult says which managers took the notice (Told) and which of
// those were fenced at the time (Fenced: the notice ends their wait);
// Failed says why the others did not (no Pod IP yet, no answer).
type TellGoneResult struct {
	Told   []int    `json:"told,omitempty"`
	Fenced []int    `json:"fenced,omitempty"`
	Failed []string `json:"failed,omitempty"`
}

var client = &http.Client{Timeout: 2 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// TellGoneMembers tells each manager of in.Ordinals that in.NodeIDs are
// gone with their data. It is best effort: a manager that cannot be told
// (its Pod restarting, a cluster without a password) is listed in Failed,
// and the caller tells it again later; only a cluster password that
// cannot be read is an error.
func (a *Activities) TellGoneMembers(ctx context.Context, in TellGoneInput) (TellGoneResult, error) {
	var res TellGoneResult
	password := ""
	if in.Auth.Secret != "" {
		var err error
		if password, err = a.Passwords.Password(ctx, in.Auth.Namespace, in.Auth.Secret); err != nil {
			return res, fmt.Errorf("the cluster's password: %w", err)
		}
	}
	if password == "" {
		res.Failed = append(res.Failed, "the cluster has no password: its managers take no notice")
		return res, nil
	}
	for _, ord := range in.Ordinals {
		name := render.PodName(in.Cluster, ord)
		pod, err := a.Kube.CoreV1().Pods(in.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			res.Failed = append(res.Failed, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		addr := guardian.StatusAddr(pod)
		if addr == "" {
			res.Failed = append(res.Failed, name+": no status endpoint (no Pod IP yet, or no instance manager)")
			continue
		}
		body, err := gonenotice.Tell(ctx, client, addr, password, in.NodeIDs)
		if err != nil {
			res.Failed = append(res.Failed, fmt.Sprintf("%s: %v", name, err))
			continue
		}
		res.Told = append(res.Told, ord)
		var st instance.Status
		if json.Unmarshal(body, &st) == nil && st.Fenced {
			res.Fenced = append(res.Fenced, ord)
		}
	}
	if a.Log != nil {
		a.Log.Info("told managers of members gone with their data", "cluster", in.Namespace+"/"+in.Cluster,
			"node_ids", in.NodeIDs, "told", res.Told, "fenced", res.Fenced, "failed", res.Failed)
	}
	return res, nil
}
