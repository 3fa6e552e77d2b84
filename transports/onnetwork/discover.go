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
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/brutella/dnssd"
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
// Security 2, N/A otherwise.
func (f Found) PoPColumn() string {
	switch f.SecVersion {
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

// browse runs dnssd.LookupType until the timeout, ctx, or stop returning
// true, and returns the collected devices.
func browse(ctx context.Context, opts DiscoverOptions, stop func([]Found) bool) ([]Found, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// dnssd's socket readers only stop when their context reports
	// context.Canceled (a deadline would leave them spinning on the closed
	// socket), so the browse runs on a context that is always cancelled, never
	// timed out.
	lctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	var (
		mu      sync.Mutex
		entries = map[string]*dnssd.BrowseEntry{} // by instance name + iface
		order   []string
		stopped bool
	)
	snapshot := func() []Found {
		es := make([]dnssd.BrowseEntry, 0, len(order))
		for _, k := range order {
			es = append(es, *entries[k])
		}
		return collect(es)
	}
	add := func(e dnssd.BrowseEntry) {
		mu.Lock()
		defer mu.Unlock()
		k := e.Name + "\x00" + e.IfaceName
		if _, ok := entries[k]; !ok {
			order = append(order, k)
		}
		ec := e
		entries[k] = &ec
		if stop != nil && !stopped && stop(snapshot()) {
			stopped = true
			cancel()
		}
	}
	rmv := func(e dnssd.BrowseEntry) {
		mu.Lock()
		defer mu.Unlock()
		k := e.Name + "\x00" + e.IfaceName
		if _, ok := entries[k]; !ok {
			return
		}
		delete(entries, k)
		for i, o := range order {
			if o == k {
				order = append(order[:i], order[i+1:]...)
				break
			}
		}
	}

	errc := make(chan error, 1)
	go func() { errc <- dnssd.LookupType(lctx, opts.service(), add, rmv) }()

	timer := time.NewTimer(opts.timeout())
	defer timer.Stop()
	var ctxErr error
	select {
	case <-timer.C:
	case <-ctx.Done():
		ctxErr = ctx.Err()
	case <-lctx.Done(): // stop matched
	case err := <-errc:
		// LookupType returns early only when it cannot open its sockets.
		return nil, fmt.Errorf("onnetwork: mDNS browse for %s: %w", opts.service(), err)
	}
	cancel()
	if err := <-errc; err != nil && !errors.Is(err, context.Canceled) {
		return nil, fmt.Errorf("onnetwork: mDNS browse for %s: %w", opts.service(), err)
	}
	mu.Lock()
	defer mu.Unlock()
	return snapshot(), ctxErr
}

// collect merges browse entries (one per instance and interface) into
// devices de-duplicated by node id, in a stable order.
func collect(es []dnssd.BrowseEntry) []Found {
	var out []Found
	index := map[string]int{} // dedup key -> position in out
	for _, e := range es {
		f := fromEntry(e)
		key := "node:" + f.NodeID
		if f.NodeID == "" {
			key = "instance:" + f.Instance
		}
		if i, ok := index[key]; ok {
			// Same device seen again (another interface or a renamed
			// duplicate announcement): keep the first, add addresses.
			out[i].IPs = mergeIPs(out[i].IPs, f.IPs)
			continue
		}
		index[key] = len(out)
		out = append(out, f)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := strings.ToLower(out[i].Instance), strings.ToLower(out[j].Instance)
		if a != b {
			return a < b
		}
		return out[i].NodeID < out[j].NodeID
	})
	return out
}

func fromEntry(e dnssd.BrowseEntry) Found {
	txt := make(map[string]string, len(e.Text))
	for k, v := range e.Text {
		txt[k] = v
	}
	f := Found{
		Instance:   e.Name,
		NodeID:     txt[TXTNodeID],
		IPs:        mergeIPs(nil, e.IPs),
		Host:       e.Host,
		Iface:      e.IfaceName,
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
