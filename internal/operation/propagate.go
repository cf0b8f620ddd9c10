package operation

import (
	"context"

	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/workflow"
)

// metaHeader is the Temporal header that carries an operation's Meta from a
// workflow to its activities and child workflows.
const metaHeader = "dayops-operation"

type metaKey struct{}

// WithMeta returns a workflow context whose activities and child workflows
// receive m (see MetaFromContext).
func WithMeta(ctx workflow.Context, m Meta) workflow.Context {
	return workflow.WithValue(ctx, metaKey{}, m)
}

// MetaFromContext returns the operation Meta of an activity (or workflow)
// context, set by WithMeta in the calling workflow.
func MetaFromContext(ctx context.Context) (Meta, bool) {
	m, ok := ctx.Value(metaKey{}).(Meta)
	return m, ok
}

// metaFromWorkflow returns the Meta of a workflow context.
func metaFromWorkflow(ctx workflow.Context) (Meta, bool) {
	m, ok := ctx.Value(metaKey{}).(Meta)
	return m, ok
}

// MetaPropagator carries Meta through Temporal headers. Register it on the
// client (client.Options.ContextPropagators) used by both the API and the
// worker, so that every activity knows which operation, actor and reason it
// acts for, and the audit interceptor can record its steps.
type MetaPropagator struct{}

var _ workflow.ContextPropagator = MetaPropagator{}

// Inject writes the Meta of a Go context (a client starting a workflow).
func (MetaPropagator) Inject(ctx context.Context, w workflow.HeaderWriter) error {
	m, ok := MetaFromContext(ctx)
	if !ok {
		return nil
	}
	return writeMeta(m, w)
}

// Extract reads the Meta into an activity's Go context.
func (MetaPropagator) Extract(ctx context.Context, r workflow.HeaderReader) (context.Context, error) {
	m, ok, err := readMeta(r)
	if err != nil || !ok {
		return ctx, err
	}
	return context.WithValue(ctx, metaKey{}, m), nil
}

// InjectFromWorkflow writes the Meta of a workflow context (scheduling an
// activity or a child workflow).
func (MetaPropagator) InjectFromWorkflow(ctx workflow.Context, w workflow.HeaderWriter) error {
	m, ok := metaFromWorkflow(ctx)
	if !ok {
		return nil
	}
	return writeMeta(m, w)
}

// ExtractToWorkflow reads the Meta into a workflow's context.
func (MetaPropagator) ExtractToWorkflow(ctx workflow.Context, r workflow.HeaderReader) (workflow.Context, error) {
	m, ok, err := readMeta(r)
	if err != nil || !ok {
		return ctx, err
	}
	return workflow.WithValue(ctx, metaKey{}, m), nil
}

func writeMeta(m Meta, w workflow.HeaderWriter) error {
	m.Params = nil // in the workflow input already; kept out of every activity's header
	p, err := converter.GetDefaultDataConverter().ToPayload(m)
	if err != nil {
		return err
	}
	w.Set(metaHeader, p)
	return nil
}

func readMeta(r workflow.HeaderReader) (Meta, bool, error) {
	p, ok := r.Get(metaHeader)
	if !ok {
		return Meta{}, false, nil
	}
	var m Meta
	if err := converter.GetDefaultDataConverter().FromPayload(p, &m); err != nil {
		return Meta{}, false, err
	}
	return m, true, nil
}
