package hooks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// An HTTP hook is a URL a user wrote, fetched by the worker, which sits
// inside the cluster network with a service account. Left alone it reaches
// the cloud metadata endpoint (credentials), the worker's own loopback
// services and the Kubernetes API server. The Guard refuses those at connect
// time, in the dialer's Control function, after DNS: a name that resolves to
// 169.254.169.254, or re-resolves between a check and the connection, is
// refused all the same. An operator may name addresses that are fine
// (DAYOPS_HOOK_ALLOW), e.g. 127.0.0.1 for a local sidecar.

// metadataAddrs are cloud metadata endpoints outside link-local ranges.
var metadataAddrs = []netip.Addr{
	netip.MustParseAddr("fd00:ec2::254"),   // AWS IMDS over IPv6
	netip.MustParseAddr("100.100.100.200"), // Alibaba Cloud metadata
}

// Guard decides which addresses HTTP hooks may connect to. The zero Guard
// refuses loopback, link-local and metadata addresses and allows the rest.
type Guard struct {
	// Allow are the prefixes hooks may reach even when they are loopback,
	// link-local or metadata addresses.
	Allow []netip.Prefix
	// AllowEndpoints are exact address:port pairs hooks may reach; the only
	// way to allow a Kubernetes API server endpoint.
	AllowEndpoints []netip.AddrPort
	// APIServer are the Kubernetes API server's endpoints; hooks never reach
	// them unless AllowEndpoints names them.
	APIServer []netip.AddrPort
}

// ErrRefusedAddress marks a connection the Guard refused.
var ErrRefusedAddress = errors.New("address refused for hooks")

// ParseAllow reads an allowlist: comma-separated IP addresses, CIDR
// prefixes and address:port endpoints ("127.0.0.1,10.0.0.0/8,[::1]:8443").
func ParseAllow(s string) (prefixes []netip.Prefix, endpoints []netip.AddrPort, err error) {
	var errs []error
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			prefixes = append(prefixes, p.Masked())
		} else if a, err := netip.ParseAddr(f); err == nil {
			a = a.Unmap()
			prefixes = append(prefixes, netip.PrefixFrom(a, a.BitLen()))
		} else if ap, err := netip.ParseAddrPort(f); err == nil {
			endpoints = append(endpoints, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
		} else {
			errs = append(errs, fmt.Errorf("%q is not an IP address, CIDR prefix or address:port", f))
		}
	}
	return prefixes, endpoints, errors.Join(errs...)
}

// APIServerEndpoints resolves the API server URL's host (as the worker's
// Kubernetes client sees it) to the endpoints hooks must not reach.
func APIServerEndpoints(ctx context.Context, host string) ([]netip.AddrPort, error) {
	if host == "" {
		return nil, nil
	}
	if !strings.Contains(host, "://") {
		host = "https://" + host
	}
	u, err := url.Parse(host)
	if err != nil {
		return nil, fmt.Errorf("API server URL %q: %w", host, err)
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80"}[u.Scheme]
		if port == "" {
			port = "443"
		}
	}
	pn, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("API server URL %q: port: %w", host, err)
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", u.Hostname())
	if err != nil {
		return nil, fmt.Errorf("resolve API server %s: %w", u.Hostname(), err)
	}
	out := make([]netip.AddrPort, 0, len(addrs))
	for _, a := range addrs {
		out = append(out, netip.AddrPortFrom(a.Unmap(), uint16(pn)))
	}
	return out, nil
}

// Check says whether a hook may connect to ap, and why not.
func (g *Guard) Check(ap netip.AddrPort) error {
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	a := ap.Addr()
	if slices.Contains(g.AllowEndpoints, ap) {
		return nil
	}
	if slices.Contains(g.APIServer, ap) {
		return fmt.Errorf("%w: %s is the Kubernetes API server (allow it by address:port in DAYOPS_HOOK_ALLOW)", ErrRefusedAddress, ap)
	}
	for _, p := range g.Allow {
		if p.Contains(a) {
			return nil
		}
	}
	var why string
	switch {
	case a.IsLoopback():
		why = "a loopback address"
	case a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast():
		why = "a link-local address (cloud metadata lives there)"
	case slices.Contains(metadataAddrs, a):
		why = "a cloud metadata address"
	case a.IsUnspecified():
		why = "the unspecified address (it reaches this host)"
	case a.IsMulticast() || a.IsInterfaceLocalMulticast():
		why = "a multicast address"
	default:
		return nil
	}
	return fmt.Errorf("%w: %s is %s (allow it in DAYOPS_HOOK_ALLOW)", ErrRefusedAddress, ap, why)
}

// Control is a net.Dialer Control function: it runs for every connection
// attempt with the resolved address, before the connection is made.
func (g *Guard) Control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot parse %s address %q", ErrRefusedAddress, network, address)
	}
	return g.Check(ap)
}

// Client returns the HTTP client hooks use: every connection checked by the
// Guard, no proxy (a proxy would connect on the hook's behalf, unchecked), and
// no redirects followed (a 3xx is the hook's answer, and not a success).
func (g *Guard) Client() *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: g.Control}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           d.DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          32,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ExpectContinueTimeout: time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
