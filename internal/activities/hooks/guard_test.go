package hooks

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/dayops/dayops/internal/spec"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
)

func runHook(t *testing.T, a *Activities, url string) (RunResult, error) {
	t.Helper()
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(a)
	h := spec.Hook{Name: "h", Point: spec.PreMigrate, HTTP: &spec.HTTPHook{URL: url}}
	h.Default()
	val, err := env.ExecuteActivity(a.RunHook, RunInput{Hook: h, Context: StepContext{Cluster: "c", Shard: -1, Ordinal: -1}})
	var res RunResult
	if err == nil {
		err = val.Get(&res)
	}
	return res, err
}

func TestGuardCheck(t *testing.T) {
	allow, eps, err := ParseAllow("10.9.0.0/16, 127.0.0.2, [::1]:8443")
	if err != nil {
		t.Fatal(err)
	}
	g := &Guard{Allow: allow, AllowEndpoints: eps, APIServer: []netip.AddrPort{netip.MustParseAddrPort("10.9.0.1:443")}}
	for addr, want := range map[string]bool{
		"127.0.0.1:80":          false,
		"127.0.0.2:80":          true,
		"[::1]:80":              false,
		"[::1]:8443":            true,
		"[::ffff:127.0.0.1]:80": false,
		"169.254.169.254:80":    false,
		"[fe80::1]:80":          false,
		"[fd00:ec2::254]:80":    false,
		"100.100.100.200:80":    false,
		"0.0.0.0:80":            false,
		"10.9.0.1:443":          false, // the API server, though its prefix is allowed
		"10.9.0.1:8080":         true,
		"192.0.2.10:443":        true,
	} {
		err := g.Check(netip.MustParseAddrPort(addr))
		if (err == nil) != want {
			t.Errorf("Check(%s) = %v, want allowed=%v", addr, err, want)
		}
		if err != nil && !errors.Is(err, ErrRefusedAddress) {
			t.Errorf("Check(%s) error %v is not ErrRefusedAddress", addr, err)
		}
	}
	if _, _, err := ParseAllow("localhost,10.0.0.0/33"); err == nil || !strings.Contains(err.Error(), "localhost") {
		t.Errorf("ParseAllow accepted names or bad prefixes: %v", err)
	}
}

// TestHookLoopback: a hook at a loopback server is refused at connect time
// (also through a DNS name), and reaches it once the allowlist names it.
// The response body never appears in the result or the error.
func TestHookLoopback(t *testing.T) {
	const secret = "body-secret-do-not-record"
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		if r.URL.Path == "/fail" {
			w.WriteHeader(http.StatusBadGateway)
		}
		io.WriteString(w, secret)
	}))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port

	refused := &Activities{HTTP: (&Guard{}).Client()}
	for _, u := range []string{srv.URL, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1), "http://user:pw@" + strings.TrimPrefix(srv.URL, "http://") + "/?token=t0k"} {
		_, err := runHook(t, refused, u)
		var app *temporal.ApplicationError
		if err == nil || !errors.As(err, &app) || !strings.Contains(err.Error(), "loopback") {
			t.Fatalf("%s: want a refusal naming loopback, got %v", u, err)
		}
		if strings.Contains(err.Error(), "pw@") || strings.Contains(err.Error(), "t0k") {
			t.Fatalf("credentials leak into the error: %v", err)
		}
	}
	if hits != 0 {
		t.Fatalf("the refused hook reached the server %d times", hits)
	}

	allow, eps, err := ParseAllow("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	allowed := &Activities{HTTP: (&Guard{Allow: allow, AllowEndpoints: eps}).Client()}
	res, err := runHook(t, allowed, srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != 200 || res.BodyBytes != int64(len(secret)) || len(res.BodySHA256) != 64 || res.Output != "" {
		t.Fatalf("result = %+v", res)
	}
	_, err = runHook(t, allowed, srv.URL+"/fail?token=t0k")
	if err == nil || !strings.Contains(err.Error(), "status 502") || !strings.Contains(err.Error(), "sha256") {
		t.Fatalf("want status 502 with the body's hash, got %v", err)
	}
	if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "t0k") {
		t.Fatalf("the body or a token leaks into the error: %v", err)
	}
	// The API server's endpoint stays refused though 127.0.0.1 is allowed.
	api := &Activities{HTTP: (&Guard{Allow: allow, APIServer: []netip.AddrPort{netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))}}).Client()}
	if _, err := runHook(t, api, srv.URL); err == nil || !strings.Contains(err.Error(), "API server") {
		t.Fatalf("want the API server refused, got %v", err)
	}
}

// TestHookRedirect: a redirect is the hook's answer, never followed (it
// could point anywhere, e.g. at the metadata endpoint).
func TestHookRedirect(t *testing.T) {
	followed := false
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { followed = true }))
	defer target.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	allow, _, _ := ParseAllow("127.0.0.1")
	_, err := runHook(t, &Activities{HTTP: (&Guard{Allow: allow}).Client()}, srv.URL)
	if err == nil || !strings.Contains(err.Error(), "status 307") || !strings.Contains(err.Error(), "redirects are not followed") {
		t.Fatalf("want a failed hook with status 307, got %v", err)
	}
	if followed {
		t.Fatal("the redirect was followed")
	}
}

const linkLocalAddr = "169.254.77.1"

// TestHookLinkLocal adds a link-local address to lo inside a network
// namespace of its own (the host's network is untouched) and checks that a
// hook there is refused, then allowed by the allowlist.
func TestHookLinkLocal(t *testing.T) {
	if os.Getenv("DAYOPS_HOOKS_IN_NETNS") == "1" {
		linkLocalInNamespace(t)
		return
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("unshare is not installed: cannot make a network namespace")
	}
	if os.Geteuid() != 0 {
		t.Skip("making a network namespace and adding an address needs root")
	}
	cmd := exec.CommandContext(t.Context(), unshare, "--net", os.Args[0], "-test.run", "^TestHookLinkLocal$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "DAYOPS_HOOKS_IN_NETNS=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("in a network namespace: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "link-local checks passed") {
		t.Fatalf("the namespaced run did not run the checks:\n%s", out)
	}
}

func linkLocalInNamespace(t *testing.T) {
	for _, args := range [][]string{{"link", "set", "lo", "up"}, {"addr", "add", linkLocalAddr + "/32", "dev", "lo"}} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
	l, err := net.Listen("tcp", linkLocalAddr+":0")
	if err != nil {
		t.Fatal(err)
	}
	hits := 0
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hits++; io.WriteString(w, "metadata") })}
	go srv.Serve(l)
	defer srv.Close()
	url := "http://" + l.Addr().String() + "/latest/meta-data/"
	if _, err := runHook(t, &Activities{HTTP: (&Guard{}).Client()}, url); err == nil || !strings.Contains(err.Error(), "link-local") {
		t.Fatalf("want the link-local address refused, got %v", err)
	}
	if hits != 0 {
		t.Fatal("the refused hook reached the server")
	}
	allow, _, _ := ParseAllow("169.254.77.0/24")
	res, err := runHook(t, &Activities{HTTP: (&Guard{Allow: allow}).Client()}, url)
	if err != nil || res.Status != 200 || hits != 1 {
		t.Fatalf("allowed: %+v %v (hits %d)", res, err, hits)
	}
	t.Log("link-local checks passed")
}
