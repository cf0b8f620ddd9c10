package hooks

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"time"

	"github.com/dayops/dayops/internal/spec"
	"go.temporal.io/sdk/temporal"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/utils/exec"
)

// maxOutput is how much of a hook's output is kept in results and errors.
const maxOutput = 1024

// Activities run hooks.
type Activities struct {
	Kube       kubernetes.Interface
	RestConfig *rest.Config
	HTTP       *http.Client
	Log        *slog.Logger
}

// StepContext is what a hook is told about the step it runs at. It is the
// JSON body of an HTTP hook and the standard input of an exec hook.
type StepContext struct {
	OperationID   string         `json:"operationId"`
	OperationType string         `json:"operationType"`
	Namespace     string         `json:"namespace"`
	Cluster       string         `json:"cluster"`
	Point         spec.HookPoint `json:"point"`
	Hook          string         `json:"hook"`
	Scope         spec.HookScope `json:"scope"`
	// Shard and Ordinal are set for shard and replica scoped hooks (-1 when not).
	Shard   int    `json:"shard"`
	Ordinal int    `json:"ordinal"`
	Pod     string `json:"pod,omitempty"`
	Address string `json:"address,omitempty"`
	Actor   string `json:"actor"`
	Reason  string `json:"reason,omitempty"`
	// Details are point-specific facts, e.g. the slots about to move.
	Details map[string]string `json:"details,omitempty"`
}

// RunInput is one hook run.
type RunInput struct {
	Hook    spec.Hook   `json:"hook"`
	Context StepContext `json:"context"`
	// Container of the pod an exec hook runs in (default "redis").
	Container string `json:"container,omitempty"`
}

// RunResult is a successful run. An HTTP hook's response body is never
// kept (it goes to audit events auditors read, and to Temporal history):
// only its size and SHA-256.
type RunResult struct {
	// Status is the HTTP status of an HTTP hook.
	Status int `json:"status,omitempty"`
	// Output is the first KiB of an exec hook's output.
	Output string `json:"output,omitempty"`
	// BodyBytes and BodySHA256 describe an HTTP hook's response body (its
	// first maxBody bytes; BodyTruncated when it was longer).
	BodyBytes     int64         `json:"bodyBytes,omitempty"`
	BodySHA256    string        `json:"bodySha256,omitempty"`
	BodyTruncated bool          `json:"bodyTruncated,omitempty"`
	Duration      time.Duration `json:"duration"`
}

// maxBody is how much of an HTTP hook's response is read (and hashed).
const maxBody = 1 << 20

// ErrTypeHookFailed is the error type of a failed attempt.
const ErrTypeHookFailed = "HookFailed"

// ErrTypeHookRefused is the error type of an HTTP hook whose address the
// Guard refuses: retrying cannot help.
const ErrTypeHookRefused = "HookAddressRefused"

// RetryPolicy is the activity retry policy that gives a hook its retries.
func RetryPolicy(h spec.Hook) *temporal.RetryPolicy {
	retries := spec.DefaultHookRetries
	if h.Retries != nil {
		retries = *h.Retries
	}
	return &temporal.RetryPolicy{
		InitialInterval:    time.Second,
		BackoffCoefficient: 2,
		MaximumInterval:    30 * time.Second,
		MaximumAttempts:    int32(retries + 1),
	}
}

// RunHook runs one attempt of a hook.
func (a *Activities) RunHook(ctx context.Context, in RunInput) (RunResult, error) {
	start := time.Now()
	body, err := json.Marshal(in.Context)
	if err != nil {
		return RunResult{}, temporal.NewNonRetryableApplicationError("marshal hook context", ErrTypeHookFailed, err)
	}
	var res RunResult
	switch {
	case in.Hook.HTTP != nil:
		res, err = a.runHTTP(ctx, in.Hook, body)
	case in.Hook.Exec != nil:
		res, err = a.runExec(ctx, in, body)
	default:
		return RunResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("hook %s has neither http nor exec", in.Hook.Name), ErrTypeHookFailed, nil)
	}
	res.Duration = time.Since(start)
	var app *temporal.ApplicationError
	if errors.As(err, &app) && app.NonRetryable() {
		return res, temporal.NewNonRetryableApplicationError(fmt.Sprintf("hook %s at %s: %v", in.Hook.Name, in.Hook.Point, err), app.Type(), nil)
	}
	if err != nil {
		return res, temporal.NewApplicationError(fmt.Sprintf("hook %s at %s: %v", in.Hook.Name, in.Hook.Point, err), ErrTypeHookFailed)
	}
	return res, nil
}

func (a *Activities) runHTTP(ctx context.Context, h spec.Hook, body []byte) (RunResult, error) {
	target := spec.RedactURL(h.HTTP.URL)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.HTTP.URL, bytes.NewReader(body))
	if err != nil {
		return RunResult{}, fmt.Errorf("POST %s: invalid request", target)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "dayops-hook")
	for k, v := range h.HTTP.Headers {
		req.Header.Set(k, v)
	}
	client := a.HTTP
	if client == nil {
		client = (&Guard{}).Client()
	}
	resp, err := client.Do(req)
	if err != nil {
		// *url.Error repeats the URL with its query (tokens): keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if errors.Is(err, ErrRefusedAddress) {
			return RunResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("POST %s: %v", target, err), ErrTypeHookRefused, nil)
		}
		return RunResult{}, fmt.Errorf("POST %s: %w", target, err)
	}
	defer resp.Body.Close()
	sum := sha256.New()
	n, _ := io.Copy(sum, io.LimitReader(resp.Body, maxBody))
	extra, _ := io.Copy(io.Discard, io.LimitReader(resp.Body, 1))
	res := RunResult{Status: resp.StatusCode, BodyBytes: n, BodySHA256: hex.EncodeToString(sum.Sum(nil)), BodyTruncated: extra > 0}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		what := fmt.Sprintf("status %d", resp.StatusCode)
		if resp.StatusCode >= 300 && resp.StatusCode <= 399 {
			what += " (redirects are not followed)"
		}
		return res, fmt.Errorf("POST %s: %s, body %d bytes sha256 %s", target, what, n, res.BodySHA256)
	}
	return res, nil
}

func (a *Activities) runExec(ctx context.Context, in RunInput, stdin []byte) (RunResult, error) {
	if in.Context.Pod == "" {
		return RunResult{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("exec hook %s has no pod to run in", in.Hook.Name), ErrTypeHookFailed, nil)
	}
	container := in.Container
	if container == "" {
		container = "redis"
	}
	req := a.Kube.CoreV1().RESTClient().Post().Resource("pods").
		Namespace(in.Context.Namespace).Name(in.Context.Pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{
			Container: container, Command: in.Hook.Exec.Command, Stdin: true, Stdout: true, Stderr: true,
		}, scheme.ParameterCodec)
	ws, err := remotecommand.NewWebSocketExecutor(a.RestConfig, http.MethodGet, req.URL().String())
	if err != nil {
		return RunResult{}, fmt.Errorf("exec in %s: %w", in.Context.Pod, err)
	}
	spdy, err := remotecommand.NewSPDYExecutor(a.RestConfig, http.MethodPost, req.URL())
	if err != nil {
		return RunResult{}, fmt.Errorf("exec in %s: %w", in.Context.Pod, err)
	}
	executor, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return RunResult{}, fmt.Errorf("exec in %s: %w", in.Context.Pod, err)
	}
	var out limitedBuffer
	err = executor.StreamWithContext(ctx, remotecommand.StreamOptions{
		Stdin: bytes.NewReader(stdin), Stdout: &out, Stderr: &out,
	})
	res := RunResult{Output: out.String()}
	if err != nil {
		var exitErr exec.ExitError
		if errors.As(err, &exitErr) {
			return res, fmt.Errorf("%v in pod %s exited %d: %s", in.Hook.Exec.Command, in.Context.Pod, exitErr.ExitStatus(), res.Output)
		}
		return res, fmt.Errorf("%v in pod %s: %w", in.Hook.Exec.Command, in.Context.Pod, err)
	}
	return res, nil
}

// limitedBuffer keeps the first maxOutput bytes written to it.
type limitedBuffer struct{ b bytes.Buffer }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := maxOutput - l.b.Len(); room > 0 {
		l.b.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string { return l.b.String() }
