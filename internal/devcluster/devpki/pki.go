// Package devpki is the local stack's PKI under STATE/pki: the cluster CA,
// the service-account key, the apiserver's and Temporal's serving
// certificates and a client certificate per identity.
package devpki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/dayops/dayops/internal/atomicfile"
)

// The PKI under STATE/pki. Every key is ECDSA P-256 in PKCS#8 PEM
// ("PRIVATE KEY"); every certificate is signed by ca.crt. Files are made
// once and reused by later `up`s, so kubeconfigs stay valid across restarts.
const (
	CACert            = "ca.crt"
	CAKey             = "ca.key"
	SAKey             = "sa.key" // service-account token signing key
	SAPub             = "sa.pub"
	APIServerCert     = "apiserver.crt"
	APIServerKey      = "apiserver.key"
	KubeletClientCert = "apiserver-kubelet-client.crt"
	KubeletClientKey  = "apiserver-kubelet-client.key"
)

// Identity is a client certificate the stack issues: one per
// kubeconfig.
type Identity struct {
	File   string // base name of .crt/.key in the PKI dir
	CN     string
	Groups []string
}

var (
	// AdminID is for humans and tests (.dayops/kubeconfig).
	AdminID = Identity{File: "admin", CN: "dayops-admin", Groups: []string{"system:masters"}}
	// AgentID is the node agent's: system:masters is acceptable for a local
	// dev stack (it creates Nodes, Leases, PVs and pod status for many nodes).
	AgentID = Identity{File: "agent", CN: "dayops-node-agent", Groups: []string{"system:masters"}}
	// ControllerManagerID and SchedulerID are the identities the
	// bootstrap RBAC policy grants their roles to.
	ControllerManagerID = Identity{File: "controller-manager", CN: "system:kube-controller-manager"}
	SchedulerID         = Identity{File: "scheduler", CN: "system:kube-scheduler"}
	KubeletClientID     = Identity{File: "apiserver-kubelet-client", CN: "kube-apiserver-kubelet-client", Groups: []string{"system:masters"}}
	// FrontProxyID is the apiserver's client certificate towards
	// aggregated API servers; its CA also fills the requestheader bundle
	// that the controller-manager and scheduler read.
	FrontProxyID = Identity{File: "front-proxy-client", CN: "front-proxy-client"}
)

// Ensure creates whatever part of the PKI is missing. serviceIP is the
// first address of the Service range (the `kubernetes` Service).
func Ensure(dir string, serviceIP netip.Addr) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create pki dir: %w", err)
	}
	ca, err := ensureCA(dir)
	if err != nil {
		return err
	}
	if err := ensureSAKey(dir); err != nil {
		return err
	}
	for _, s := range servingCerts(serviceIP) {
		if err := ca.issueMissing(dir, s.name, s.tmpl); err != nil {
			return err
		}
	}
	for _, id := range []Identity{AdminID, AgentID, ControllerManagerID, SchedulerID, KubeletClientID, FrontProxyID,
		TemporalClientID, TemporalSystemWorkerID} {
		tmpl := &x509.Certificate{
			Subject:     pkix.Name{CommonName: id.CN, Organization: id.Groups},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}
		if err := ca.issueMissing(dir, id.File, tmpl); err != nil {
			return err
		}
	}
	return nil
}

// ensureSAKey makes the service-account token signing key pair.
func ensureSAKey(dir string) error {
	if exists(filepath.Join(dir, SAKey)) && exists(filepath.Join(dir, SAPub)) {
		return nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generate service-account key: %w", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return fmt.Errorf("marshal service-account public key: %w", err)
	}
	if err := writeKey(filepath.Join(dir, SAKey), key); err != nil {
		return err
	}
	return writePEM(filepath.Join(dir, SAPub), "PUBLIC KEY", pub, 0o644)
}

// servingCert is a serving certificate <name>.crt/.key of the stack.
type servingCert struct {
	name string
	tmpl *x509.Certificate
}

// servingCerts are the stack's serving certificates: the API server's; the
// controller-manager's and scheduler's (they serve /healthz over TLS, from
// the cluster CA so that `status` can verify them); the Temporal server
// mode's frontend (made in dev mode too, where nothing uses it); and the
// server mode's internode certificate: the history and matching services
// serve with it and every service presents it as its client certificate to
// them (Temporal uses global.tls.internode's server certificate both ways),
// hence both key usages.
func servingCerts(serviceIP netip.Addr) []servingCert {
	loopback := []net.IP{net.IPv4(127, 0, 0, 1)}
	serving := func(cn string, dns ...string) *x509.Certificate {
		return &x509.Certificate{Subject: pkix.Name{CommonName: cn}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			DNSNames: dns, IPAddresses: loopback}
	}
	api := serving("kube-apiserver", "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
		"kubernetes.default.svc.cluster.local")
	api.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IP(serviceIP.AsSlice())}
	internode := serving("temporal-internode", TemporalServerName)
	internode.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	return []servingCert{
		{"apiserver", api},
		{"controller-manager-serving", serving("controller-manager-serving", "localhost")},
		{"scheduler-serving", serving("scheduler-serving", "localhost")},
		{TemporalFrontendFile, serving("temporal-frontend", TemporalServerName)},
		{TemporalInternodeFile, internode},
	}
}

// issueMissing issues <name>.crt/.key from tmpl unless both exist.
func (a *authority) issueMissing(dir, name string, tmpl *x509.Certificate) error {
	if exists(filepath.Join(dir, name+".crt")) && exists(filepath.Join(dir, name+".key")) {
		return nil
	}
	return a.issue(dir, name, tmpl)
}

type authority struct {
	cert *x509.Certificate
	key  crypto.Signer
}

// LoadCA reads the cluster CA (ca.crt and ca.key) from the PKI directory dir.
// The node agent signs its kubelet serving certificates with it.
func LoadCA(dir string) (*x509.Certificate, crypto.Signer, error) {
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, CACert), filepath.Join(dir, CAKey))
	if err != nil {
		return nil, nil, fmt.Errorf("load cluster CA: %w", err)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, nil, fmt.Errorf("parse cluster CA: %w", err)
	}
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, nil, errors.New("cluster CA key cannot sign")
	}
	return cert, signer, nil
}

func ensureCA(dir string) (*authority, error) {
	certPath, keyPath := filepath.Join(dir, CACert), filepath.Join(dir, CAKey)
	if exists(certPath) && exists(keyPath) {
		cert, signer, err := LoadCA(dir)
		if err != nil {
			return nil, err
		}
		return &authority{cert: cert, key: signer}, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "dayops-dev-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("self-sign CA: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse CA: %w", err)
	}
	// Any previously issued certificate belongs to another CA: drop it.
	if err := removeIssued(dir); err != nil {
		return nil, err
	}
	if err := writeKey(keyPath, key); err != nil {
		return nil, err
	}
	if err := writePEM(certPath, "CERTIFICATE", der, 0o644); err != nil {
		return nil, err
	}
	return &authority{cert: cert, key: key}, nil
}

// issue signs tmpl with a fresh key and writes NAME.crt and NAME.key.
func (a *authority) issue(dir, name string, tmpl *x509.Certificate) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generate key for %s: %w", name, err)
	}
	serial, err := newSerial()
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl.SerialNumber = serial
	tmpl.NotBefore = now.Add(-time.Hour)
	tmpl.NotAfter = now.Add(5 * 365 * 24 * time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, &key.PublicKey, a.key)
	if err != nil {
		return fmt.Errorf("sign certificate for %s: %w", name, err)
	}
	if err := writeKey(filepath.Join(dir, name+".key"), key); err != nil {
		return err
	}
	return writePEM(filepath.Join(dir, name+".crt"), "CERTIFICATE", der, 0o644)
}

func removeIssued(dir string) error {
	matches, err := filepath.Glob(filepath.Join(dir, "*.crt"))
	if err != nil {
		return fmt.Errorf("list issued certificates: %w", err)
	}
	for _, m := range matches {
		if err := os.Remove(m); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove stale certificate: %w", err)
		}
	}
	return nil
}

func newSerial() (*big.Int, error) {
	s, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, fmt.Errorf("certificate serial: %w", err)
	}
	return s, nil
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("marshal key %s: %w", filepath.Base(path), err)
	}
	return writePEM(path, "PRIVATE KEY", der, 0o600)
}

// writePEM writes atomically (temp file + rename) so that a killed `up`
// never leaves half a key behind.
func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	return atomicfile.Write(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// The Temporal server mode's TLS files, signed by ca.crt: the frontend's
// serving certificate, dayops' client certificate (recorded in dev.env), the
// system worker's client certificate (the worker service is a client of the
// frontend too), and the internode certificate that the four services
// present to one another.
var (
	TemporalFrontendFile   = "temporal-frontend"
	TemporalInternodeFile  = "temporal-internode"
	TemporalClientID       = Identity{File: "temporal-client", CN: "dayops"}
	TemporalSystemWorkerID = Identity{File: "temporal-system-worker", CN: "temporal-system-worker"}
	TemporalServerName     = "localhost"
)
