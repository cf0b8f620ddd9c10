package devcluster

import (
	"crypto/x509"
	"encoding/pem"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dayops/dayops/internal/devcluster/devpki"
	"github.com/dayops/dayops/internal/devcluster/devproc"
	"github.com/dayops/dayops/internal/httpapi"
	"github.com/google/go-cmp/cmp"
)

func TestValidate(t *testing.T) {
	tests := map[string]struct {
		change func(*Config)
		want   []string // substrings of the error, in order; none: valid
	}{
		"defaults": {change: func(*Config) {}},
		"every problem at once": {
			change: func(c *Config) {
				c.StateDir = ""
				c.APIServerPort = 0
				c.Zones = 0
				c.DatabaseURL = "postgres://127.0.0.1:5432"
				c.APIURL = "nohost"
			},
			want: []string{"state dir is required", "apiserver port 0 out of range", "zones must be 1..26", "database URL", "API URL"},
		},
		"duplicate ports": {
			change: func(c *Config) { c.SchedulerPort = c.APIServerPort },
			want:   []string{"apiserver port and scheduler port are both 6443"},
		},
		"unknown temporal mode": {
			change: func(c *Config) { c.Temporal = "cloud" },
			want:   []string{`temporal mode "cloud": want "dev" or "server"`},
		},
		"server mode: the derived ports clash": {
			change: func(c *Config) { c.Temporal, c.EtcdPort = TemporalServer, c.TemporalPort+2 },
			want:   []string{"etcd port and temporal matching port (temporal port+2) are both 7235"},
		},
		"server mode: the UI port is free to reuse": {
			change: func(c *Config) { c.Temporal, c.TemporalUIPort = TemporalServer, c.TemporalPort+1 },
		},
		"too many nodes": {
			change: func(c *Config) { c.Zones, c.NodesPerZone = 26, 10 },
			want:   []string{"zones x nodes at most 254"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := DefaultConfig("/repo")
			tc.change(&c)
			err := c.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate: nil, want %q", tc.want)
			}
			rest := err.Error()
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("Validate error %q lacks %q (in order)", err, w)
				}
				rest = rest[i+len(w):]
			}
		})
	}
}

func TestEnvFileRoundTrip(t *testing.T) {
	c := DefaultConfig("/repo")
	c.StateDir = t.TempDir()
	c.DatabaseURL = "postgres://postgres@127.0.0.1:5432/it's?sslmode=disable&x=1"
	if err := writeEnvFile(c); err != nil {
		t.Fatal(err)
	}
	got, err := ReadEnvFile(c.EnvPath())
	if err != nil {
		t.Fatal(err)
	}
	tok, err := APITokens(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(tok.Operator) < 32 || len(tok.Auditor) < 32 || tok.Operator == tok.Auditor {
		t.Errorf("API tokens = %+v", tok)
	}
	again, err := APITokens(c)
	if err != nil || again != tok {
		t.Errorf("API tokens must be kept across calls: %+v then %+v (%v)", tok, again, err)
	}
	want := map[string]string{
		EnvToken:           tok.Operator,
		EnvAuditorToken:    tok.Auditor,
		EnvKubeconfig:      filepath.Join(c.StateDir, "kubeconfig"),
		EnvTemporalAddress: "127.0.0.1:7233",
		EnvTemporalUI:      "http://127.0.0.1:8233",
		EnvDatabaseURL:     c.DatabaseURL,
		EnvAPI:             "http://127.0.0.1:8080",
		EnvStateDir:        c.StateDir,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("dev.env (-want +got):\n%s", diff)
	}
	// dev.env holds the operator token: owner-only, also when it replaces
	// a file an older version wrote world-readable.
	if err := os.Chmod(c.EnvPath(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeEnvFile(c); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(c.EnvPath()); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("dev.env mode = %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	// The generated tokens pass the server's placeholder check.
	if _, err := httpapi.ParseTokens(tok.APITokensSpec()); err != nil {
		t.Errorf("generated tokens refused: %v", err)
	}
}

func TestServerModeEnvFile(t *testing.T) {
	c := DefaultConfig("/repo")
	c.StateDir = t.TempDir()
	c.Temporal = TemporalServer
	c.TemporalPort = 7343
	c.DatabaseURL = "postgres://postgres@127.0.0.1:5432/dayops_ts?sslmode=disable"
	if err := writeEnvFile(c); err != nil {
		t.Fatal(err)
	}
	got, err := ReadEnvFile(c.EnvPath())
	if err != nil {
		t.Fatal(err)
	}
	pki := filepath.Join(c.StateDir, "pki")
	for k, want := range map[string]string{
		EnvTemporalAddress:                 "127.0.0.1:7343",
		"TEMPORAL_TLS_CLIENT_CERT_PATH":    filepath.Join(pki, "temporal-client.crt"),
		"TEMPORAL_TLS_CLIENT_KEY_PATH":     filepath.Join(pki, "temporal-client.key"),
		"TEMPORAL_TLS_SERVER_CA_CERT_PATH": filepath.Join(pki, "ca.crt"),
		"TEMPORAL_TLS_SERVER_NAME":         "localhost",
	} {
		if got[k] != want {
			t.Errorf("dev.env %s = %q, want %q", k, got[k], want)
		}
	}
	if ui, ok := got[EnvTemporalUI]; ok {
		t.Errorf("dev.env has %s=%q in server mode, which runs no Web UI", EnvTemporalUI, ui)
	}
	mainDB, visDB := c.TemporalDatabases()
	if diff := cmp.Diff([]string{"dayops_ts_temporal", "dayops_ts_temporal_visibility"}, []string{mainDB, visDB}); diff != "" {
		t.Errorf("Temporal databases (-want +got):\n%s", diff)
	}
}

func TestFindRoot(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "checkout")
	deep := filepath.Join(root, "tools", "kube", "sub")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(path, text string) {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(root, "go.mod"), "module "+ModulePath+"\n\ngo 1.26.0\n")
	// A nested module (a tools module) is not the root.
	write(filepath.Join(root, "tools", "kube", "go.mod"), "module "+ModulePath+"/tools/kube\n")
	tests := map[string]struct{ from, want string }{
		"from the root":        {root, root},
		"from a nested module": {deep, root},
		"outside a checkout":   {dir, dir},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := FindRoot(tc.from); got != tc.want {
				t.Errorf("FindRoot(%s) = %s, want %s", tc.from, got, tc.want)
			}
		})
	}
}

func TestPKI(t *testing.T) {
	dir := t.TempDir()
	svcIP := netip.MustParseAddr("10.96.0.1")
	if err := devpki.Ensure(dir, svcIP); err != nil {
		t.Fatal(err)
	}
	ca := readCert(t, filepath.Join(dir, devpki.CACert))
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	type ident struct {
		CN     string
		O      []string
		IPs    []string
		Server bool
	}
	tests := map[string]ident{
		"apiserver":                  {CN: "kube-apiserver", IPs: []string{"127.0.0.1", "10.96.0.1"}, Server: true},
		"apiserver-kubelet-client":   {CN: "kube-apiserver-kubelet-client", O: []string{"system:masters"}},
		"admin":                      {CN: "dayops-admin", O: []string{"system:masters"}},
		"agent":                      {CN: "dayops-node-agent", O: []string{"system:masters"}},
		"controller-manager":         {CN: "system:kube-controller-manager"},
		"scheduler":                  {CN: "system:kube-scheduler"},
		"front-proxy-client":         {CN: "front-proxy-client"},
		"controller-manager-serving": {CN: "controller-manager-serving", IPs: []string{"127.0.0.1"}, Server: true},
		"scheduler-serving":          {CN: "scheduler-serving", IPs: []string{"127.0.0.1"}, Server: true},
		"temporal-frontend":          {CN: "temporal-frontend", IPs: []string{"127.0.0.1"}, Server: true},
		"temporal-client":            {CN: "dayops"},
		"temporal-system-worker":     {CN: "temporal-system-worker"},
		"temporal-internode":         {CN: "temporal-internode", IPs: []string{"127.0.0.1"}, Server: true},
	}
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			c := readCert(t, filepath.Join(dir, name+".crt"))
			usage := x509.ExtKeyUsageClientAuth
			if want.Server {
				usage = x509.ExtKeyUsageServerAuth
			}
			if _, err := c.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{usage}, CurrentTime: time.Now()}); err != nil {
				t.Fatalf("verify against the CA: %v", err)
			}
			got := ident{CN: c.Subject.CommonName, O: c.Subject.Organization, Server: want.Server}
			for _, ip := range c.IPAddresses {
				got.IPs = append(got.IPs, ip.String())
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("certificate (-want +got):\n%s", diff)
			}
			if _, err := os.Stat(filepath.Join(dir, name+".key")); err != nil {
				t.Errorf("key: %v", err)
			}
		})
	}

	// Temporal's services present the internode serving certificate as their
	// client certificate to one another too.
	internode := readCert(t, filepath.Join(dir, devpki.TemporalInternodeFile+".crt"))
	if _, err := internode.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("internode certificate as a client certificate: %v", err)
	}

	// A second run reuses everything (kubeconfigs stay valid).
	before, err := os.ReadFile(filepath.Join(dir, "admin.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := devpki.Ensure(dir, svcIP); err != nil {
		t.Fatal(err)
	}
	after, err := os.ReadFile(filepath.Join(dir, "admin.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if string(before) != string(after) {
		t.Error("second devpki.Ensure reissued admin.crt")
	}
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestProcRecordAlive(t *testing.T) {
	_, ticks, err := devproc.Stat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		rec  devproc.Record
		want bool
	}{
		"this process":               {devproc.Record{PID: os.Getpid(), StartTicks: ticks}, true},
		"same pid, other start time": {devproc.Record{PID: os.Getpid(), StartTicks: ticks + 1}, false},
		"no pid":                     {devproc.Record{}, false},
		"pid of nothing":             {devproc.Record{PID: 1 << 30}, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if got := tc.rec.Alive(); got != tc.want {
				t.Errorf("alive() = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestAgentCommand pins how the stack starts the node agent: from the
// development binary (the product binary has no `dev agent`), handing it the
// product binary for Pods of the dayops image.
func TestAgentCommand(t *testing.T) {
	tests := map[string]struct {
		change func(*Config)
		want   []string // the first five arguments
	}{
		"defaults under BinDir": {
			change: func(*Config) {},
			want:   []string{"/r/bin/dayops-dev", "dev", "agent", "--dayops-binary", "/r/bin/dayops"},
		},
		"explicit binaries": {
			change: func(c *Config) { c.DevBin, c.DayopsBin = "/x/dayops-dev", "/y/dayops" },
			want:   []string{"/x/dayops-dev", "dev", "agent", "--dayops-binary", "/y/dayops"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := DefaultConfig("/r")
			tc.change(&c)
			args := components()[Agent].args(c.WithDefaults())
			if diff := cmp.Diff(tc.want, args[:len(tc.want)]); diff != "" {
				t.Errorf("agent command (-want +got):\n%s", diff)
			}
		})
	}
}

// TestKubeClientComponents: the controller-manager and the scheduler need
// the API server, are stopped by process group, and are started with these
// exact flags and probed on their /healthz port.
func TestKubeClientComponents(t *testing.T) {
	c := DefaultConfig("/r").WithDefaults()
	c.ControllerManagerPort, c.SchedulerPort = 10257, 10259
	pki := func(f string) string { return filepath.Join(c.PKIDir(), f) }
	client := func(sub string, id devpki.Identity, port string) []string {
		kc := c.KubeconfigFor(id)
		return []string{"/r/bin/kube", sub, "--kubeconfig", kc, "--authentication-kubeconfig", kc, "--authorization-kubeconfig", kc,
			"--leader-elect=false", "--bind-address", "127.0.0.1", "--secure-port", port,
			"--tls-cert-file", pki(sub + "-serving.crt"), "--tls-private-key-file", pki(sub + "-serving.key")}
	}
	tests := map[string]struct {
		port int
		args []string
		url  string
	}{
		ControllerManager: {
			port: 10257,
			args: append(client("controller-manager", devpki.ControllerManagerID, "10257"),
				"--controllers", "*,-nodeipam,-nodelifecycle,-cloud-node-lifecycle,-service-lb-controller,-route",
				"--use-service-account-credentials=true",
				"--service-account-private-key-file", pki(devpki.SAKey),
				"--root-ca-file", pki(devpki.CACert),
				"--cluster-signing-cert-file", pki(devpki.CACert),
				"--cluster-signing-key-file", pki(devpki.CAKey),
				"--profiling=false"),
			url: "https://127.0.0.1:10257/healthz",
		},
		Scheduler: {
			port: 10259,
			args: append(client("scheduler", devpki.SchedulerID, "10259"), "--profiling=false"),
			url:  "https://127.0.0.1:10259/healthz",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			comp := components()[name]
			if comp.name != name || !comp.group || comp.probe == nil {
				t.Errorf("name %q, group %v, probe set %v", comp.name, comp.group, comp.probe != nil)
			}
			if diff := cmp.Diff([]string{APIServer}, comp.needs); diff != "" {
				t.Errorf("needs (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]int{tc.port}, comp.ports(c)); diff != "" {
				t.Errorf("ports (-want +got):\n%s", diff)
			}
			if got := comp.url(c); got != tc.url {
				t.Errorf("url %q, want %q", got, tc.url)
			}
			if diff := cmp.Diff(tc.args, comp.args(c)); diff != "" {
				t.Errorf("command (-want +got):\n%s", diff)
			}
		})
	}
}
