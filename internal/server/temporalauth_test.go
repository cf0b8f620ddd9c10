package server_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	sdkclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/dayops/dayops/internal/callauth"
	"github.com/dayops/dayops/internal/devcluster"
	"github.com/dayops/dayops/internal/devcluster/devtest"
	"github.com/dayops/dayops/internal/server"
	"github.com/dayops/dayops/internal/temporaltls"
)

// jwks serves one RSA public key as a JSON Web Key Set on loopback, the way
// an identity provider publishes the keys that sign its tokens.
func jwks(t *testing.T, kid string, pub *rsa.PublicKey) string {
	t.Helper()
	b64 := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	body, err := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
		"n": b64(pub.N.Bytes()), "e": b64(big.NewInt(int64(pub.E)).Bytes()),
	}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/.well-known/jwks.json"
}

// apiKey signs an RS256 JWT granting permissions (Temporal's default claim
// mapper reads "sub" and the permissions claim).
func apiKey(t *testing.T, key *rsa.PrivateKey, kid, subject string, permissions ...string) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"sub": subject, "permissions": permissions,
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(),
	})
	tok.Header["kid"] = kid
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestTemporalAPIKey runs Temporal's own server with mutual TLS and
// authorization (JWT API keys verified against a JWKS served on loopback):
// dayops' client setup without a key is refused, with a key of another
// signer or for another namespace too, and with its key it works (describe,
// start, terminate, a worker that completes a workflow; the key from a
// file).
func TestTemporalAPIKey(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	const kid = "dayops-test"
	ts := devtest.StartTemporalServer(t, devcluster.FindRoot(wd), devtest.WithTemporalAuth(devcluster.TemporalAuth{
		KeySourceURIs: []string{jwks(t, kid, &signer.PublicKey)},
		AdminAPIKey:   apiKey(t, signer, kid, "dayops-dev", "temporal-system:admin"),
	}))
	cfg := server.Config{TemporalAddress: ts.TemporalAddress, TemporalNamespace: devcluster.TemporalNamespace, TemporalTLS: ts.TemporalTLS}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := t.Context()

	dial := func(t *testing.T, key string) sdkclient.Client {
		t.Helper()
		c := cfg
		c.TemporalAPIKey = temporaltls.APIKey{Value: key}
		cl, err := server.DialTemporal(ctx, c, log, callauth.Keys{})
		if err != nil { // the dial itself only asks for the system info, which needs no key
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	refused := func(t *testing.T, cl sdkclient.Client) {
		t.Helper()
		_, err := cl.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: devcluster.TemporalNamespace})
		var denied *serviceerror.PermissionDenied
		if !errors.As(err, &denied) {
			t.Errorf("describe namespace: want PermissionDenied, got %v", err)
		}
		_, err = cl.ExecuteWorkflow(ctx, sdkclient.StartWorkflowOptions{ID: "refused", TaskQueue: "nobody"}, "Nothing")
		if !errors.As(err, &denied) {
			t.Errorf("start a workflow: want PermissionDenied, got %v", err)
		}
	}

	t.Run("no key", func(t *testing.T) { refused(t, dial(t, "")) })
	t.Run("key of another signer", func(t *testing.T) {
		other, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		c := cfg
		c.TemporalAPIKey = temporaltls.APIKey{Value: apiKey(t, other, kid, "mallory", "temporal-system:admin")}
		// A key that does not verify is refused on every call, even the
		// dial's system info.
		cl, err := server.DialTemporal(ctx, c, log, callauth.Keys{})
		var denied *serviceerror.PermissionDenied
		if err == nil {
			defer cl.Close()
			_, err = cl.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: devcluster.TemporalNamespace})
		}
		if !errors.As(err, &denied) {
			t.Errorf("want PermissionDenied, got %v", err)
		}
	})
	t.Run("key without a role in the namespace", func(t *testing.T) {
		refused(t, dial(t, apiKey(t, signer, kid, "reader-elsewhere", "orders:write")))
	})
	t.Run("dayops' key", func(t *testing.T) {
		key := apiKey(t, signer, kid, "dayops", devcluster.TemporalNamespace+":write")
		cl := dial(t, key)
		if _, err := cl.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: devcluster.TemporalNamespace}); err != nil {
			t.Fatalf("describe namespace with the key: %v", err)
		}
		run, err := cl.ExecuteWorkflow(ctx, sdkclient.StartWorkflowOptions{ID: "api-key-" + time.Now().Format("150405.000"), TaskQueue: "nobody"}, "Nothing")
		if err != nil {
			t.Fatalf("start a workflow with the key: %v", err)
		}
		if err := cl.TerminateWorkflow(ctx, run.GetID(), run.GetRunID(), "test over"); err != nil {
			t.Fatalf("terminate with the key: %v", err)
		}
		// A worker on the same client polls and completes a workflow.
		w := worker.New(cl, "api-key-test", worker.Options{})
		w.RegisterWorkflowWithOptions(func(workflow.Context) (string, error) { return "done", nil }, workflow.RegisterOptions{Name: "Hello"})
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		hello, err := cl.ExecuteWorkflow(ctx, sdkclient.StartWorkflowOptions{ID: "api-key-hello-" + time.Now().Format("150405.000"), TaskQueue: "api-key-test"}, "Hello")
		if err != nil {
			t.Fatal(err)
		}
		var got string
		if err := hello.Get(ctx, &got); err != nil || got != "done" {
			t.Fatalf("workflow on a worker with the key: %q, %v", got, err)
		}
		// The same key from a file (a mounted Secret), through the same setup.
		path := t.TempDir() + "/api-key"
		if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		c := cfg
		c.TemporalAPIKey = temporaltls.APIKey{File: path}
		fromFile, err := server.DialTemporal(ctx, c, log, callauth.Keys{})
		if err != nil {
			t.Fatal(err)
		}
		defer fromFile.Close()
		if _, err := fromFile.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: devcluster.TemporalNamespace}); err != nil {
			t.Fatalf("describe namespace with the key file: %v", err)
		}
		if err := server.EnsureSearchAttributes(ctx, cl, devcluster.TemporalNamespace, log); err != nil {
			t.Errorf("search attributes (registered by the admin at setup) with dayops' key: %v", err)
		}
	})
}
