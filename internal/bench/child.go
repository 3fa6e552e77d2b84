package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/espprov/espprov/internal/rainmaker"
	"github.com/espprov/espprov/internal/server"
	simcloud "github.com/espprov/espprov/internal/sim/cloud"
	"github.com/espprov/espprov/internal/sim/device"
	"github.com/espprov/espprov/internal/sim/fleet"
	simhttpd "github.com/espprov/espprov/internal/sim/httpd"
	simonnetwork "github.com/espprov/espprov/internal/sim/onnetwork"
	simrmaker "github.com/espprov/espprov/internal/sim/rmaker"
	"github.com/espprov/espprov/services/provisioning"
)

// Credentials of the benchmark fleet (simulated devices only).
const (
	PoP         = "bench-pop-1234"
	SRPUsername = "wifiprov"
	SRPPassword = "abcd1234"
	SSID        = "BenchNet"
	Passphrase  = "bench-passphrase"
	// The simulated RainMaker cloud's account (--transport on-network).
	CloudUser     = "bench@example.com"
	CloudPassword = "bench-cloud-pass"
)

// Transports the benchmark drives.
const (
	TransportHTTPD     = "httpd"
	TransportOnNetwork = "on-network"
)

// Child roles: the processes a benchmark starts (espprov re-executes itself).
const (
	RoleServer = "server"
	RoleSim    = "sim"
)

// control is one command from the parent on the child's stdin.
type control struct {
	Cmd     string `json:"cmd"` // "mark" or "report"
	Profile string `json:"profile,omitempty"`
	// GC collects garbage before a report, so that the live heap is exact.
	GC bool `json:"gc,omitempty"`
}

// hello is the child's first line on stdout.
type hello struct {
	GRPC    string   `json:"grpc,omitempty"`
	Devices []string `json:"devices,omitempty"`
	// Parked are devices that take minutes to join Wi-Fi: provisions to
	// them stay in flight until cancelled (memory per session).
	Parked []string `json:"parked,omitempty"`
	PID    int      `json:"pid"`
	// Cloud is the simulated RainMaker cloud's base URL (on-network).
	Cloud string `json:"cloud,omitempty"`
}

// RunChild runs a benchmark child process: role with its args, reading
// control lines from in and answering on out, until in ends or ctx is done.
func RunChild(ctx context.Context, role string, args []string, in io.Reader, out io.Writer) error {
	var (
		h       hello
		cleanup func()
		count   func() int64
	)
	switch role {
	case RoleServer:
		srv, err := startServer(ctx, args)
		if err != nil {
			return err
		}
		h.GRPC = srv.GRPCAddr()
		cleanup = func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}
	case RoleSim:
		sim, err := startSim(ctx, args)
		if err != nil {
			return err
		}
		f, parked := sim.fleet, sim.parked
		h.Devices = sim.addrs
		if sim.cloud != nil {
			h.Cloud = sim.cloud.URL()
		}
		all := f.Devices()
		if parked != nil {
			for _, m := range parked.Devices() {
				h.Parked = append(h.Parked, m.Addr)
			}
			all = append(all, parked.Devices()...)
		}
		cleanup = sim.close
		count = func() int64 {
			if sim.onNet != nil {
				return sim.onNetExchanges.Load()
			}
			var n int64
			for _, m := range all {
				for _, c := range m.Device.Stats().Exchanges {
					n += int64(c)
				}
			}
			return n
		}
	default:
		return fmt.Errorf("bench: unknown child role %q", role)
	}
	defer cleanup()
	h.PID = os.Getpid()
	enc := json.NewEncoder(out)
	if err := enc.Encode(h); err != nil {
		return err
	}
	var s sampler
	defer s.halt()
	lines := make(chan []byte)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			lines <- append([]byte(nil), sc.Bytes()...)
		}
	}()
	stopProf := func() {}
	defer func() { stopProf() }()
	for {
		var line []byte
		var ok bool
		select {
		case <-ctx.Done():
			return nil
		case line, ok = <-lines:
		}
		if !ok {
			return nil
		}
		var c control
		if err := json.Unmarshal(line, &c); err != nil {
			return fmt.Errorf("bench child: control line: %w", err)
		}
		switch c.Cmd {
		case "mark":
			stopProf()
			stopProf = func() {}
			if c.Profile != "" {
				stop, err := startCPUProfile(c.Profile)
				if err != nil {
					return err
				}
				stopProf = stop
			}
			s.mark(sampleEvery)
			u := s.report()
			if count != nil {
				u.Exchanges = count()
			}
			if err := enc.Encode(u); err != nil {
				return err
			}
		case "report":
			stopProf()
			stopProf = func() {}
			if c.GC {
				fullGC()
			}
			u := s.report()
			if count != nil {
				u.Exchanges = count()
			}
			if err := enc.Encode(u); err != nil {
				return err
			}
		default:
			return fmt.Errorf("bench child: unknown command %q", c.Cmd)
		}
	}
}

func startServer(ctx context.Context, args []string) (*server.Server, error) {
	fs := flag.NewFlagSet("bench server", flag.ContinueOnError)
	level := fs.String("log-level", "info", "log level (logs are formatted and discarded, like a server logging to a file)")
	cloudURL := fs.String("cloud-url", "", "the simulated RainMaker cloud (its account: CloudUser)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(*level)); err != nil {
		return nil, err
	}
	log := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: lv}))
	cfg := provisioning.Config{Modules: provisioning.DefaultModules(), Logger: log}
	if *cloudURL != "" {
		cfg.Cloud = provisioning.CloudConfig{
			Server: rainmaker.ServerConfig{BaseURL: *cloudURL, Credentials: rainmaker.Credentials{Username: CloudUser, Password: CloudPassword}},
			Client: rainmaker.Config{Logger: log, SkipRegionCheck: true},
		}
	}
	svc := provisioning.New(cfg)
	return server.Start(ctx, server.Options{GRPCListen: "127.0.0.1:0", Service: svc, Logger: log})
}

// simArgs are the simulator child's flags.
type simArgs struct {
	transport    string
	devices      int
	secVer       int
	connectDelay time.Duration
	parked       int
}

// parkDelay is the association time of parked devices: longer than any run.
const parkDelay = time.Hour

func (a simArgs) args() []string {
	return []string{"-transport", a.transport, "-devices", fmt.Sprint(a.devices), "-sec-ver", fmt.Sprint(a.secVer),
		"-connect-delay", a.connectDelay.String(), "-parked", fmt.Sprint(a.parked)}
}

// simulation is what the simulator child runs: the fleet (httpd devices),
// the parked devices, and for on-network the simulated cloud with one
// on-network challenge-response service per device.
type simulation struct {
	fleet, parked *fleet.Fleet
	cloud         *simcloud.Cloud
	onNet         []*simonnetwork.Service
	// addrs are the addresses provisions go to (httpd or on-network).
	addrs []string
	// onNetExchanges counts the requests the on-network services handed
	// to protocomm (the version endpoint is answered by the service, not
	// the device, so the devices' own counters miss it).
	onNetExchanges atomic.Int64
}

func (s *simulation) close() {
	for _, svc := range s.onNet {
		_ = svc.Close()
	}
	if s.fleet != nil {
		_ = s.fleet.Close()
	}
	if s.parked != nil {
		_ = s.parked.Close()
	}
	if s.cloud != nil {
		s.cloud.Close()
	}
}

func startSim(ctx context.Context, args []string) (_ *simulation, err error) {
	var a simArgs
	fs := flag.NewFlagSet("bench sim", flag.ContinueOnError)
	fs.StringVar(&a.transport, "transport", TransportHTTPD, "httpd or on-network")
	fs.IntVar(&a.devices, "devices", 1, "devices")
	fs.IntVar(&a.secVer, "sec-ver", 2, "security scheme")
	fs.DurationVar(&a.connectDelay, "connect-delay", time.Millisecond, "Wi-Fi association time")
	fs.IntVar(&a.parked, "parked", 0, "devices that never finish joining Wi-Fi")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if a.devices < 1 {
		return nil, errors.New("bench sim: need at least one device")
	}
	s := &simulation{}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	fo := fleet.Options{N: a.devices, Template: deviceTemplate(a.secVer, a.connectDelay)}
	var nodes []*simrmaker.Node
	switch a.transport {
	case TransportHTTPD:
	case TransportOnNetwork:
		s.cloud = simcloud.New(simcloud.Options{})
		s.cloud.AddUser(CloudUser, CloudPassword)
		nodes = make([]*simrmaker.Node, a.devices)
		fo.Setup = func(i int, d *device.Device) error {
			// RSA-2048, the key of self-claimed RainMaker nodes (espsim's default).
			n, err := simrmaker.NewNode(simrmaker.Options{NodeID: d.Config().NodeID, KeyType: simrmaker.KeyRSA2048, ChalResp: true})
			if err != nil {
				return fmt.Errorf("bench sim: rainmaker node: %w", err)
			}
			if err := n.Register(d); err != nil {
				return fmt.Errorf("bench sim: rainmaker node: %w", err)
			}
			s.cloud.RegisterNode(n.NodeID(), n.PublicKey())
			nodes[i] = n
			return nil
		}
	default:
		return nil, fmt.Errorf("bench sim: unknown transport %q", a.transport)
	}
	if s.fleet, err = fleet.Start(ctx, fo); err != nil {
		return nil, err
	}
	for _, m := range s.fleet.Devices() {
		if a.transport == TransportHTTPD {
			s.addrs = append(s.addrs, m.Addr)
			continue
		}
		// The addresses are given to the server directly (no multicast DNS).
		opts := simonnetwork.Options{Variant: simonnetwork.Standalone, NodeID: nodes[m.Index].NodeID(),
			ListenAddr: "127.0.0.1:0", Security: m.Config.SecVer, SecPatchVer: m.Config.SecPatchVer,
			ChalRespDisabled: nodes[m.Index].Disabled, NoMDNS: true,
			HTTP: simhttpd.Options{Fault: func(string, []byte) simhttpd.Fault {
				s.onNetExchanges.Add(1)
				return simhttpd.FaultNone
			}}}
		if m.Config.SecVer == 1 {
			opts.PoP = []byte(m.Config.PoP)
		}
		svc, err := simonnetwork.Start(ctx, m.Device, opts)
		if err != nil {
			return nil, fmt.Errorf("bench sim: on-network service: %w", err)
		}
		s.onNet = append(s.onNet, svc)
		s.addrs = append(s.addrs, svc.Addr().String())
	}
	if a.parked > 0 {
		if s.parked, err = fleet.Start(ctx, fleet.Options{N: a.parked, Template: deviceTemplate(a.secVer, parkDelay)}); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func deviceTemplate(secVer int, connectDelay time.Duration) device.Config {
	c := device.Config{SecVer: secVer, APs: []device.AP{{SSID: SSID, Passphrase: Passphrase}},
		ConnectDelay: connectDelay, Recycle: true}
	switch secVer {
	case 1:
		c.PoP = PoP
	case 2:
		c.SecPatchVer, c.SRPUsername, c.SRPPassword = 1, SRPUsername, SRPPassword
	}
	return c
}
