package onnetwork

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/espprov/espprov/internal/mdns"
	"github.com/espprov/espprov/transports"
)

var errUnreachable = transports.ErrUnreachable

// Target says how to reach one device (CLI: --device-ip, --device-host,
// --device-port, --device_name). The first non-empty of IP, Host, Name wins,
// in that order.
type Target struct {
	// IP is an IPv4 or IPv6 literal (an IPv6 zone such as fe80::1%eth0 is
	// allowed).
	IP string
	// Host is a host name: "<x>.local" is resolved through mDNS, any other
	// name through the system resolver; a literal IP is accepted too.
	Host string
	// Port is the device port. 0 means: DefaultPort for IP, and for names
	// resolved by the system resolver; the discovered SRV port for devices
	// found through mDNS (Name, or Host ending in .local).
	Port int
	// Name selects a discovered device by instance name or node id.
	Name string
	// DiscoveryTimeout bounds mDNS lookups (default DefaultDiscoveryTimeout).
	DiscoveryTimeout time.Duration
}

// Resolve turns t into "host:port" for Open. IPv6 addresses are bracketed,
// IPv4 addresses and names never are (defect D4). Failures to find the device
// wrap transports.ErrUnreachable; an invalid IP literal is an error naming it.
func Resolve(ctx context.Context, t Target) (string, error) {
	addr, _, err := resolve(ctx, t)
	return addr, err
}

// ResolveFound is Resolve that also returns the discovery record when the
// device was found through mDNS (ok false for IP literals and system-resolved
// names, which carry no TXT data: PoP not required, security unknown).
func ResolveFound(ctx context.Context, t Target) (addr string, f Found, ok bool, err error) {
	addr, fp, err := resolve(ctx, t)
	if fp != nil {
		return addr, *fp, true, err
	}
	return addr, Found{}, false, err
}

func resolve(ctx context.Context, t Target) (string, *Found, error) {
	if t.Port < 0 || t.Port > 65535 {
		return "", nil, fmt.Errorf("onnetwork: invalid port %d", t.Port)
	}
	port := func(discovered int) int {
		if t.Port != 0 {
			return t.Port
		}
		if discovered != 0 {
			return discovered
		}
		return DefaultPort
	}
	dopts := DiscoverOptions{Timeout: t.DiscoveryTimeout}

	switch {
	case t.IP != "":
		ip, err := parseIP(t.IP)
		if err != nil {
			return "", nil, err
		}
		return join(ip, port(0)), nil, nil

	case t.Host != "":
		host := strings.TrimSuffix(strings.TrimSpace(t.Host), ".")
		if host == "" {
			return "", nil, fmt.Errorf("onnetwork: empty host name")
		}
		if ip, err := parseIP(host); err == nil {
			return join(ip, port(0)), nil, nil
		}
		if mdns.IsLocal(host) {
			return resolveLocal(ctx, host, dopts, port)
		}
		addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil || len(addrs) == 0 {
			return "", nil, fmt.Errorf("onnetwork: resolve host %q: %v: %w", host, err, errUnreachable)
		}
		best := addrs[0]
		for _, a := range addrs {
			if a.Unmap().Is4() {
				best = a
				break
			}
		}
		return join(best.Unmap(), port(0)), nil, nil

	case t.Name != "":
		f, err := FindByName(ctx, t.Name, dopts)
		if err != nil {
			return "", nil, err
		}
		f.Port = port(f.Port)
		if f.Addr() == "" {
			return "", nil, fmt.Errorf("onnetwork: device %q has no address: %w", t.Name, errUnreachable)
		}
		return f.Addr(), &f, nil
	}
	return "", nil, fmt.Errorf("onnetwork: no device IP, host or name given")
}

// browseGrace is how long a ".local" resolution that already has the host's
// addresses keeps waiting for the service browse (which carries the SRV port
// and the TXT security hints): responders answer browses after 20-120 ms.
const browseGrace = 300 * time.Millisecond

// resolveLocal resolves "<x>.local" two ways at once: a one-shot A/AAAA
// query for the host name (any responder: the device's, avahi, ...) and a
// browse of the challenge-response service whose host or instance is <x>
// (which also gives the port and TXT record). The browse's answer is
// preferred when it comes within browseGrace of the address answer.
func resolveLocal(ctx context.Context, host string, dopts DiscoverOptions, port func(int) int) (string, *Found, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	label := host[:len(host)-len(".local")]
	type browsed struct {
		f   Found
		err error
	}
	bch := make(chan browsed, 1)
	go func() {
		f, err := findFirst(ctx, dopts, fmt.Sprintf("host %q", host), func(f Found) bool {
			return strings.EqualFold(f.Host, label) || f.matches(label)
		})
		bch <- browsed{f, err}
	}()
	type looked struct {
		addrs []netip.Addr
		err   error
	}
	lch := make(chan looked, 1)
	go func() {
		addrs, err := mdns.LookupHost(ctx, host, mdns.Options{Timeout: dopts.timeout()})
		lch <- looked{addrs, err}
	}()
	fromBrowse := func(b browsed) (string, *Found, error) {
		f := b.f
		f.Port = port(f.Port)
		return f.Addr(), &f, nil
	}
	var l looked
	select {
	case b := <-bch:
		if b.err == nil {
			return fromBrowse(b)
		}
		l = <-lch
	case l = <-lch:
		if l.err == nil {
			grace := time.NewTimer(browseGrace)
			defer grace.Stop()
			select {
			case b := <-bch:
				if b.err == nil {
					return fromBrowse(b)
				}
			case <-grace.C:
			}
		} else if b := <-bch; b.err == nil {
			return fromBrowse(b)
		}
	}
	if l.err != nil {
		return "", nil, fmt.Errorf("onnetwork: %w (nor did a browse for %s find it)", l.err, ServiceType)
	}
	return join(l.addrs[0], port(0)), nil, nil
}

// parseIP accepts IPv4 and IPv6 literals (IPv6 optionally bracketed and with
// a zone).
func parseIP(s string) (netip.Addr, error) {
	in := strings.TrimSpace(s)
	in = strings.TrimSuffix(strings.TrimPrefix(in, "["), "]")
	ip, err := netip.ParseAddr(in)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("onnetwork: invalid IP address %q", s)
	}
	return ip.Unmap(), nil
}

func join(ip netip.Addr, port int) string {
	return net.JoinHostPort(ip.String(), strconv.Itoa(port))
}
