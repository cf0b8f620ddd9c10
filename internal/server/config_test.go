package server

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/activities/guardian"
	"github.com/prometheus/client_golang/prometheus"
)

func TestValidateRefusesPlaceholderTokens(t *testing.T) {
	base := Config{Roles: []string{"api"}, APIURL: "http://127.0.0.1:8080", TaskQueue: "q", TemporalAddress: "127.0.0.1:7233",
		DatabaseURL: "postgres://x"}
	for spec, wantErr := range map[string]string{
		"6f1c0a9e2b7d4c83a15e9f0b2d6c7a48e3f1b5a9c0d2e4f6=ops:operator": "",
		"change-me-operator-token-0001=platform-team:operator":          "DAYOPS_API_TOKENS: token entry 1 (platform-team)",
		"changeme=ops:operator": "DAYOPS_API_TOKENS: token entry 1: token is shorter than 16",
		"":                      "DAYOPS_API_TOKENS: the API needs at least one token",
	} {
		c := base
		c.Tokens = spec
		err := c.Validate()
		if wantErr == "" {
			if err != nil && strings.Contains(err.Error(), "DAYOPS_API_TOKENS") {
				t.Errorf("%q refused: %v", spec, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("%q: err = %v, want %q", spec, err, wantErr)
		}
	}
}

func TestHTTPServerTimeouts(t *testing.T) {
	s := newHTTPServer(nil)
	for name, d := range map[string]int64{
		"ReadHeaderTimeout": int64(s.ReadHeaderTimeout), "ReadTimeout": int64(s.ReadTimeout),
		"WriteTimeout": int64(s.WriteTimeout), "IdleTimeout": int64(s.IdleTimeout),
	} {
		if d <= 0 {
			t.Errorf("%s is not set", name)
		}
	}
	if s.ReadHeaderTimeout > s.ReadTimeout {
		t.Errorf("ReadHeaderTimeout %s > ReadTimeout %s", s.ReadHeaderTimeout, s.ReadTimeout)
	}
}

func TestValidateTemporalTLS(t *testing.T) {
	c := Config{Roles: []string{"worker"}, TaskQueue: "q", TemporalAddress: "127.0.0.1:7233", DatabaseURL: "postgres://x"}
	c.TemporalTLS.Cert = "/nonexistent/client.crt"
	err := c.Validate()
	for _, want := range []string{"TEMPORAL_TLS_CLIENT_KEY_PATH: set TEMPORAL_TLS_CLIENT_CERT_PATH too", "TEMPORAL_TLS_CLIENT_CERT_PATH: stat /nonexistent/client.crt"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v, want it to name %q", err, want)
		}
	}
}

func TestValidateTemporalAPIKey(t *testing.T) {
	c := Config{Roles: []string{"worker"}, TaskQueue: "q", TemporalAddress: "127.0.0.1:7233", DatabaseURL: "postgres://x"}
	c.TemporalAPIKey.Value = "a key with spaces"
	c.TemporalAPIKey.File = "/nonexistent/key"
	err := c.Validate()
	for _, want := range []string{"TEMPORAL_API_KEY, TEMPORAL_API_KEY_FILE: set one of them", "TEMPORAL_API_KEY: the key holds a space", "TEMPORAL_API_KEY_FILE: open /nonexistent/key"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v, want it to name %q", err, want)
		}
	}
	if err != nil && strings.Contains(err.Error(), "with spaces") {
		t.Errorf("Validate shows the key: %v", err)
	}
}

func TestValidateNamespacesAndHealthAddr(t *testing.T) {
	base := Config{Roles: []string{"worker"}, TaskQueue: "q", TemporalAddress: "127.0.0.1:7233", DatabaseURL: "postgres://x"}
	tests := map[string]struct {
		namespaces []string
		health     string
		pprof      string
		wantErr    string
	}{
		"none":                {},
		"two namespaces":      {namespaces: []string{"redis-a", "redis-b"}, health: ":8081"},
		"bad namespace":       {namespaces: []string{"Redis_A"}, wantErr: `DAYOPS_NAMESPACES: "Redis_A" is not a namespace name`},
		"health without port": {health: "0.0.0.0", wantErr: `DAYOPS_HEALTH_ADDR: "0.0.0.0" must be HOST:PORT`},
		"pprof on loopback":   {pprof: "127.0.0.1:6060"},
		"pprof without port":  {pprof: "localhost", wantErr: `DAYOPS_PPROF_ADDR: "localhost" must be HOST:PORT`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := base
			c.Namespaces, c.HealthAddr, c.PprofAddr = tc.namespaces, tc.health, tc.pprof
			err := c.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestSplitNamespaces(t *testing.T) {
	t.Setenv("DAYOPS_NAMESPACES", " redis-a, ,redis-b ")
	if got := FromEnv().Namespaces; len(got) != 2 || got[0] != "redis-a" || got[1] != "redis-b" {
		t.Errorf("DAYOPS_NAMESPACES read as %q", got)
	}
}

func TestMigrationLimits(t *testing.T) {
	tests := map[string]struct {
		in      string
		off     bool
		budget  time.Duration
		wantErr bool
	}{
		"default":   {in: ""},
		"off":       {in: "off", off: true},
		"2ms":       {in: "2ms", budget: 2 * time.Millisecond},
		"too small": {in: "10us", wantErr: true},
		"too big":   {in: "5s", wantErr: true},
		"garbage":   {in: "fast", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			l, err := MigrationLimits(tc.in)
			if (err != nil) != tc.wantErr || l.LatencyBudgetOff != tc.off || l.LatencyBudget != tc.budget {
				t.Fatalf("MigrationLimits(%q) = %+v, %v", tc.in, l, err)
			}
		})
	}
	c := Config{Roles: []string{"worker"}, TaskQueue: "q", TemporalAddress: "127.0.0.1:7233", DatabaseURL: "postgres://x", MigrationLatencyBudget: "fast"}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), EnvMigrationLatencyBudget+`: "fast" must be`) {
		t.Fatalf("Validate = %v", err)
	}
}

// TestWorkerServesMetrics: a process without the api role (a worker, where
// the guardians run) serves its registry on its health address.
func TestWorkerServesMetrics(t *testing.T) {
	d := &Deps{Registry: prometheus.NewRegistry()}
	d.guardianMetrics = guardian.NewMetrics(d.Registry)
	rec := httptest.NewRecorder()
	d.healthHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "dayops_guardian_observations_total") {
		t.Fatalf("GET /metrics: %d\n%s", rec.Code, rec.Body.String())
	}
}

// The profiler's handler answers its index and a short CPU profile.
func TestPprofHandler(t *testing.T) {
	srv := httptest.NewServer(pprofHandler())
	defer srv.Close()
	for path, want := range map[string]string{"/debug/pprof/": "goroutine", "/debug/pprof/profile?seconds=1": ""} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || len(body) == 0 || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %s, %d bytes", path, resp.Status, len(body))
		}
	}
	if resp, err := http.Get(srv.URL + "/metrics"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("the profiler's listener serves /metrics: %s", resp.Status)
		}
	}
}
