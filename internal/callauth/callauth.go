// Package callauth makes the dayops API the only door for the signals and
// updates that steer a running operation (an upgrade's approve, abort,
// pause and resume carry the actor who decided, and the audit log records
// that actor). Whoever else can reach the Temporal frontend (its CLI, its
// Web UI, a script with the namespace's address) could otherwise send
// "approve" in anyone's name.
//
// The API signs: a client interceptor adds a header with an HMAC-SHA256 over
// the workflow ID, the signal or update name and the encoded arguments.
// The worker checks: a workflow interceptor refuses an update whose MAC does
// not verify (in its validator, so the refusal leaves no trace in the
// history and the caller gets the error) and drops such a signal before any
// handler sees it. The keys never enter a history: only the MAC does.
//
// Keys: DAYOPS_CALL_KEYS, comma-separated, each at least 32 bytes; the first
// signs, every one verifies, so a key is rotated by prepending the new one,
// rolling API and workers, then removing the old one. Without keys, nothing
// is signed or checked (the server logs a warning at start).
//
// Determinism: a signal's check runs again when its history is replayed
// and gives the same answer as long as the key that signed it is still
// listed. Enable the keys (or remove one) while no upgrade is paused by a
// signal sent under the old configuration.
package callauth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Header is the Temporal header that carries the MAC.
const Header = "dayops-call-mac"

// ErrTypeUnsigned is the error type of a refused update.
const ErrTypeUnsigned = "CallNotSigned"

// MinKeyLen is the shortest key accepted, in bytes.
const MinKeyLen = 32

// Keys sign and verify calls: the first signs, every one verifies.
type Keys struct {
	keys [][]byte
}

// ParseKeys reads DAYOPS_CALL_KEYS: comma-separated keys of at least
// MinKeyLen bytes each. An empty string gives no keys (signing off).
func ParseKeys(s string) (Keys, error) {
	var k Keys
	var errs []error
	for i, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if len(p) < MinKeyLen {
			errs = append(errs, fmt.Errorf("key %d is %d bytes, want at least %d (e.g. `openssl rand -hex 32`)", i+1, len(p), MinKeyLen))
			continue
		}
		k.keys = append(k.keys, []byte(p))
	}
	return k, errors.Join(errs...)
}

// Enabled reports whether there is a key.
func (k Keys) Enabled() bool { return len(k.keys) > 0 }

// message is what a MAC covers: a version tag, the workflow, the call's
// name and the encoded arguments, each length-prefixed.
func message(workflowID, name string, args []*commonpb.Payload) []byte {
	var b []byte
	add := func(p []byte) {
		b = fmt.Appendf(b, "%d:", len(p))
		b = append(b, p...)
	}
	add([]byte("dayops-call-v1"))
	add([]byte(workflowID))
	add([]byte(name))
	for _, a := range args {
		add(a.GetData())
	}
	return b
}

func mac(key, msg []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(msg)
	return h.Sum(nil)
}

// Sign returns the MAC of a call (with the first key), base64.
func (k Keys) Sign(workflowID, name string, args []*commonpb.Payload) string {
	return base64.RawStdEncoding.EncodeToString(mac(k.keys[0], message(workflowID, name, args)))
}

// Verify reports whether sig is the MAC of the call under any key.
func (k Keys) Verify(workflowID, name string, args []*commonpb.Payload, sig string) bool {
	got, err := base64.RawStdEncoding.DecodeString(sig)
	if err != nil || len(got) == 0 {
		return false
	}
	msg := message(workflowID, name, args)
	for _, key := range k.keys {
		if hmac.Equal(got, mac(key, msg)) {
			return true
		}
	}
	return false
}

var dc = converter.GetDefaultDataConverter()

func encode(args ...any) ([]*commonpb.Payload, error) {
	p, err := dc.ToPayloads(args...)
	if err != nil {
		return nil, err
	}
	return p.GetPayloads(), nil
}

func setHeader(ctx context.Context, sig string) error {
	h := interceptor.Header(ctx)
	if h == nil {
		return errors.New("callauth: no outbound header on the context")
	}
	p, err := dc.ToPayload(sig)
	if err != nil {
		return err
	}
	h[Header] = p
	return nil
}

func readHeader(h map[string]*commonpb.Payload) string {
	p, ok := h[Header]
	if !ok {
		return ""
	}
	var sig string
	if err := dc.FromPayload(p, &sig); err != nil {
		return ""
	}
	return sig
}

// Signer is the API's client interceptor: it signs every signal and update
// the client sends. With no keys it does nothing.
type Signer struct {
	interceptor.ClientInterceptorBase
	Keys Keys
}

// InterceptClient implements interceptor.ClientInterceptor.
func (s *Signer) InterceptClient(next interceptor.ClientOutboundInterceptor) interceptor.ClientOutboundInterceptor {
	return &signer{ClientOutboundInterceptorBase: interceptor.ClientOutboundInterceptorBase{Next: next}, keys: s.Keys}
}

type signer struct {
	interceptor.ClientOutboundInterceptorBase
	keys Keys
}

func (s *signer) SignalWorkflow(ctx context.Context, in *interceptor.ClientSignalWorkflowInput) error {
	if s.keys.Enabled() {
		args, err := encode(in.Arg)
		if err != nil {
			return fmt.Errorf("sign signal %s: %w", in.SignalName, err)
		}
		if err := setHeader(ctx, s.keys.Sign(in.WorkflowID, in.SignalName, args)); err != nil {
			return err
		}
	}
	return s.Next.SignalWorkflow(ctx, in)
}

func (s *signer) UpdateWorkflow(ctx context.Context, in *interceptor.ClientUpdateWorkflowInput) (client.WorkflowUpdateHandle, error) {
	if s.keys.Enabled() {
		args, err := encode(in.Args...)
		if err != nil {
			return nil, fmt.Errorf("sign update %s: %w", in.UpdateName, err)
		}
		if err := setHeader(ctx, s.keys.Sign(in.WorkflowID, in.UpdateName, args)); err != nil {
			return nil, err
		}
	}
	return s.Next.UpdateWorkflow(ctx, in)
}

// Checker is the worker's interceptor: it refuses updates and drops signals
// whose MAC does not verify. With no keys it does nothing.
type Checker struct {
	interceptor.WorkerInterceptorBase
	Keys Keys
}

// InterceptWorkflow implements interceptor.WorkerInterceptor.
func (c *Checker) InterceptWorkflow(_ workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	if !c.Keys.Enabled() {
		return next
	}
	return &checker{WorkflowInboundInterceptorBase: interceptor.WorkflowInboundInterceptorBase{Next: next}, keys: c.Keys}
}

type checker struct {
	interceptor.WorkflowInboundInterceptorBase
	keys Keys
}

// ValidateUpdate runs when an update arrives, never on replay: a refused
// update is not written to the history and its caller gets the error.
func (c *checker) ValidateUpdate(ctx workflow.Context, in *interceptor.UpdateInput) error {
	args, err := encode(in.Args...)
	if err != nil {
		return temporal.NewApplicationError("update "+in.Name+": cannot encode its arguments to check them", ErrTypeUnsigned, err)
	}
	if !c.keys.Verify(workflow.GetInfo(ctx).WorkflowExecution.ID, in.Name, args, readHeader(interceptor.WorkflowHeader(ctx))) {
		return temporal.NewApplicationError(
			fmt.Sprintf("update %s refused: it does not carry the dayops API's signature (send it through the dayops API)", in.Name), ErrTypeUnsigned)
	}
	return c.Next.ValidateUpdate(ctx, in)
}

// HandleSignal drops a signal whose MAC does not verify; no handler sees it.
func (c *checker) HandleSignal(ctx workflow.Context, in *interceptor.HandleSignalInput) error {
	if !c.keys.Verify(workflow.GetInfo(ctx).WorkflowExecution.ID, in.SignalName, in.Arg.GetPayloads(), readHeader(interceptor.WorkflowHeader(ctx))) {
		workflow.GetLogger(ctx).Warn("signal dropped: it does not carry the dayops API's signature", "signal", in.SignalName)
		return nil
	}
	return c.Next.HandleSignal(ctx, in)
}
