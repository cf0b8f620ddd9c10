package httpapi

import (
	"context"
	"time"

	"github.com/dayops/dayops/internal/admission"
	"github.com/dayops/dayops/internal/workflows"
	"go.temporal.io/sdk/client"
)

// guardianQuery asks a cluster's guardian workflow what it knows (nil when
// no guardian answers: not started yet, or no worker).
func guardianQuery(ctx context.Context, c client.Client, namespace, name string) *workflows.GuardianHealth {
	if c == nil {
		return nil
	}
	qctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	v, err := c.QueryWorkflow(qctx, workflows.GuardianWorkflowID(namespace, name), "", workflows.QueryHealth)
	if err != nil {
		return nil
	}
	var h workflows.GuardianHealth
	if err := v.Get(&h); err != nil || h.State == "" {
		return nil
	}
	return &h
}

// guardianHealth is the guardian's view for list and get.
func (s *Server) guardianHealth(ctx context.Context, namespace, name string) *workflows.GuardianHealth {
	return guardianQuery(ctx, s.d.Temporal, namespace, name)
}

// guardians is admission.Health over the guardian's health query: recover
// plans with the lost instances the guardian sees.
type guardians struct{ c client.Client }

func (g guardians) Lost(ctx context.Context, namespace, name string) (admission.GuardianView, bool) {
	h := guardianQuery(ctx, g.c, namespace, name)
	if h == nil {
		return admission.GuardianView{}, false
	}
	return admission.GuardianView{State: h.State, Lost: h.Lost, Known: h.Known, Primaries: h.Primaries, Going: h.Going}, true
}
