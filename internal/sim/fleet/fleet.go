// Package fleet runs many simulated ESP32 devices, each with its own
// identity (fake MAC, PROV_xxxxxx name, node id, station IP) and its own
// protocomm HTTP listener, for tests, benchmarks and the espsim command.
package fleet

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync"

	"github.com/espprov/espprov/internal/sim/device"
	simhttpd "github.com/espprov/espprov/internal/sim/httpd"
)

// Layout says where the devices listen.
type Layout int

const (
	// LayoutPorts puts every device on Host: with Port 0 each gets an
	// ephemeral port, otherwise device i listens on Port+i.
	LayoutPorts Layout = iota
	// LayoutLoopbackHosts puts device i on 127.0.0.(FirstHost+i):Port (Port 0:
	// ephemeral), so every device has its own address like on a real network.
	LayoutLoopbackHosts
)

// Options configures a fleet.
type Options struct {
	// N is the number of devices (at least 1).
	N int
	// Layout selects the address scheme; Host, Port and FirstHost apply.
	Layout Layout
	// Host for LayoutPorts; default 127.0.0.1.
	Host string
	// Port is the first port (LayoutPorts) or every device's port
	// (LayoutLoopbackHosts); 0 means ephemeral ports.
	Port int
	// FirstHost is the last octet of the first device for
	// LayoutLoopbackHosts; default 2 (127.0.0.2, 127.0.0.3, …).
	FirstHost int

	// Template is the configuration every device starts from. MAC, Name,
	// NodeID and StationIP are replaced per device (unless N is 1 and the
	// template sets them). A Template.Rand is shared by every device, so it
	// must be safe for concurrent use (default: crypto/rand).
	Template device.Config
	// FirstMAC is the MAC of device 0; device i gets FirstMAC + i. Zero
	// draws a random 24:0a:c4:xx:xx:xx base.
	FirstMAC [6]byte
	// Configure, when set, adjusts device i's configuration after the
	// identity was assigned.
	Configure func(i int, c *device.Config)
	// Setup, when set, runs on each device after New (register endpoints,
	// app info) and before it listens.
	Setup func(i int, d *device.Device) error

	// HTTP configures every device's HTTP server.
	HTTP simhttpd.Options
}

// Member is one running device.
type Member struct {
	Index  int
	Addr   string // host:port of the HTTP listener
	Device *device.Device
	Config device.Config // normalized (defaults filled); contains secrets
}

// String describes the member without secrets.
func (m Member) String() string {
	return fmt.Sprintf("%s %s node=%s", m.Config.Name, m.Addr, m.Config.NodeID)
}

// Fleet is a set of running devices.
type Fleet struct {
	members []Member
	servers []*simhttpd.Server
	wg      sync.WaitGroup

	closeOnce sync.Once
	closeErr  error
}

// Start creates the devices and starts their listeners. On error nothing
// stays running.
func Start(ctx context.Context, opts Options) (*Fleet, error) {
	if opts.N < 1 {
		return nil, fmt.Errorf("fleet: %d devices; need at least 1", opts.N)
	}
	addrs, err := addresses(opts)
	if err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	base := opts.FirstMAC
	if base == ([6]byte{}) {
		base = [6]byte{0x24, 0x0a, 0xc4}
		if _, err := io.ReadFull(rand.Reader, base[3:]); err != nil {
			return nil, fmt.Errorf("fleet: drawing a MAC base: %w", err)
		}
	}

	f := &Fleet{}
	var lc net.ListenConfig
	for i := range opts.N {
		cfg := opts.Template
		cfg.APs = append([]device.AP(nil), opts.Template.APs...)
		cfg.AppInfo = append([]device.AppInfo(nil), opts.Template.AppInfo...)
		if opts.N > 1 || cfg.MAC == ([6]byte{}) {
			cfg.MAC = addMAC(base, i)
		}
		if opts.N > 1 {
			cfg.Name, cfg.NodeID = "", "" // derived from the MAC
			cfg.StationIP = stationIP(i)
		}
		if opts.Configure != nil {
			opts.Configure(i, &cfg)
		}
		d, err := device.New(cfg)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("fleet: device %d: %w", i, err)
		}
		if opts.Setup != nil {
			if err := opts.Setup(i, d); err != nil {
				f.Close()
				return nil, fmt.Errorf("fleet: device %d setup: %w", i, err)
			}
		}
		l, err := lc.Listen(ctx, "tcp", addrs[i])
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("fleet: device %d: %w", i, err)
		}
		srv := simhttpd.New(d, opts.HTTP)
		f.servers = append(f.servers, srv)
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			_ = srv.Serve(l) // returns ErrServerClosed after Close
		}()
		f.members = append(f.members, Member{Index: i, Addr: l.Addr().String(), Device: d, Config: d.Config()})
	}
	return f, nil
}

// Devices returns the running devices in index order.
func (f *Fleet) Devices() []Member {
	return append([]Member(nil), f.members...)
}

// Close stops every listener and waits for the servers to finish.
func (f *Fleet) Close() error {
	f.closeOnce.Do(func() {
		var errs []error
		for _, s := range f.servers {
			if err := s.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		f.wg.Wait()
		if err := errors.Join(errs...); err != nil {
			f.closeErr = fmt.Errorf("fleet: close: %w", err)
		}
	})
	return f.closeErr
}

func addresses(o Options) ([]string, error) {
	if o.Port < 0 || o.Port > 65535 {
		return nil, fmt.Errorf("port %d outside 0..65535", o.Port)
	}
	out := make([]string, o.N)
	switch o.Layout {
	case LayoutPorts:
		host := o.Host
		if host == "" {
			host = "127.0.0.1"
		}
		if o.Port != 0 && o.Port+o.N-1 > 65535 {
			return nil, fmt.Errorf("ports %d..%d exceed 65535", o.Port, o.Port+o.N-1)
		}
		for i := range out {
			p := 0
			if o.Port != 0 {
				p = o.Port + i
			}
			out[i] = net.JoinHostPort(host, strconv.Itoa(p))
		}
	case LayoutLoopbackHosts:
		first := o.FirstHost
		if first == 0 {
			first = 2
		}
		if first < 1 || first+o.N-1 > 254 {
			return nil, fmt.Errorf("loopback hosts 127.0.0.%d..%d outside 1..254", first, first+o.N-1)
		}
		for i := range out {
			a := netip.AddrFrom4([4]byte{127, 0, 0, byte(first + i)})
			out[i] = netip.AddrPortFrom(a, uint16(o.Port)).String()
		}
	default:
		return nil, fmt.Errorf("unknown layout %d", o.Layout)
	}
	return out, nil
}

// addMAC returns base + i over the last three bytes.
func addMAC(base [6]byte, i int) [6]byte {
	n := int(base[3])<<16 | int(base[4])<<8 | int(base[5])
	n = (n + i) & 0xffffff
	base[3], base[4], base[5] = byte(n>>16), byte(n>>8), byte(n)
	return base
}

// stationIP gives device i a distinct address in 192.168.0.0/16.
func stationIP(i int) string {
	return fmt.Sprintf("192.168.%d.%d", 1+(i/250)%254, 2+i%250)
}
