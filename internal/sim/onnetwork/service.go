// Package simonnetwork is the device side of the RainMaker on-network
// challenge-response service (rainmaker.md §3.2–§3.4): an HTTP server with
// protocomm_httpd framing (internal/sim/httpd) serving
// esp_local_ctrl/version, esp_local_ctrl/session and ch_resp in front of a
// simulated device, announced over multicast DNS as
// `_esp_rmaker_chal_resp._tcp` with a brutella/dnssd responder.
//
// Two variants are simulated:
//
//   - Standalone (CONFIG_ESP_RMAKER_ON_NETWORK_CHAL_RESP_ENABLE): its own
//     server, default port 80; TXT pop_required only for Security 1; after a
//     successful disable the announcement is withdrawn at once and the whole
//     service stops 2 s later.
//   - LocalControl (CONFIG_ESP_RMAKER_LOCAL_CTRL_CHAL_RESP_ENABLE): the local
//     control server, default port 8080, also announced as
//     `_esp_local_ctrl._tcp`; TXT pop_required always present (true only for
//     Security 1 with a non-empty PoP); after a disable only the
//     challenge-response announcement is withdrawn and the server keeps
//     running.
//
// The ch_resp handler itself (signing, the disabled flag) belongs to the
// simulated RainMaker device; this service learns about a disable either
// through Options.ChalRespDisabled (polled around every ch_resp exchange,
// like the firmware's "flag went from enabled to disabled during that
// request") or through an explicit call to Disable.
package simonnetwork

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/espprov/espprov/internal/sim/device"
	simhttpd "github.com/espprov/espprov/internal/sim/httpd"
)

// HTTP endpoints served (same names as transports/onnetwork).
const (
	EndpointVersion  = "esp_local_ctrl/version"
	EndpointSession  = "esp_local_ctrl/session"
	EndpointChalResp = "ch_resp"
	EndpointControl  = "esp_local_ctrl/control"
)

// mDNS service types.
const (
	ServiceType          = "_esp_rmaker_chal_resp._tcp"
	LocalCtrlServiceType = "_esp_local_ctrl._tcp"
)

// Defaults from the firmware.
const (
	StandalonePort   = 80
	LocalControlPort = 8080
	// DefaultStopDelay is the standalone service's one-shot timer between a
	// successful disable and the service stop.
	DefaultStopDelay = 2 * time.Second
	// StandaloneVersion is the standalone service's esp_local_ctrl/version
	// reply.
	StandaloneVersion = `{"on_network":{"ver":"v1.0","cap":["ch_resp"]}}`
)

// Variant selects which firmware service is simulated.
type Variant int

const (
	// Standalone is the on-network challenge-response service (§3.2).
	Standalone Variant = iota
	// LocalControl is challenge-response on the local-control server (§3.3).
	LocalControl
)

func (v Variant) String() string {
	switch v {
	case Standalone:
		return "standalone"
	case LocalControl:
		return "local-control"
	}
	return "variant(" + strconv.Itoa(int(v)) + ")"
}

// Options configures a Service.
type Options struct {
	Variant Variant
	// NodeID is the node id: mDNS host name, default instance name and TXT
	// node_id. Required.
	NodeID string
	// Instance is the DNS-SD instance name (default NodeID).
	Instance string
	// ListenAddr is the TCP address to serve on (default ":80" for
	// Standalone, ":8080" for LocalControl; use "127.0.0.1:0" outside a
	// test namespace). The announced port is the one actually bound.
	ListenAddr string

	// Security is the scheme announced in TXT sec_version (0, 1 or 2); it
	// must match the device's session security.
	Security int
	// PoP is only inspected for TXT pop_required: Standalone announces true
	// for Security 1 whenever a PoP is configured (non-nil, even empty);
	// LocalControl announces true for Security 1 with a non-empty PoP.
	PoP []byte
	// Version is the esp_local_ctrl/version reply. Default: StandaloneVersion,
	// or for LocalControl {"local_ctrl":{"ver":"v1.0","sec_ver":<Security>,
	// "sec_patch_ver":<SecPatchVer>}}.
	Version string
	// SecPatchVer goes into the default LocalControl version JSON (set 1 for
	// a current-firmware Security 2 device).
	SecPatchVer int

	// SessionEndpoint is the device endpoint that runs the security
	// handshake for esp_local_ctrl/session. Default: esp_local_ctrl/session
	// when the device registers it, else prov-session.
	SessionEndpoint string
	// ChalRespEndpoint is the device endpoint serving ch_resp (default
	// "ch_resp").
	ChalRespEndpoint string
	// ExtraEndpoints are further device endpoints served under their own
	// names by the LocalControl variant (default: esp_local_ctrl/control when
	// the device registers it). Ignored for Standalone.
	ExtraEndpoints []string

	// ChalRespDisabled reports the device's challenge-response "disabled"
	// flag. When set it is read before and after every ch_resp exchange; a
	// change from false to true triggers Disable.
	ChalRespDisabled func() bool
	// StopDelay overrides DefaultStopDelay (Standalone only).
	StopDelay time.Duration

	// NoMDNS serves HTTP without any mDNS announcement.
	NoMDNS bool
	// HTTP configures the simulated HTTP server.
	HTTP simhttpd.Options
}

// Service is a running on-network service.
type Service struct {
	opts   Options
	srv    *simhttpd.Server
	mapper *pathMapper
	addr   net.Addr
	port   int
	txt    map[string]string

	wg sync.WaitGroup // serve loop, asynchronous withdrawals, stop timer

	mu        sync.Mutex
	chal      *announcement // _esp_rmaker_chal_resp._tcp
	lc        *announcement // _esp_local_ctrl._tcp (LocalControl)
	disabled  bool
	stopTimer *time.Timer
	stopped   bool
	done      chan struct{}
}

// Start listens, serves the on-network endpoints for p and announces the
// service. ctx bounds the start-up only; call Close to stop.
func Start(ctx context.Context, p device.Protocomm, opts Options) (*Service, error) {
	if p == nil {
		return nil, errors.New("simonnetwork: nil device")
	}
	o, err := normalize(p, opts)
	if err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", o.ListenAddr)
	if err != nil {
		return nil, fmt.Errorf("simonnetwork: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port

	s := &Service{opts: o, addr: l.Addr(), port: port, done: make(chan struct{})}
	s.txt = map[string]string{
		"node_id":     o.NodeID,
		"port":        strconv.Itoa(port),
		"sec_version": strconv.Itoa(o.Security),
	}
	switch o.Variant {
	case Standalone:
		if o.Security == 1 {
			s.txt["pop_required"] = strconv.FormatBool(o.PoP != nil)
		}
	case LocalControl:
		s.txt["pop_required"] = strconv.FormatBool(o.Security == 1 && len(o.PoP) > 0)
	}

	m := &pathMapper{
		p:       p,
		version: []byte(o.Version),
		routes: map[string]string{
			EndpointSession:  o.SessionEndpoint,
			EndpointChalResp: o.ChalRespEndpoint,
		},
		order:    []string{EndpointSession, EndpointVersion, EndpointChalResp},
		disabled: o.ChalRespDisabled,
	}
	if o.Variant == LocalControl {
		for _, ep := range o.ExtraEndpoints {
			if _, dup := m.routes[ep]; dup || ep == EndpointVersion {
				continue
			}
			m.routes[ep] = ep
			m.order = append(m.order, ep)
		}
	}
	if o.ChalRespDisabled != nil {
		m.afterChalResp = func(before bool) {
			if !before && o.ChalRespDisabled() {
				s.Disable()
			}
		}
	}
	s.mapper = m
	s.srv = simhttpd.New(m, o.HTTP)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		_ = s.srv.Serve(l) // ErrServerClosed after Close
	}()

	if !o.NoMDNS {
		if err := s.Announce(); err != nil {
			s.Close()
			return nil, err
		}
		if o.Variant == LocalControl {
			a, err := announce(announceConfig{instance: o.NodeID, typ: LocalCtrlServiceType, host: o.NodeID,
				port: port, txt: map[string]string{"node_id": o.NodeID}, listen: s.addr})
			if err != nil {
				s.Close()
				return nil, err
			}
			s.mu.Lock()
			s.lc = a
			s.mu.Unlock()
		}
	}
	return s, nil
}

func normalize(p device.Protocomm, o Options) (Options, error) {
	if o.NodeID == "" {
		return o, errors.New("simonnetwork: NodeID is required")
	}
	if o.Security < 0 || o.Security > 2 {
		return o, fmt.Errorf("simonnetwork: invalid security %d", o.Security)
	}
	if o.Instance == "" {
		o.Instance = o.NodeID
	}
	registered := p.Endpoints()
	switch o.Variant {
	case Standalone:
		if o.ListenAddr == "" {
			o.ListenAddr = ":" + strconv.Itoa(StandalonePort)
		}
		if o.Version == "" {
			o.Version = StandaloneVersion
		}
	case LocalControl:
		if o.ListenAddr == "" {
			o.ListenAddr = ":" + strconv.Itoa(LocalControlPort)
		}
		if o.Version == "" {
			o.Version = fmt.Sprintf(`{"local_ctrl":{"ver":"v1.0","sec_ver":%d,"sec_patch_ver":%d}}`, o.Security, o.SecPatchVer)
		}
		if o.ExtraEndpoints == nil && slices.Contains(registered, EndpointControl) {
			o.ExtraEndpoints = []string{EndpointControl}
		}
	default:
		return o, fmt.Errorf("simonnetwork: unknown variant %d", int(o.Variant))
	}
	if o.SessionEndpoint == "" {
		o.SessionEndpoint = device.EndpointSession
		if slices.Contains(registered, EndpointSession) {
			o.SessionEndpoint = EndpointSession
		}
	}
	if o.ChalRespEndpoint == "" {
		o.ChalRespEndpoint = EndpointChalResp
	}
	if o.StopDelay <= 0 {
		o.StopDelay = DefaultStopDelay
	}
	return o, nil
}

// Addr is the address the HTTP server listens on.
func (s *Service) Addr() net.Addr { return s.addr }

// Port is the bound (and announced) port.
func (s *Service) Port() int { return s.port }

// TXT returns the announced TXT records.
func (s *Service) TXT() map[string]string { return maps.Clone(s.txt) }

// Done is closed once the service has stopped (Close, or the Standalone
// stop timer after a disable).
func (s *Service) Done() <-chan struct{} { return s.done }

// Announce publishes `_esp_rmaker_chal_resp._tcp` (no-op if already
// announced or stopped). The firmware's enable call does this.
func (s *Service) Announce() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped || s.chal != nil {
		return nil
	}
	a, err := announce(announceConfig{instance: s.opts.Instance, typ: ServiceType, host: s.opts.NodeID,
		port: s.port, txt: s.txt, listen: s.addr})
	if err != nil {
		return err
	}
	s.chal = a
	return nil
}

// StopAnnouncement withdraws `_esp_rmaker_chal_resp._tcp` (goodbye packets)
// and returns when that is done. HTTP keeps serving.
func (s *Service) StopAnnouncement() {
	s.mu.Lock()
	a := s.chal
	s.chal = nil
	s.mu.Unlock()
	a.withdraw()
}

// Announced reports whether the challenge-response service is announced.
func (s *Service) Announced() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.chal != nil
}

// Disable is the firmware's reaction to a successful challenge-response
// disable: the announcement is withdrawn at once (in the background, so a
// caller inside the ch_resp handler is not delayed) and, for Standalone, the
// whole service stops after StopDelay (2 s), leaving the client time to read
// the reply. Only the first call after an enable has an effect.
func (s *Service) Disable() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.disabled || s.stopped {
		return
	}
	s.disabled = true
	a := s.chal
	s.chal = nil
	if a != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			a.withdraw()
		}()
	}
	if s.opts.Variant == Standalone && s.stopTimer == nil {
		s.wg.Add(1)
		s.stopTimer = time.AfterFunc(s.opts.StopDelay, func() {
			defer s.wg.Done()
			s.stop()
		})
	}
}

// Enable clears the disabled state and re-announces if the service still
// runs (firmware esp_rmaker_on_network_chal_resp_enable /
// esp_rmaker_local_ctrl_enable_chal_resp). It does not cancel a pending
// Standalone stop.
func (s *Service) Enable() error {
	s.mu.Lock()
	s.disabled = false
	noMDNS := s.opts.NoMDNS
	s.mu.Unlock()
	if noMDNS {
		return nil
	}
	return s.Announce()
}

// stop tears the service down: endpoints removed, HTTP server closed,
// announcements withdrawn.
func (s *Service) stop() {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	s.stopped = true
	chal, lc := s.chal, s.lc
	s.chal, s.lc = nil, nil
	s.mu.Unlock()

	s.mapper.stop()
	_ = s.srv.Close()
	var wg sync.WaitGroup
	for _, a := range []*announcement{chal, lc} {
		if a != nil {
			wg.Add(1)
			go func() {
				defer wg.Done()
				a.withdraw()
			}()
		}
	}
	wg.Wait()
	close(s.done)
}

// Close stops the service and waits for all its goroutines.
func (s *Service) Close() error {
	s.mu.Lock()
	if t := s.stopTimer; t != nil && t.Stop() {
		s.wg.Done() // the timer function will not run
	}
	s.mu.Unlock()
	s.stop()
	s.wg.Wait()
	return nil
}

// String describes the options without the PoP.
func (o Options) String() string {
	return fmt.Sprintf("Options{variant=%s node=%q instance=%q listen=%q sec=%d pop_set=%t mdns=%t}",
		o.Variant, o.NodeID, o.Instance, o.ListenAddr, o.Security, o.PoP != nil, !o.NoMDNS)
}
