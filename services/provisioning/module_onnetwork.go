package provisioning

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/protocomm"
	"github.com/espprov/espprov/transports"
	"github.com/espprov/espprov/transports/onnetwork"
)

// OnNetworkModule reaches RainMaker devices already on the network through
// their challenge-response service (mDNS discovery + HTTP).
type OnNetworkModule struct{}

// onNetTransport carries what discovery learnt about the device's security.
type onNetTransport struct {
	*onnetwork.Transport
	found    onnetwork.Found
	hasFound bool
	addr     string // the resolved IP:port
}

// Address is the resolved IP:port (the device's identity for the lock).
func (t *onNetTransport) Address() string { return t.addr }

// AdjustVersion fills the session layer's view of the device from the
// on-network version reply and the mDNS TXT record: the service's version
// JSON has no "prov" object.
func (t *onNetTransport) AdjustVersion(v *protocomm.Version, popGiven bool) {
	info, err := onnetwork.ParseVersion(v.Raw)
	if err == nil && info.SecVer >= 0 {
		v.SecVer = info.SecVer
		if info.SecPatchVer >= 0 {
			v.SecPatchVer = info.SecPatchVer
		}
	}
	popRequired := popGiven // unknown without TXT: use a PoP only if one was given
	if t.hasFound {
		if t.found.SecVersion >= 0 {
			v.SecVer = t.found.SecVersion
		}
		popRequired = t.found.PoPRequired
	}
	if v.SecVer < 0 {
		v.SecVer = 1 // the reference CLI's assumption without TXT data
	}
	if v.SecVer == 1 && !popRequired && !v.Has("no_pop") {
		v.Caps = append(v.Caps, "no_pop")
	}
	// Every on-network device answers challenge-response on ch_resp.
	if !v.AppHas("rmaker_extra", "ch_resp") {
		if v.Apps == nil {
			v.Apps = map[string]protocomm.App{}
		}
		v.Apps["rmaker_extra"] = protocomm.App{Version: "1.0", Caps: []string{"ch_resp"}}
		v.AppOrder = append(v.AppOrder, "rmaker_extra")
	}
}

// target turns the Device into an onnetwork.Target.
func (OnNetworkModule) target(d *espprovv1.Device) (onnetwork.Target, error) {
	t := onnetwork.Target{Name: d.GetName()}
	if dt := d.GetDiscoveryTimeout(); dt != nil {
		if dt.AsDuration() < 0 || dt.AsDuration() > 10*time.Minute {
			return t, invalid("device.discovery_timeout must be between 0 and 10m (got %s)", dt.AsDuration())
		}
		t.DiscoveryTimeout = dt.AsDuration()
	}
	addr := d.GetAddress()
	if addr == "" {
		return t, nil
	}
	host, port := addr, ""
	if h, p, err := net.SplitHostPort(addr); err == nil {
		host, port = h, p
	} else if strings.Count(addr, ":") == 1 {
		return t, invalid("device.address %q is not host, IP, host:port or [IPv6]:port", addr)
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return t, invalid("device.address %q: port must be a number from 1 to 65535", addr)
		}
		t.Port = n
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "" {
		return t, invalid("device.address %q has no host", addr)
	}
	if ip := net.ParseIP(strings.SplitN(host, "%", 2)[0]); ip != nil {
		t.IP = host
	} else if strings.ContainsAny(host, " /\\") || (host[0] >= '0' && host[0] <= '9' && strings.Count(host, ".") == 3) {
		return t, invalid("device.address %q is not a valid IP address or host name", addr)
	} else {
		t.Host = host
	}
	return t, nil
}

// Validate implements Validator.
func (m OnNetworkModule) Validate(d *espprovv1.Device) error {
	_, err := m.target(d)
	return err
}

// Dial implements Module.
func (m OnNetworkModule) Dial(ctx context.Context, d *espprovv1.Device, exchange time.Duration) (transports.Transport, error) {
	tg, err := m.target(d)
	if err != nil {
		return nil, err
	}
	if tg.IP == "" && tg.Host == "" && tg.Name == "" {
		found, derr := onnetwork.Discover(ctx, onnetwork.DiscoverOptions{Timeout: tg.DiscoveryTimeout})
		switch {
		case derr != nil && !errors.Is(derr, context.DeadlineExceeded):
			return nil, derr
		case len(found) == 0:
			return nil, status.Error(codes.Unavailable, "no on-network device answered the mDNS browse; pass device.address or check that the device is on this network")
		case len(found) > 1:
			names := make([]string, 0, len(found))
			for _, f := range found {
				names = append(names, f.Instance)
			}
			return nil, invalid("%d on-network devices found (%s): pass device.name (instance name or node id) or device.address", len(found), strings.Join(names, ", "))
		}
		tg.Name = found[0].NodeID
		if tg.Name == "" {
			tg.Name = found[0].Instance
		}
	}
	addr, f, ok, err := onnetwork.ResolveFound(ctx, tg)
	if err != nil {
		return nil, err
	}
	t, err := onnetwork.Open(ctx, addr, onnetwork.Options{ExchangeTimeout: exchange})
	if err != nil {
		return nil, err
	}
	return &onNetTransport{Transport: t, found: f, hasFound: ok, addr: addr}, nil
}

// Discover implements Discoverer: an mDNS browse for the requested time.
func (OnNetworkModule) Discover(ctx context.Context, d *espprovv1.Device, timeout time.Duration, found func(*espprovv1.DiscoverResponse) error) error {
	list, err := onnetwork.Discover(ctx, onnetwork.DiscoverOptions{Timeout: timeout})
	if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		return err
	}
	for _, f := range list {
		if n := d.GetName(); n != "" && !strings.EqualFold(n, f.Instance) && !strings.EqualFold(n, f.NodeID) {
			continue
		}
		rec := &espprovv1.DiscoverResponse{Transport: espprovv1.Transport_TRANSPORT_ON_NETWORK, Name: f.Instance,
			Address: f.Addr(), NodeId: f.NodeID, PopRequired: f.PoPRequired, Capabilities: []string{"ch_resp"}}
		if f.SecVersion >= 0 {
			rec.Security = apiScheme(protocomm.Scheme(f.SecVersion))
		}
		if err := found(rec); err != nil {
			return err
		}
	}
	return nil
}
