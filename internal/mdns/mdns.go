// Package mdns resolves ".local" host names with one-shot multicast DNS
// queries (RFC 6762 §5.1), so that device names such as "<node_id>.local"
// work on machines whose system resolver has no nss-mdns (factory PCs,
// containers, CI).
//
// A one-shot query is an ordinary DNS question (A and AAAA) sent from an
// ephemeral port to 224.0.0.251:5353 and [ff02::fb%iface]:5353 on every
// multicast interface that is up; responders answer it by unicast to that
// port (RFC 6762 §6.7, "legacy unicast"), which avahi, mDNSResponder,
// ESP-IDF's mdns component and brutella/dnssd all do. The querier retries
// with growing gaps until an answer arrives or the time is up. IPv6
// link-local answers carry the interface they came from as their zone
// (fe80::1%eth0), so they can be dialled.
//
// Names that do not end in ".local" are left to the system resolver
// (LookupHost does that too, so callers can pass any host name).
package mdns

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/espprov/espprov/transports"
)

// DefaultTimeout bounds a lookup whose context has no earlier deadline.
const DefaultTimeout = 3 * time.Second

// answerGrace is how long a lookup keeps listening after the first answer,
// for the other family and other interfaces.
const answerGrace = 30 * time.Millisecond

var (
	mdnsV4 = netip.MustParseAddrPort("224.0.0.251:5353")
	mdnsV6 = netip.MustParseAddr("ff02::fb")
)

// IsLocal reports whether host is a multicast DNS name (ends in ".local",
// with or without the final dot, any case).
func IsLocal(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	return strings.HasSuffix(h, ".local") && len(h) > len(".local")
}

// Options tunes a lookup. The zero value is usable.
type Options struct {
	// Timeout bounds the lookup (DefaultTimeout when zero); the context's
	// deadline applies when it is earlier.
	Timeout time.Duration
	// Interfaces limits the query to these interface names (default: every
	// interface that is up and can multicast, loopback included).
	Interfaces []string
}

// NotFoundError says which name went unanswered, on which interfaces, and
// for how long. It wraps transports.ErrUnreachable.
type NotFoundError struct {
	Name       string
	Interfaces []string
	Waited     time.Duration
	// Err is set when the context ended the lookup early (cancellation).
	Err error
}

func (e *NotFoundError) Error() string {
	ifs := strings.Join(e.Interfaces, ", ")
	if ifs == "" {
		ifs = "none (no interface is up with multicast)"
	}
	msg := fmt.Sprintf("mdns: no answer for %q (A/AAAA one-shot query) on interfaces %s after %s", e.Name, ifs, e.Waited.Round(time.Millisecond))
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap implements errors.Unwrap.
func (e *NotFoundError) Unwrap() []error {
	if e.Err != nil {
		return []error{transports.ErrUnreachable, e.Err}
	}
	return []error{transports.ErrUnreachable}
}

// LookupHost returns the addresses of host: ".local" names through one-shot
// multicast DNS queries, other names through the system resolver, IP
// literals as they are. IPv4 addresses come first; IPv6 link-local addresses
// carry their interface as the zone.
func LookupHost(ctx context.Context, host string, opts Options) ([]netip.Addr, error) {
	h := strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if ip, err := netip.ParseAddr(h); err == nil {
		return []netip.Addr{ip}, nil
	}
	if !IsLocal(h) {
		addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", h)
		if err != nil {
			return nil, fmt.Errorf("resolving %q: %w: %w", h, transports.ErrUnreachable, err)
		}
		return sortAddrs(addrs), nil
	}
	return query(ctx, dns.Fqdn(h), opts)
}

// Resolver is LookupHost with fixed options, in the shape of
// provisioning.HostResolver.
func Resolver(opts Options) func(ctx context.Context, host string) ([]netip.Addr, error) {
	return func(ctx context.Context, host string) ([]netip.Addr, error) { return LookupHost(ctx, host, opts) }
}

// DialContext dials like net.Dialer.DialContext, resolving a ".local" host
// in address through multicast DNS first (the first address that accepts
// the connection wins, IPv4 first).
func DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	var d net.Dialer
	host, port, err := net.SplitHostPort(address)
	if err != nil || !IsLocal(host) {
		return d.DialContext(ctx, network, address)
	}
	addrs, err := LookupHost(ctx, host, Options{})
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, a := range addrs {
		c, err := d.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("dial %s (%s resolved by mDNS to %v): %w", address, host, addrs, errors.Join(errs...))
}

func sortAddrs(addrs []netip.Addr) []netip.Addr {
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		a = a.Unmap()
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	slices.SortStableFunc(out, func(a, b netip.Addr) int {
		switch {
		case a.Is4() && !b.Is4():
			return -1
		case !a.Is4() && b.Is4():
			return 1
		}
		return 0
	})
	return out
}

// interfaces returns the interfaces to query.
func interfaces(names []string) ([]net.Interface, error) {
	all, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	var out []net.Interface
	for _, ifi := range all {
		if len(names) > 0 && !slices.Contains(names, ifi.Name) {
			continue
		}
		if ifi.Flags&net.FlagUp == 0 || ifi.Flags&net.FlagMulticast == 0 {
			continue
		}
		out = append(out, ifi)
	}
	return out, nil
}

// socket is one query socket: a family on one interface.
type socket struct {
	iface net.Interface
	conn  *net.UDPConn
	dst   *net.UDPAddr
}

// openSockets opens one IPv4 and one IPv6 query socket per interface,
// bound to an address of that interface: a multicast sent from an unbound
// socket can leave with source 0.0.0.0, which responders (avahi) drop.
func openSockets(ifs []net.Interface) []*socket {
	var out []*socket
	for _, ifi := range ifs {
		v4, v6 := ifaceAddrs(ifi)
		if v4.IsValid() {
			if c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(v4, 0))); err == nil {
				pc := ipv4.NewPacketConn(c)
				if pc.SetMulticastInterface(&ifi) == nil {
					_ = pc.SetMulticastTTL(255)
					out = append(out, &socket{iface: ifi, conn: c, dst: net.UDPAddrFromAddrPort(mdnsV4)})
				} else {
					c.Close()
				}
			}
		}
		laddr := &net.UDPAddr{}
		if v6.IsValid() {
			laddr = net.UDPAddrFromAddrPort(netip.AddrPortFrom(v6, 0))
		}
		if c, err := net.ListenUDP("udp6", laddr); err == nil {
			pc := ipv6.NewPacketConn(c)
			if pc.SetMulticastInterface(&ifi) == nil {
				_ = pc.SetMulticastHopLimit(255)
				out = append(out, &socket{iface: ifi, conn: c, dst: &net.UDPAddr{IP: mdnsV6.AsSlice(), Port: 5353, Zone: ifi.Name}})
			} else {
				c.Close()
			}
		}
	}
	return out
}

// ifaceAddrs returns an IPv4 address of ifi and its IPv6 link-local
// address (with zone), each invalid when there is none.
func ifaceAddrs(ifi net.Interface) (v4, v6 netip.Addr) {
	addrs, err := ifi.Addrs()
	if err != nil {
		return
	}
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(ipn.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		switch {
		case ip.Is4() && !v4.IsValid():
			v4 = ip
		case ip.Is6() && ip.IsLinkLocalUnicast() && !v6.IsValid():
			v6 = ip.WithZone(ifi.Name)
		}
	}
	return
}

func newQuestion(name string, qtype uint16) ([]byte, uint16, error) {
	var b [2]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, 0, err
	}
	id := binary.BigEndian.Uint16(b[:])
	m := new(dns.Msg)
	m.Id = id
	m.RecursionDesired = false
	m.Question = []dns.Question{{Name: name, Qtype: qtype, Qclass: dns.ClassINET}}
	out, err := m.Pack()
	return out, id, err
}

func query(ctx context.Context, name string, opts Options) ([]netip.Addr, error) {
	start := time.Now()
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ifs, err := interfaces(opts.Interfaces)
	if err != nil {
		return nil, fmt.Errorf("mdns: listing interfaces for %q: %w: %w", name, transports.ErrUnreachable, err)
	}
	names := make([]string, len(ifs))
	for i, ifi := range ifs {
		names[i] = ifi.Name
	}
	notFound := func(err error) error {
		return &NotFoundError{Name: strings.TrimSuffix(name, "."), Interfaces: names, Waited: time.Since(start), Err: err}
	}
	socks := openSockets(ifs)
	if len(socks) == 0 {
		<-ctx.Done()
		return nil, notFound(nil)
	}
	defer func() {
		for _, s := range socks {
			s.conn.Close()
		}
	}()
	qa, idA, err := newQuestion(name, dns.TypeA)
	if err != nil {
		return nil, fmt.Errorf("mdns: %w", err)
	}
	qaaaa, idAAAA, err := newQuestion(name, dns.TypeAAAA)
	if err != nil {
		return nil, fmt.Errorf("mdns: %w", err)
	}

	var mu sync.Mutex
	var found []netip.Addr
	first := make(chan struct{})
	var firstOnce sync.Once
	var wg sync.WaitGroup
	for _, s := range socks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 9000)
			for {
				n, _, err := s.conn.ReadFromUDPAddrPort(buf)
				if err != nil {
					return // closed
				}
				addrs := parseAnswer(buf[:n], name, s.iface.Name, idA, idAAAA)
				if len(addrs) == 0 {
					continue
				}
				mu.Lock()
				for _, a := range addrs {
					if !slices.Contains(found, a) {
						found = append(found, a)
					}
				}
				mu.Unlock()
				firstOnce.Do(func() { close(first) })
			}
		}()
	}
	closeAll := func() {
		for _, s := range socks {
			s.conn.Close()
		}
		wg.Wait()
	}
	send := func() {
		for _, s := range socks {
			_, _ = s.conn.WriteToUDP(qa, s.dst)
			_, _ = s.conn.WriteToUDP(qaaaa, s.dst)
		}
	}
	send()
	gap := 100 * time.Millisecond
	retry := time.NewTimer(gap)
	defer retry.Stop()
	for {
		select {
		case <-first:
			grace := time.NewTimer(answerGrace)
			select {
			case <-grace.C:
			case <-ctx.Done():
			}
			grace.Stop()
			closeAll()
			mu.Lock()
			defer mu.Unlock()
			return sortAddrs(found), nil
		case <-retry.C:
			send()
			gap = min(2*gap, time.Second)
			retry.Reset(gap)
		case <-ctx.Done():
			closeAll()
			var cerr error
			if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
				cerr = ctx.Err()
			}
			return nil, notFound(cerr)
		}
	}
}

// parseAnswer returns the A/AAAA records for name in a reply to one of our
// questions; link-local IPv6 addresses get iface as their zone.
func parseAnswer(b []byte, name, iface string, ids ...uint16) []netip.Addr {
	var m dns.Msg
	if err := m.Unpack(b); err != nil || !m.Response || !slices.Contains(ids, m.Id) {
		return nil
	}
	var out []netip.Addr
	for _, rr := range append(m.Answer, m.Extra...) {
		if !strings.EqualFold(rr.Header().Name, name) {
			continue
		}
		var ip net.IP
		switch r := rr.(type) {
		case *dns.A:
			ip = r.A
		case *dns.AAAA:
			ip = r.AAAA
		default:
			continue
		}
		a, ok := netip.AddrFromSlice(ip)
		if !ok {
			continue
		}
		a = a.Unmap()
		if a.Is6() && (a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast()) {
			a = a.WithZone(iface)
		}
		out = append(out, a)
	}
	return out
}
