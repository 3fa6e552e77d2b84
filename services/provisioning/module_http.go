package provisioning

import (
	"context"
	"net"
	"strconv"
	"time"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/protocomm"
	"github.com/espprov/espprov/transports"
	"github.com/espprov/espprov/transports/httpd"
)

// HTTPModule reaches devices with protocomm over HTTP: the soft-AP
// (default 192.168.4.1:80) or any interface (httpd, address required).
type HTTPModule struct {
	// SoftAP selects the soft-AP default address when none is given.
	SoftAP bool
}

// ValidateHostPort checks a host:port address and says how to fix it.
func ValidateHostPort(field, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return invalid("%s %q is not host:port (IPv6 as [addr]:port): %v", field, addr, err)
	}
	if host == "" {
		return invalid("%s %q has no host", field, addr)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return invalid("%s %q: port must be a number from 1 to 65535", field, addr)
	}
	return nil
}

func (m HTTPModule) address(d *espprovv1.Device) (string, error) {
	addr := d.GetAddress()
	if addr == "" {
		if !m.SoftAP {
			return "", invalid("device.address is required for the httpd transport (host:port of the device)")
		}
		addr = httpd.DefaultSoftAPAddress
	}
	if err := ValidateHostPort("device.address", addr); err != nil {
		return "", err
	}
	return addr, nil
}

// Validate implements Validator.
func (m HTTPModule) Validate(d *espprovv1.Device) error {
	_, err := m.address(d)
	return err
}

// Dial implements Module.
func (m HTTPModule) Dial(ctx context.Context, d *espprovv1.Device, exchange time.Duration) (transports.Transport, error) {
	addr, err := m.address(d)
	if err != nil {
		return nil, err
	}
	return httpd.Dial(ctx, addr, httpd.Options{ExchangeTimeout: exchange})
}

// ScanGroupChannels implements ScanTuner: keep the soft-AP beaconing while scanning.
func (HTTPModule) ScanGroupChannels() uint32 { return 5 }

// Discover implements Discoverer by probing the address for proto-ver.
func (m HTTPModule) Discover(ctx context.Context, d *espprovv1.Device, timeout time.Duration, found func(*espprovv1.DiscoverResponse) error) error {
	addr, err := m.address(d)
	if err != nil {
		return err
	}
	t, err := httpd.Dial(ctx, addr, httpd.Options{ExchangeTimeout: timeout})
	if err != nil {
		return nil // nothing answers there: no device found
	}
	defer t.Close()
	v, err := protocomm.ReadVersion(ctx, t)
	if err != nil {
		return nil
	}
	tr := espprovv1.Transport_TRANSPORT_HTTPD
	if m.SoftAP {
		tr = espprovv1.Transport_TRANSPORT_SOFTAP
	}
	return found(probedRecord(tr, addr, v))
}

// probedRecord describes a device from its proto-ver reply: capabilities,
// the advertised security (when sec_ver is present) and whether Security 1
// needs a PoP.
func probedRecord(tr espprovv1.Transport, addr string, v protocomm.Version) *espprovv1.DiscoverResponse {
	rec := &espprovv1.DiscoverResponse{Transport: tr, Address: addr, Capabilities: v.Caps,
		PopRequired: v.SecVer == 1 && !v.Has("no_pop")}
	if v.SecVer >= 0 {
		rec.Security = apiScheme(protocomm.Scheme(v.SecVer))
	}
	gen := v.Generation()
	rec.ProvGeneration = apiGeneration(gen)
	rec.NetworkTypes = networkTypes(v.Networks(gen))
	return rec
}

// DefaultModules returns the transport modules of this build.
func DefaultModules() map[espprovv1.Transport]Module {
	return map[espprovv1.Transport]Module{
		espprovv1.Transport_TRANSPORT_SOFTAP:     HTTPModule{SoftAP: true},
		espprovv1.Transport_TRANSPORT_HTTPD:      HTTPModule{},
		espprovv1.Transport_TRANSPORT_CONSOLE:    ConsoleModule{},
		espprovv1.Transport_TRANSPORT_ON_NETWORK: OnNetworkModule{},
		espprovv1.Transport_TRANSPORT_BLE:        BLEModule{},
	}
}
