// Package onnetwork is the RainMaker on-network transport (rainmaker.md §3):
// devices on the local network that run the standalone on-network
// challenge-response service or the Local Control variant are discovered by
// browsing the mDNS service `_esp_rmaker_chal_resp._tcp` (brutella/dnssd) and
// reached over plain HTTP with protocomm_httpd framing (transports/httpd) on
// the paths `esp_local_ctrl/version`, `esp_local_ctrl/session` and `ch_resp`.
//
// Unlike the reference CLI, addresses are bracketed only when they are IPv6
// literals and `--device-host <node_id>.local` names are resolved through
// mDNS (defect D4); the Security 2 patch level is chosen by the session layer
// from the length of the device nonce, never assumed (defect D5).
package onnetwork

import (
	"context"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/brutella/dnssd"
	"github.com/miekg/dns"
)

const (
	// ServiceType is the DNS-SD service type both device variants announce.
	ServiceType = "_esp_rmaker_chal_resp._tcp"
	// Domain is the mDNS domain.
	Domain = "local"
	// DefaultDiscoveryTimeout is how long Discover browses by default (the
	// reference CLI's --discovery-timeout default).
	DefaultDiscoveryTimeout = 5 * time.Second
	// DefaultPort is the port used for --device-ip/--device-host when none is
	// given (standalone service default).
	DefaultPort = 80
	// LocalControlPort is the default port of the Local Control variant.
	LocalControlPort = 8080

	// TXT record keys (rainmaker.md §3.2, §3.3).
	TXTNodeID      = "node_id"
	TXTPort        = "port"
	TXTSecVersion  = "sec_version"
	TXTPoPRequired = "pop_required"
)

// DiscoverOptions configures a browse.
type DiscoverOptions struct {
	// Timeout is how long to browse (default DefaultDiscoveryTimeout).
	Timeout time.Duration
	// ServiceType overrides the browsed type (default ServiceType), without
	// the domain, e.g. "_esp_local_ctrl._tcp".
	ServiceType string
}

func (o DiscoverOptions) timeout() time.Duration {
	if o.Timeout <= 0 {
		return DefaultDiscoveryTimeout
	}
	return o.Timeout
}

func (o DiscoverOptions) service() string {
	t := o.ServiceType
	if t == "" {
		t = ServiceType
	}
	return strings.TrimSuffix(t, ".") + "." + Domain + "."
}

// Found is one discovered device: the columns of the CLI's discovery table
// plus what is needed to connect.
type Found struct {
	// Instance is the DNS-SD instance name (node id unless configured).
	Instance string
	// NodeID is the TXT node_id ("" when the device did not send one).
	NodeID string
	// IPs are the device's addresses, IPv4 first, without duplicates.
	IPs []net.IP
	// Host is the mDNS host name without domain (node id on real firmware).
	Host string
	// Iface is the local interface the device was seen on (IPv6 zone).
	Iface string
	// Port is the SRV port (the TXT port is informational, as in the CLI);
	// the TXT port is used only when the SRV port is missing.
	Port int
	// SecVersion is TXT sec_version, -1 when absent or not a number (the
	// reference CLI then assumes 1).
	SecVersion int
	// PoPRequired is TXT pop_required == "true" (case-insensitive).
	PoPRequired bool
	// TXT holds all TXT key/value pairs as received.
	TXT map[string]string
}

// Addr returns "ip:port" for the preferred address (first IPv4, else first
// IPv6 with its zone when link-local), bracketing only IPv6; "" if the device
// has no address.
func (f Found) Addr() string {
	ip := f.preferredIP()
	if ip == nil {
		return ""
	}
	host := ip.String()
	if ip.To4() == nil && ip.IsLinkLocalUnicast() && f.Iface != "" {
		host += "%" + f.Iface
	}
	return net.JoinHostPort(host, strconv.Itoa(f.Port))
}

func (f Found) preferredIP() net.IP {
	for _, ip := range f.IPs {
		if ip.To4() != nil {
			return ip
		}
	}
	if len(f.IPs) > 0 {
		return f.IPs[0]
	}
	return nil
}

// PoPColumn is the CLI table's PoP column: Yes/No for Security 1, SRP6a for
// Security 2, N/A otherwise (unknown security counts as 1, like the CLI).
func (f Found) PoPColumn() string {
	switch f.CLISecVersion() {
	case 1:
		if f.PoPRequired {
			return "Yes"
		}
		return "No"
	case 2:
		return "SRP6a"
	}
	return "N/A"
}

// matches reports whether name selects f: instance name or node id, compared
// case-insensitively (CLI --device_name rule).
func (f Found) matches(name string) bool {
	return strings.EqualFold(f.Instance, name) || (f.NodeID != "" && strings.EqualFold(f.NodeID, name))
}

// Discover browses for on-network devices for opts.Timeout and returns them
// de-duplicated by node id (first seen wins), sorted by instance name and
// node id. Devices that said goodbye during the browse are dropped. A
// cancelled ctx ends the browse early and returns what was found with
// ctx.Err().
func Discover(ctx context.Context, opts DiscoverOptions) ([]Found, error) {
	return browse(ctx, opts, nil)
}

// FindByName browses until a device whose instance name or node id equals
// name (case-insensitively) shows up, or opts.Timeout passes. Not found is
// reported as an error wrapping transports.ErrUnreachable.
func FindByName(ctx context.Context, name string, opts DiscoverOptions) (Found, error) {
	return findFirst(ctx, opts, fmt.Sprintf("device %q", name), func(f Found) bool { return f.matches(name) })
}

func findFirst(ctx context.Context, opts DiscoverOptions, what string, match func(Found) bool) (Found, error) {
	var hit *Found
	found, err := browse(ctx, opts, func(fs []Found) bool {
		for i := range fs {
			if match(fs[i]) {
				f := fs[i]
				hit = &f
				return true
			}
		}
		return false
	})
	if hit != nil {
		return *hit, nil
	}
	for _, f := range found {
		if match(f) {
			return f, nil
		}
	}
	if err != nil {
		return Found{}, err
	}
	return Found{}, fmt.Errorf("onnetwork: %s not found on the network within %s: %w", what, opts.timeout(), errUnreachable)
}

// browse listens for mDNS responses about opts' service type until the
// timeout, ctx, or stop returning true, and returns the devices seen.
//
// dnssd.LookupType sends the PTR query on every multicast interface, but its
// own result bookkeeping is not used: its cache also takes records from
// other hosts' probe queries, so it can report an instance with the port of
// a conflicting probe and without the TXT record that arrives later. The
// answers are read instead from a second dnssd connection (same multicast
// group, every interface) and only response messages are cached.
func browse(ctx context.Context, opts DiscoverOptions, stop func([]Found) bool) ([]Found, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	service := opts.service()
	// dnssd's socket readers only stop when their context reports
	// context.Canceled (a deadline would leave them spinning on the closed
	// socket), so they get a context that is always cancelled, never timed
	// out.
	lctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	conn, err := dnssd.NewMDNSConn()
	if err != nil {
		return nil, fmt.Errorf("onnetwork: mDNS browse for %s: %v: %w", service, err, errUnreachable)
	}
	reqs := conn.Read(lctx)
	qerr := make(chan error, 1)
	go func() {
		qerr <- dnssd.LookupType(lctx, service, func(dnssd.BrowseEntry) {}, func(dnssd.BrowseEntry) {})
	}()
	queryDone := false

	c := newBrowseCache(service)
	timer := time.NewTimer(opts.timeout())
	defer timer.Stop()
	var ctxErr, browseErr error
loop:
	for {
		select {
		case req := <-reqs:
			if c.update(req.Raw(), req.IfaceName()) && stop != nil && stop(c.found()) {
				break loop
			}
		case <-timer.C:
			break loop
		case <-ctx.Done():
			ctxErr = ctx.Err()
			break loop
		case err := <-qerr:
			// LookupType returns early only when it cannot open its sockets.
			queryDone = true
			browseErr = fmt.Errorf("onnetwork: mDNS query for %s: %v: %w", service, err, errUnreachable)
			break loop
		}
	}
	cancel()
	conn.Close()
	// A reader may be blocked handing over a last message: take it so that
	// it can notice the cancellation and end.
	drain := time.NewTimer(100 * time.Millisecond)
	defer drain.Stop()
	for draining := true; draining; {
		select {
		case <-reqs:
		case <-drain.C:
			draining = false
		}
	}
	if !queryDone {
		<-qerr
	}
	if browseErr != nil {
		return nil, browseErr
	}
	return c.found(), ctxErr
}

// browseCache keeps the records of one service type from mDNS responses.
type browseCache struct {
	service string // lower-case "<type>.local."
	order   []string
	inst    map[string]*instance // by lower-case instance FQDN
	hosts   map[string][]net.IP  // by lower-case host FQDN
}

type instance struct {
	name    string // unescaped instance label
	host    string // host FQDN from SRV
	port    int
	txt     map[string]string
	iface   string
	ptr     bool
	srv     bool
	removed bool
}

func newBrowseCache(service string) *browseCache {
	return &browseCache{service: strings.ToLower(service), inst: map[string]*instance{}, hosts: map[string][]net.IP{}}
}

// get returns the instance for fqdn if it belongs to the browsed type.
func (c *browseCache) get(fqdn, iface string) *instance {
	key := strings.ToLower(fqdn)
	if !strings.HasSuffix(key, "."+c.service) {
		return nil
	}
	if in, ok := c.inst[key]; ok {
		return in
	}
	in := &instance{name: unescapeDNS(fqdn[:len(fqdn)-len(c.service)-1]), iface: iface}
	c.inst[key] = in
	c.order = append(c.order, key)
	return in
}

// update applies one received message and reports whether anything changed.
func (c *browseCache) update(m *dns.Msg, iface string) bool {
	if m == nil || !m.Response {
		return false // queries (probes included) carry no facts
	}
	changed := false
	rrs := append(append([]dns.RR(nil), m.Answer...), m.Extra...)
	for _, rr := range rrs {
		switch r := rr.(type) {
		case *dns.PTR:
			if !strings.EqualFold(r.Hdr.Name, c.service) {
				continue
			}
			in := c.get(r.Ptr, iface)
			if in == nil {
				continue
			}
			if r.Hdr.Ttl == 0 { // goodbye
				in.removed, in.ptr = true, false
			} else {
				in.removed, in.ptr = false, true
			}
			changed = true
		case *dns.SRV:
			in := c.get(r.Hdr.Name, iface)
			if in == nil {
				continue
			}
			if r.Hdr.Ttl == 0 {
				in.srv = false
			} else {
				in.host, in.port, in.srv = r.Target, int(r.Port), true
			}
			changed = true
		case *dns.TXT:
			in := c.get(r.Hdr.Name, iface)
			if in == nil {
				continue
			}
			txt := map[string]string{}
			for _, s := range r.Txt {
				k, v, ok := strings.Cut(unescapeDNS(s), "=")
				if !ok || k == "" {
					continue
				}
				k = strings.ToLower(k)
				if _, dup := txt[k]; !dup { // RFC 6763 §6.4: first wins
					txt[k] = v
				}
			}
			in.txt = txt
			changed = true
		case *dns.A:
			changed = c.addIP(r.Hdr.Name, r.A) || changed
		case *dns.AAAA:
			changed = c.addIP(r.Hdr.Name, r.AAAA) || changed
		}
	}
	return changed
}

func (c *browseCache) addIP(host string, ip net.IP) bool {
	if len(ip) != net.IPv4len && len(ip) != net.IPv6len {
		// An A/AAAA record with empty or odd RDATA (miekg/dns unpacks it
		// as a nil address): it must not make a device look resolved.
		return false
	}
	key := strings.ToLower(host)
	for _, have := range c.hosts[key] {
		if have.Equal(ip) {
			return false
		}
	}
	c.hosts[key] = append(c.hosts[key], ip)
	return true
}

// found returns the complete instances (PTR, SRV and an address seen, no
// goodbye) as devices.
func (c *browseCache) found() []Found {
	var es []entry
	for _, key := range c.order {
		in := c.inst[key]
		if in.removed || !in.ptr || !in.srv {
			continue
		}
		ips := c.hosts[strings.ToLower(in.host)]
		if len(ips) == 0 {
			continue
		}
		host := strings.TrimSuffix(in.host, ".")
		if h, ok := strings.CutSuffix(strings.ToLower(host), "."+Domain); ok {
			host = host[:len(h)]
		}
		es = append(es, entry{Name: in.name, Host: unescapeDNS(host), Iface: in.iface, Port: in.port, IPs: ips, Text: in.txt})
	}
	return collect(es)
}

// unescapeDNS undoes presentation-format escapes (\X and \DDD).
func unescapeDNS(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch != '\\' || i+1 >= len(s) {
			b.WriteByte(ch)
			continue
		}
		if i+3 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]) {
			n := int(s[i+1]-'0')*100 + int(s[i+2]-'0')*10 + int(s[i+3]-'0')
			if n < 256 {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i+1])
		i++
	}
	return b.String()
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

// entry is one service instance as received.
type entry struct {
	Name  string // unescaped instance name
	Host  string // host label without domain
	Iface string
	Port  int
	IPs   []net.IP
	Text  map[string]string
}

// collect turns entries into devices sorted by instance name (then node id,
// then port) and de-duplicated by node id: of several announcements of one
// node (renamed duplicate instance, several interfaces) the first in that
// order is kept, with the addresses of all of them.
func collect(es []entry) []Found {
	all := make([]Found, 0, len(es))
	for _, e := range es {
		all = append(all, fromEntry(e))
	}
	sort.SliceStable(all, func(i, j int) bool {
		a, b := strings.ToLower(all[i].Instance), strings.ToLower(all[j].Instance)
		if a != b {
			return a < b
		}
		if all[i].NodeID != all[j].NodeID {
			return all[i].NodeID < all[j].NodeID
		}
		return all[i].Port < all[j].Port
	})
	var out []Found
	index := map[string]int{} // dedup key -> position in out
	for _, f := range all {
		key := "node:" + f.NodeID
		if f.NodeID == "" {
			key = "instance:" + f.Instance
		}
		if i, ok := index[key]; ok {
			out[i].IPs = mergeIPs(out[i].IPs, f.IPs)
			continue
		}
		index[key] = len(out)
		out = append(out, f)
	}
	return out
}

func fromEntry(e entry) Found {
	txt := make(map[string]string, len(e.Text))
	for k, v := range e.Text {
		txt[k] = v
	}
	f := Found{
		Instance:   e.Name,
		NodeID:     txt[TXTNodeID],
		IPs:        mergeIPs(nil, e.IPs),
		Host:       e.Host,
		Iface:      e.Iface,
		Port:       e.Port,
		SecVersion: -1,
		TXT:        txt,
	}
	if f.Port == 0 {
		if p, err := strconv.Atoi(strings.TrimSpace(txt[TXTPort])); err == nil && p > 0 && p < 65536 {
			f.Port = p
		}
	}
	if v, ok := txt[TXTSecVersion]; ok {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
			f.SecVersion = n
		}
	}
	f.PoPRequired = strings.EqualFold(strings.TrimSpace(txt[TXTPoPRequired]), "true")
	return f
}

// mergeIPs appends the addresses of add not yet in ips, keeping IPv4 first.
func mergeIPs(ips, add []net.IP) []net.IP {
	all := append(append([]net.IP(nil), ips...), add...)
	var v4, v6 []net.IP
	for _, ip := range all {
		dup := false
		for _, seen := range append(v4, v6...) {
			if seen.Equal(ip) {
				dup = true
				break
			}
		}
		if dup || ip == nil {
			continue
		}
		if ip4 := ip.To4(); ip4 != nil {
			v4 = append(v4, ip4)
		} else {
			v6 = append(v6, ip)
		}
	}
	return append(v4, v6...)
}
