package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"

	simcloud "github.com/espprov/espprov/internal/sim/cloud"
	"github.com/espprov/espprov/internal/sim/device"
	"github.com/espprov/espprov/internal/sim/fleet"
	simhttpd "github.com/espprov/espprov/internal/sim/httpd"
	simonnetwork "github.com/espprov/espprov/internal/sim/onnetwork"
	"github.com/espprov/espprov/internal/sim/peripheral"
	simrmaker "github.com/espprov/espprov/internal/sim/rmaker"
)

// Defaults of the simulated cloud account.
const (
	defaultCloudUser     = "maker@example.com"
	defaultCloudPassword = "makerpass"
)

// RainMaker modes (--rainmaker).
const (
	rmNone        = "none"
	rmChalResp    = "chal-resp"
	rmTraditional = "traditional"
)

// On-network variants (--on-network).
const (
	onNetStandalone = "standalone"
	onNetLocalCtrl  = "local-ctrl"
)

func addRainMakerFlags(fs *flag.FlagSet, o *options) {
	fs.StringVar(&o.cloudListen, "cloud-listen", "", "serve the simulated RainMaker cloud (plain HTTP) on HOST:PORT (port 0: ephemeral; the URL is printed)")
	fs.StringVar(&o.cloudUser, "cloud-user", defaultCloudUser, "cloud account user name (needs --cloud-listen)")
	fs.StringVar(&o.cloudPass, "cloud-password", "", "cloud account password (needs --cloud-listen; default "+defaultCloudPassword+")")
	fs.StringVar(&o.rainmaker, "rainmaker", rmNone, "RainMaker user-node mapping on every device: none, chal-resp or traditional (needs --cloud-listen)")
	fs.StringVar(&o.keyType, "key-type", "rsa", "RainMaker node key: rsa (RSA-2048) or ec (ECDSA P-256)")
	fs.BoolVar(&o.needsClaim, "needs-claim", false, "advertise rmaker claim: the node is not claimed yet (firmware then refuses challenge-response)")
	fs.StringVar(&o.onNetwork, "on-network", "", "serve the on-network challenge-response service per device: standalone or local-ctrl (needs --rainmaker chal-resp)")
	fs.StringVar(&o.onNetworkListen, "on-network-listen", "127.0.0.1:0", "on-network listen address HOST:PORT (port 0: ephemeral; fleet devices get consecutive ports; firmware uses :80 standalone, :8080 local-ctrl)")
	fs.BoolVar(&o.noMDNS, "no-mdns", false, "do not announce the on-network service over multicast DNS")
}

// checkRainMakerFlags validates the RainMaker flags; set holds the flags
// given on the command line.
func checkRainMakerFlags(o *options, set map[string]bool) error {
	if set["cloud-listen"] {
		host, port, err := net.SplitHostPort(o.cloudListen)
		if err != nil {
			return fmt.Errorf("--cloud-listen %q: %w", o.cloudListen, err)
		}
		if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 || host == "" {
			return fmt.Errorf("--cloud-listen %q: want HOST:PORT with a port from 0 to 65535", o.cloudListen)
		}
	}
	cloud := set["cloud-listen"]
	if (set["cloud-user"] || set["cloud-password"]) && !cloud {
		return errors.New("--cloud-user/--cloud-password need --cloud-listen")
	}
	if cloud {
		if strings.TrimSpace(o.cloudUser) == "" {
			return errors.New("--cloud-user must not be empty")
		}
		if set["cloud-password"] && o.cloudPass == "" {
			return errors.New("--cloud-password must not be empty")
		}
		if o.cloudPass == "" {
			o.cloudPass = defaultCloudPassword
		}
	}
	switch o.rainmaker {
	case rmNone:
		for _, f := range []string{"key-type", "needs-claim"} {
			if set[f] {
				return fmt.Errorf("--%s needs --rainmaker chal-resp or traditional", f)
			}
		}
	case rmChalResp, rmTraditional:
		if !cloud {
			return fmt.Errorf("--rainmaker %s needs --cloud-listen (the devices' keys are registered with the simulated cloud)", o.rainmaker)
		}
	default:
		return fmt.Errorf("--rainmaker %q: want none, chal-resp or traditional", o.rainmaker)
	}
	switch o.keyType {
	case "rsa", "ec":
	default:
		return fmt.Errorf("--key-type %q: want rsa or ec", o.keyType)
	}
	switch o.onNetwork {
	case "":
		for _, f := range []string{"on-network-listen", "no-mdns"} {
			if set[f] {
				return fmt.Errorf("--%s needs --on-network", f)
			}
		}
		return nil
	case onNetStandalone, onNetLocalCtrl:
	default:
		return fmt.Errorf("--on-network %q: want standalone or local-ctrl", o.onNetwork)
	}
	if o.rainmaker != rmChalResp {
		return errors.New("--on-network needs --rainmaker chal-resp")
	}
	if o.needsClaim {
		return errors.New("--on-network cannot serve an unclaimed node (--needs-claim): firmware refuses challenge-response until the node is claimed")
	}
	_, port, err := net.SplitHostPort(o.onNetworkListen)
	if err != nil {
		return fmt.Errorf("--on-network-listen %q: %w", o.onNetworkListen, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("--on-network-listen %q: bad port", o.onNetworkListen)
	}
	if p != 0 && p+o.fleetN-1 > 65535 {
		return fmt.Errorf("--fleet %d from on-network port %d exceeds 65535", o.fleetN, p)
	}
	return nil
}

// sim is everything espsim runs: the devices and, optionally, the
// simulated cloud, the RainMaker nodes and the on-network services.
type sim struct {
	o       *options
	cloud   *simcloud.Cloud
	fleet   *fleet.Fleet
	nodes   []*simrmaker.Node        // by device index; nil entries without --rainmaker
	onNet   []*simonnetwork.Service  // by device index; empty without --on-network
	onNetMu sync.Mutex               // guards onNet against OnDisabled callbacks
	ble     []*peripheral.Peripheral // by device index, with --ble-adapter

	closeOnce sync.Once
	closeErr  error
}

// startSim starts the cloud, the devices (with their RainMaker nodes) and
// the on-network services. On error nothing stays running.
func startSim(ctx context.Context, o *options, tmpl device.Config, host string, port int) (_ *sim, err error) {
	s := &sim{o: o, nodes: make([]*simrmaker.Node, o.fleetN)}
	defer func() {
		if err != nil {
			_ = s.close()
		}
	}()
	if o.cloudListen != "" {
		l, lerr := net.Listen("tcp", o.cloudListen)
		if lerr != nil {
			return nil, fmt.Errorf("--cloud-listen: %w", lerr)
		}
		s.cloud = simcloud.New(simcloud.Options{Listener: l})
		s.cloud.AddUser(o.cloudUser, o.cloudPass)
		o.cloudFaults.apply(s.cloud)
	}
	fo := fleet.Options{N: o.fleetN, Host: host, Port: port, Template: tmpl,
		HTTP: simhttpd.Options{Nagle: o.nagle}}
	fo.Configure = func(i int, c *device.Config) {
		o.applyFaults(i, c)
		if o.rainmaker != rmNone {
			s.configure(i, c)
		}
	}
	fo.Setup = func(i int, d *device.Device) error {
		for _, name := range o.customEPs.names {
			if err := d.RegisterEndpoint(name, device.EchoHandler(name)); err != nil {
				return fmt.Errorf("--custom-endpoint: %w", err)
			}
		}
		if o.rainmaker != rmNone {
			return s.setup(i, d)
		}
		return nil
	}
	s.fleet, err = fleet.Start(ctx, fo)
	if err != nil {
		return nil, err
	}
	if o.onNetwork != "" {
		if err := s.startOnNetwork(ctx); err != nil {
			return nil, err
		}
	}
	if err := s.startBLE(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// configure hooks device i's "online" moment: a traditional node publishes
// its user mapping to the cloud then.
func (s *sim) configure(i int, c *device.Config) {
	if s.o.rainmaker != rmTraditional {
		return
	}
	c.OnConnected = func() {
		if n := s.nodes[i]; n != nil {
			n.Online(s.cloud)
		}
	}
}

// setup installs the RainMaker node on device i and registers its public
// key with the cloud.
func (s *sim) setup(i int, d *device.Device) error {
	kt := simrmaker.KeyRSA2048
	if s.o.keyType == "ec" {
		kt = simrmaker.KeyECP256
	}
	node, err := simrmaker.NewNode(simrmaker.Options{
		NodeID:     d.Config().NodeID,
		KeyType:    kt,
		ChalResp:   s.o.rainmaker == rmChalResp,
		NeedsClaim: s.o.needsClaim,
		LocalCtrl:  s.o.onNetwork == onNetLocalCtrl,
		OnDisabled: func() {
			// A disable that came over the provisioning transport: the
			// on-network service withdraws its announcement (and the
			// standalone one stops), like the firmware's event handler.
			if svc := s.onNetService(i); svc != nil {
				svc.Disable()
			}
		},
	})
	if err != nil {
		return fmt.Errorf("rainmaker node: %w", err)
	}
	if err := node.Register(d); err != nil {
		return fmt.Errorf("rainmaker node: %w", err)
	}
	s.cloud.RegisterNode(node.NodeID(), node.PublicKey())
	s.nodes[i] = node
	return nil
}

func (s *sim) onNetService(i int) *simonnetwork.Service {
	s.onNetMu.Lock()
	defer s.onNetMu.Unlock()
	if i < len(s.onNet) {
		return s.onNet[i]
	}
	return nil
}

// startOnNetwork starts one on-network service per device, on consecutive
// ports from --on-network-listen unless that port is 0.
func (s *sim) startOnNetwork(ctx context.Context) error {
	host, portStr, _ := net.SplitHostPort(s.o.onNetworkListen)
	port, _ := strconv.Atoi(portStr)
	variant := simonnetwork.Standalone
	if s.o.onNetwork == onNetLocalCtrl {
		variant = simonnetwork.LocalControl
	}
	for _, m := range s.fleet.Devices() {
		addr := s.o.onNetworkListen
		if port != 0 {
			addr = net.JoinHostPort(host, strconv.Itoa(port+m.Index))
		}
		node := s.nodes[m.Index]
		opts := simonnetwork.Options{
			Variant:          variant,
			NodeID:           node.NodeID(),
			ListenAddr:       addr,
			Security:         m.Config.SecVer,
			SecPatchVer:      m.Config.SecPatchVer,
			ChalRespDisabled: node.Disabled,
			NoMDNS:           s.o.noMDNS,
			HTTP:             simhttpd.Options{Nagle: s.o.nagle},
		}
		if m.Config.SecVer == 1 && m.Config.PoP != "" {
			opts.PoP = []byte(m.Config.PoP) // only inspected for TXT pop_required
		}
		svc, err := simonnetwork.Start(ctx, m.Device, opts)
		if err != nil {
			return fmt.Errorf("on-network service for %s: %w", m.Config.Name, err)
		}
		s.onNetMu.Lock()
		s.onNet = append(s.onNet, svc)
		s.onNetMu.Unlock()
	}
	return nil
}

// print writes the cloud line and one line per device. Passwords, PoPs and
// keys never appear.
func (s *sim) print(w io.Writer) {
	if s.cloud != nil {
		fmt.Fprintf(w, "RainMaker cloud on %s (account %s)\n", s.cloud.URL(), s.o.cloudUser)
	}
	for _, m := range s.fleet.Devices() {
		var b strings.Builder
		fmt.Fprintf(&b, "%s listening on %s (node %s, security %d, %d APs",
			m.Config.Name, m.Addr, m.Config.NodeID, m.Config.SecVer, len(m.Config.APs))
		b.WriteString(s.o.np.describe())
		if n := s.nodes[m.Index]; n != nil {
			fmt.Fprintf(&b, ", rainmaker %s %s key", s.o.rainmaker, s.o.keyType)
			if s.o.needsClaim {
				b.WriteString(", needs claim")
			}
		}
		if svc := s.onNetService(m.Index); svc != nil {
			fmt.Fprintf(&b, ", on-network %s %s", s.o.onNetwork, svc.Addr())
			if s.o.noMDNS {
				b.WriteString(" without mDNS")
			} else {
				b.WriteString(" via mDNS")
			}
		}
		b.WriteString(")\n")
		io.WriteString(w, b.String())
	}
	s.printBLE(w)
}

// close stops the on-network services, the devices and the cloud, in that
// order. It is safe to call more than once.
func (s *sim) close() error {
	s.closeOnce.Do(func() {
		var errs []error
		if err := s.closeBLE(); err != nil {
			errs = append(errs, fmt.Errorf("ble: %w", err))
		}
		s.onNetMu.Lock()
		svcs := s.onNet
		s.onNetMu.Unlock()
		for _, svc := range svcs {
			if err := svc.Close(); err != nil {
				errs = append(errs, fmt.Errorf("on-network: %w", err))
			}
		}
		if s.fleet != nil {
			if err := s.fleet.Close(); err != nil {
				errs = append(errs, err)
			}
		}
		if s.cloud != nil {
			s.cloud.Close()
		}
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}
