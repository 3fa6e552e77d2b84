package provisioning

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/identity"
	"github.com/espprov/espprov/internal/mdns"
	"github.com/espprov/espprov/transports"
	"github.com/espprov/espprov/transports/httpd"
	"github.com/espprov/espprov/transports/onnetwork"
)

// A device serves one protocomm session at a time: a second client would
// break the first and leave the device half-configured. The lock is keyed
// on what the device is, not on how the request spelt it: the resolved IP
// and port for HTTP-based transports (so 127.0.0.1:80 and localhost:80 are
// one device), the BLE address, the serial port's real path.

// HostResolver resolves a device's host name to its addresses.
type HostResolver func(ctx context.Context, host string) ([]netip.Addr, error)

// ResolveHost is the default HostResolver: ".local" names through one-shot
// multicast DNS queries (as the transports dial them), others through the
// system resolver. Every device host name the service locks on goes through
// Config.ResolveHost (default ResolveHost).
func ResolveHost(ctx context.Context, host string) ([]netip.Addr, error) {
	return mdns.LookupHost(ctx, host, mdns.Options{})
}

// deviceLocks holds the identities of the devices in use.
type deviceLocks struct {
	mu    sync.Mutex
	owner map[string]*lockHolder
}

type lockHolder struct {
	what  string // the device as requested
	by    string // method, caller, request id
	since time.Time
}

// identities names the device d addresses before connecting; nil when it
// cannot be told yet (BLE by prefix, on-network by browsing).
func (s *Service) identities(ctx context.Context, d *espprovv1.Device) []string {
	switch d.GetTransport() {
	case espprovv1.Transport_TRANSPORT_SOFTAP, espprovv1.Transport_TRANSPORT_HTTPD:
		addr := d.GetAddress()
		if addr == "" && d.GetTransport() == espprovv1.Transport_TRANSPORT_SOFTAP {
			addr = httpd.DefaultSoftAPAddress
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil
		}
		return s.tcpIdentities(ctx, host, port)
	case espprovv1.Transport_TRANSPORT_ON_NETWORK:
		if addr := d.GetAddress(); addr != "" {
			host, port := addr, strconv.Itoa(onnetwork.DefaultPort)
			if h, p, err := net.SplitHostPort(addr); err == nil {
				host, port = h, p
			}
			return s.tcpIdentities(ctx, strings.Trim(host, "[]"), port)
		}
		if d.GetName() != "" {
			return []string{"on-network name " + strings.ToLower(d.GetName())}
		}
	case espprovv1.Transport_TRANSPORT_BLE:
		if d.GetName() != "" {
			return []string{"ble name " + d.GetName()}
		}
	case espprovv1.Transport_TRANSPORT_CONSOLE:
		if p := d.GetSerialPort(); p != "" {
			return []string{"serial " + realPath(p)}
		}
	}
	return nil
}

// tcpIdentities resolves host (through the configured resolver) and names
// every address it has, so that two spellings sharing one address collide.
func (s *Service) tcpIdentities(ctx context.Context, host, port string) []string {
	if ip, err := netip.ParseAddr(strings.SplitN(host, "%", 2)[0]); err == nil {
		return []string{"tcp " + netip.AddrPortFrom(ip.Unmap(), portNum(port)).String()}
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ips, err := s.resolve(rctx, host)
	if err != nil || len(ips) == 0 {
		// The dial will report the failure; lock on the name meanwhile.
		return []string{"tcp " + strings.ToLower(strings.TrimSuffix(host, ".")) + ":" + port}
	}
	out := make([]string, 0, len(ips))
	for _, ip := range ips {
		out = append(out, "tcp "+netip.AddrPortFrom(ip.Unmap(), portNum(port)).String())
	}
	return out
}

func portNum(p string) uint16 {
	n, _ := strconv.ParseUint(p, 10, 16)
	return uint16(n)
}

// realPath follows symbolic links (/dev/serial/by-id/… → /dev/ttyUSB0).
func realPath(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		p = r
	}
	if a, err := filepath.Abs(p); err == nil {
		p = a
	}
	return filepath.Clean(p)
}

// dialedIdentities names the device a transport actually reached (a BLE
// device found by prefix, an on-network device found by name).
func dialedIdentities(t transports.Transport) []string {
	a, ok := t.(interface{ Address() string })
	if !ok || a.Address() == "" {
		return nil
	}
	addr := a.Address()
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		return []string{"tcp " + netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String()}
	}
	if hw, err := net.ParseMAC(addr); err == nil {
		return []string{"ble " + hw.String()}
	}
	return nil
}

// holderOf describes the call that takes a lock, for the busy message.
func holderOf(ctx context.Context) string {
	var parts []string
	if m, ok := grpc.Method(ctx); ok {
		parts = append(parts, m[strings.LastIndex(m, "/")+1:])
	}
	if id, ok := identity.FromContext(ctx); ok {
		parts = append(parts, "by "+id.String())
	} else if p, ok := peer.FromContext(ctx); ok && p.Addr != nil && p.Addr.Network() != "bufconn" {
		parts = append(parts, "from "+p.Addr.String())
	}
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get("x-request-id"); len(v) == 1 && len(v[0]) <= 128 {
			parts = append(parts, "request "+v[0])
		}
	}
	if len(parts) == 0 {
		return "another call"
	}
	return strings.Join(parts, " ")
}

// lock takes every key for one call; the returned func releases them.
func (l *deviceLocks) lock(keys []string, h *lockHolder) (func(), error) {
	if len(keys) == 0 {
		return func() {}, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		if o, taken := l.owner[k]; taken && o != h {
			return nil, status.Errorf(codes.Aborted,
				"device busy: %s (%s) is in use by %s since %s; a device serves one secure session at a time: retry when that call has finished",
				h.what, k, o.by, o.since.UTC().Format(time.RFC3339))
		}
	}
	if l.owner == nil {
		l.owner = map[string]*lockHolder{}
	}
	var mine []string
	for _, k := range keys {
		if l.owner[k] == nil {
			l.owner[k] = h
			mine = append(mine, k)
		}
	}
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, k := range mine {
			if l.owner[k] == h {
				delete(l.owner, k)
			}
		}
	}, nil
}

// claim marks the device busy before connecting; the returned holder can
// add what the dial learnt (claimDialed).
func (s *Service) claim(ctx context.Context, d *espprovv1.Device) (*lockHolder, func(), error) {
	h := &lockHolder{what: describeDevice(d), by: holderOf(ctx), since: time.Now()}
	release, err := s.locks.lock(s.identities(ctx, d), h)
	return h, release, err
}

// claimDialed adds the identities of the reached device to h's lock.
func (s *Service) claimDialed(h *lockHolder, t transports.Transport) (func(), error) {
	for t != nil {
		if ids := dialedIdentities(t); ids != nil {
			return s.locks.lock(ids, h)
		}
		w, ok := t.(transports.Wrapper)
		if !ok {
			break
		}
		t = w.Unwrap()
	}
	return func() {}, nil
}

func describeDevice(d *espprovv1.Device) string {
	switch {
	case d.GetAddress() != "":
		return d.GetAddress()
	case d.GetSerialPort() != "":
		return d.GetSerialPort()
	case d.GetName() != "":
		return d.GetName()
	}
	return fmt.Sprintf("the %s device", transportName(d.GetTransport()))
}
