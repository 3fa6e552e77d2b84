package device

import (
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/espprov/espprov/security"
)

// Endpoint names registered by the provisioning manager, in registration
// (BLE characteristic) order.
const (
	EndpointCtrl    = "prov-ctrl"
	EndpointScan    = "prov-scan"
	EndpointSession = "prov-session"
	EndpointConfig  = "prov-config"
	EndpointVersion = "proto-ver"
)

var builtinEndpoints = []string{EndpointCtrl, EndpointScan, EndpointSession, EndpointConfig, EndpointVersion}

// Defaults taken from the firmware (protocol.md §8.4, §9).
const (
	DefaultConnectDelay    = time.Second
	DefaultCleanupDelay    = time.Second
	DefaultAutoStopTimeout = 30 * time.Second
	DefaultScanMaxEntries  = 16
	DefaultSRPUsername     = "wifiprov"
)

var (
	// ErrStopped is returned by Handle once provisioning has stopped (auto-stop
	// after success): the firmware has torn its endpoints down.
	ErrStopped = errors.New("device: provisioning stopped")
	// ErrNoSession: an encrypted endpoint was used before the Security 1/2
	// handshake completed.
	ErrNoSession = errors.New("device: secure session not established")
	// ErrEmptyRequest: the request carried no bytes.
	ErrEmptyRequest = errors.New("device: empty request")
)

// AP is an access point the simulated device can see and join.
type AP struct {
	SSID string
	// Passphrase is the network key; empty means an open network.
	Passphrase string
	// BSSID defaults to 24:0a:c4 followed by three bytes derived from SSID.
	BSSID [6]byte
	// Channel 1..14; 0 means 1.
	Channel int
	// RSSI in dBm (negative); 0 means -60.
	RSSI int
	// Auth is the raw ESP-IDF wifi_auth_mode_t reported in scan results and
	// in the Connected status (0..16). 0 with a non-empty Passphrase means
	// WPA2_PSK (3).
	Auth uint32
}

// String describes the AP without its passphrase.
func (a AP) String() string {
	return fmt.Sprintf("AP{ssid=%q bssid=%x ch=%d rssi=%d auth=%d}", a.SSID, a.BSSID, a.Channel, a.RSSI, a.Auth)
}

// Config describes one simulated device. Zero values select firmware
// defaults.
type Config struct {
	// MAC is the station MAC; zero draws a random locally administered one.
	MAC [6]byte
	// Name is the service name; default "PROV_" + the last three MAC bytes in
	// upper-case hex, like the ESP-IDF examples.
	Name string
	// NodeID is the RainMaker node id; default the MAC in upper-case hex.
	NodeID string

	// SecVer is the protocomm security scheme: 0, 1 or 2.
	SecVer int
	// SecPatchVer is the Security 2 patch level: 1 (counter IV, fixed
	// firmware) or 0 (fixed 16-byte IV, pre-fix firmware, which also omits
	// "sec_patch_ver" from proto-ver). Must be 0 for Security 0 and 1.
	SecPatchVer int
	// PoP is the Security 1 proof of possession; empty advertises "no_pop".
	PoP string
	// SRPUsername/SRPPassword are the Security 2 credentials; the device keeps
	// only the salt and verifier computed from them in New.
	SRPUsername string
	SRPPassword string
	// SRPSalt is the Security 2 salt; empty draws a fresh one from Rand.
	SRPSalt []byte

	// APs are the networks in range.
	APs []AP
	// ConnectDelay is the time from ApplyConfig to the outcome of each
	// connection attempt (firmware: 1 s timer before connecting).
	ConnectDelay time.Duration
	// WifiConnAttempts limits connection attempts (0 = unlimited, firmware
	// default): each failed attempt reports attempt_failed until the limit.
	WifiConnAttempts int
	// StationIP is the address reported when connected; default
	// 192.168.1.x derived from the MAC.
	StationIP string

	// NoAutoStop disables the firmware auto-stop (and enables CtrlReprov).
	NoAutoStop bool
	// Recycle makes the device stand for a production line: a new transport
	// session after credentials were applied finds a fresh device in
	// factory state (counters are kept). Benchmarks use it to provision one
	// simulated device many times.
	Recycle bool
	// Faults are misbehaviours at given steps (fault injection), each
	// firing once unless it says otherwise; Reset re-arms them.
	Faults []Fault
	// SlowAssociation is how long the association takes when a "slow@wifi"
	// fault fires (default 30 s).
	SlowAssociation time.Duration
	// CleanupDelay is the delay between a GetStatus that answered Connected
	// and the stop (default 1 s).
	CleanupDelay time.Duration
	// AutoStopTimeout stops provisioning this long after the connection when
	// no GetStatus reported it (default 30 s).
	AutoStopTimeout time.Duration

	// ScanMaxEntries caps scan results (default 16).
	ScanMaxEntries int
	// ScanDuration is how long a scan takes (default 0: instant). A blocking
	// ScanStart sleeps for it in real time.
	ScanDuration time.Duration

	// NetProv makes an ESP-IDF 6 network_provisioning device: proto-ver
	// "netprov-v1.2" with wifi_prov/wifi_scan and/or thread_prov/thread_scan,
	// and the network_config/network_scan/network_ctrl messages.
	NetProv bool
	// NoWifi: a NetProv device built without Wi-Fi (Thread only); its Wi-Fi
	// messages answer InvalidArgument.
	NoWifi bool
	// Thread: a NetProv device built with Thread.
	Thread bool
	// ThreadNetworks are the Thread networks in range.
	ThreadNetworks []ThreadNetwork
	// ThreadAttachDelay is the time from ApplyThreadConfig to attached for a
	// dataset that matches a network in range (default 2 s).
	ThreadAttachDelay time.Duration
	// ThreadAttachTimeout is the firmware's attach timer (default 20 s): a
	// dataset matching no network (or with a wrong network key) fails with
	// ThreadNetworkNotFound after it.
	ThreadAttachTimeout time.Duration

	// AppInfo objects precede "prov" in the proto-ver JSON.
	AppInfo []AppInfo

	// Rand is the randomness source (default crypto/rand).
	Rand io.Reader
	// Now is the clock (default time.Now); tests may make time jump.
	Now func() time.Time
	// OnConnected, when set, runs once (in its own goroutine) when a
	// GetStatus first reports the station connected for the applied
	// credentials: the node is online (RainMaker: it publishes its user
	// mapping).
	OnConnected func()
	// NewHandshaker, when set, replaces the built-in device handshaker for
	// SecVer (custom schemes, tests).
	NewHandshaker func() (security.Handshaker, error)
}

// String describes the configuration without any secret.
func (c Config) String() string {
	return fmt.Sprintf("Config{name=%q node=%q sec=%d patch=%d pop=%t srp_user=%q aps=%d netprov=%t thread_networks=%d}",
		c.Name, c.NodeID, c.SecVer, c.SecPatchVer, c.PoP != "", c.SRPUsername, len(c.APs), c.NetProv, len(c.ThreadNetworks))
}

// Stats counts what a device saw, for tests.
type Stats struct {
	// Exchanges per endpoint (every Handle call that reached a registered
	// endpoint, successful or not).
	Exchanges map[string]int
	// SessionsOpened counts transport sessions that started a fresh
	// security session.
	SessionsOpened int
	// HandshakesCompleted counts prov-session exchanges that completed a
	// handshake.
	HandshakesCompleted int
	// RejectedProofs counts handshakes refused for a wrong PoP / SRP password.
	RejectedProofs int
	// Failures counts exchanges that failed at transport level.
	Failures int
}

type appEndpoint struct {
	name string
	h    func([]byte) ([]byte, error)
}

// Device is a simulated ESP32 running protocomm + wifi_prov_mgr. It is safe
// for concurrent use; exchanges are serialized like on the firmware.
type Device struct {
	cfg      Config // normalized, immutable after New
	salt     []byte
	verifier []byte

	xmu sync.Mutex // serializes exchanges (session, cipher, dispatch)
	// session state, guarded by xmu
	sessID      string
	sessOpen    bool
	hs          security.Handshaker
	established bool
	cipher      security.Cipher
	faults      faultState

	mu     sync.Mutex // guards everything below
	apps   []AppInfo
	eps    []appEndpoint
	stats  Stats
	wifi   wifiState
	thread threadState
}

// New validates cfg, fills in defaults and returns a device in factory state.
func New(cfg Config) (*Device, error) {
	c, err := normalize(cfg)
	if err != nil {
		return nil, fmt.Errorf("device: %w", err)
	}
	d := &Device{cfg: c, apps: slices.Clone(c.AppInfo), faults: faultState{fired: make([]int, len(c.Faults))}}
	if c.SecVer == 2 && c.NewHandshaker == nil {
		if d.salt, d.verifier, err = srpCredentials(c); err != nil {
			return nil, fmt.Errorf("device: security 2 credentials: %w", err)
		}
	}
	d.resetLocked()
	return d, nil
}

func normalize(c Config) (Config, error) {
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.MAC == ([6]byte{}) {
		if _, err := io.ReadFull(c.Rand, c.MAC[:]); err != nil {
			return c, fmt.Errorf("drawing a MAC: %w", err)
		}
		c.MAC[0] = c.MAC[0]&^1 | 2 // unicast, locally administered
	}
	if c.Name == "" {
		c.Name = fmt.Sprintf("PROV_%02X%02X%02X", c.MAC[3], c.MAC[4], c.MAC[5])
	}
	if len(c.Name) > 32 {
		return c, fmt.Errorf("name %q longer than 32 bytes", c.Name)
	}
	if c.NodeID == "" {
		c.NodeID = fmt.Sprintf("%X", c.MAC[:])
	}
	switch c.SecVer {
	case 0, 1, 2:
	default:
		return c, fmt.Errorf("security version %d not supported (want 0, 1 or 2)", c.SecVer)
	}
	switch {
	case c.SecPatchVer != 0 && c.SecPatchVer != 1:
		return c, fmt.Errorf("security patch version %d not supported (want 0 or 1)", c.SecPatchVer)
	case c.SecPatchVer == 1 && c.SecVer != 2:
		return c, fmt.Errorf("security patch version 1 applies to Security 2 only (security version is %d)", c.SecVer)
	}
	if c.PoP != "" && c.SecVer != 1 {
		return c, fmt.Errorf("a proof of possession applies to Security 1 only (security version is %d)", c.SecVer)
	}
	if c.SecVer == 2 {
		if c.SRPUsername == "" && c.NewHandshaker == nil {
			c.SRPUsername = DefaultSRPUsername
		}
		if c.SRPPassword == "" && c.NewHandshaker == nil {
			return c, errors.New("security 2 needs an SRP password")
		}
		if len(c.SRPSalt) > 0 && c.SRPSalt[0] == 0 {
			return c, errors.New("SRP salt must not start with a zero byte (esp_prov hashes it minimal big-endian)")
		}
	} else if c.SRPUsername != "" || c.SRPPassword != "" || len(c.SRPSalt) > 0 {
		return c, fmt.Errorf("SRP credentials apply to Security 2 only (security version is %d)", c.SecVer)
	}
	if c.ConnectDelay < 0 || c.CleanupDelay < 0 || c.AutoStopTimeout < 0 || c.ScanDuration < 0 {
		return c, errors.New("negative delay")
	}
	if c.ConnectDelay == 0 {
		c.ConnectDelay = DefaultConnectDelay
	}
	if c.SlowAssociation <= 0 {
		c.SlowAssociation = 30 * time.Second
	}
	for _, f := range c.Faults {
		if !slices.Contains(FaultKinds, f.Kind) || f.Step == "" || f.Times < 0 {
			return c, fmt.Errorf("fault %v: unknown kind, empty step or negative count", f)
		}
	}
	c.Faults = slices.Clone(c.Faults)
	if c.CleanupDelay == 0 {
		c.CleanupDelay = DefaultCleanupDelay
	}
	if c.AutoStopTimeout == 0 {
		c.AutoStopTimeout = DefaultAutoStopTimeout
	}
	if c.WifiConnAttempts < 0 {
		return c, fmt.Errorf("wifi connection attempts %d is negative", c.WifiConnAttempts)
	}
	if c.ScanMaxEntries < 0 {
		return c, fmt.Errorf("scan max entries %d is negative", c.ScanMaxEntries)
	}
	if c.ScanMaxEntries == 0 {
		c.ScanMaxEntries = DefaultScanMaxEntries
	}
	if c.StationIP == "" {
		c.StationIP = fmt.Sprintf("192.168.1.%d", 2+int(c.MAC[5])%250)
	} else if a, err := netip.ParseAddr(c.StationIP); err != nil || !a.Is4() {
		return c, fmt.Errorf("station IP %q is not an IPv4 address", c.StationIP)
	}
	aps := make([]AP, len(c.APs))
	for i, ap := range c.APs {
		if ap.SSID == "" || len(ap.SSID) > 32 {
			return c, fmt.Errorf("AP %d: SSID must be 1..32 bytes", i)
		}
		if strings.IndexByte(ap.SSID, 0) >= 0 {
			return c, fmt.Errorf("AP %d (%q): SSID contains a NUL byte", i, ap.SSID)
		}
		if len(ap.Passphrase) > 63 || strings.IndexByte(ap.Passphrase, 0) >= 0 {
			return c, fmt.Errorf("AP %d (%q): passphrase longer than 63 bytes or containing NUL", i, ap.SSID)
		}
		if ap.Channel == 0 {
			ap.Channel = 1
		}
		if ap.Channel < 1 || ap.Channel > 14 {
			return c, fmt.Errorf("AP %d (%q): channel %d outside 1..14", i, ap.SSID, ap.Channel)
		}
		if ap.RSSI == 0 {
			ap.RSSI = -60
		}
		if ap.RSSI > 0 || ap.RSSI < -128 {
			return c, fmt.Errorf("AP %d (%q): RSSI %d outside -128..-1", i, ap.SSID, ap.RSSI)
		}
		if ap.Auth == 0 && ap.Passphrase != "" {
			ap.Auth = 3 // WPA2_PSK
		}
		if ap.Auth > 16 {
			return c, fmt.Errorf("AP %d (%q): auth mode %d outside 0..16", i, ap.SSID, ap.Auth)
		}
		if ap.BSSID == ([6]byte{}) {
			h := sha256.Sum256([]byte(ap.SSID))
			ap.BSSID = [6]byte{0x24, 0x0a, 0xc4, h[0], h[1], h[2]}
		}
		aps[i] = ap
	}
	c.APs = aps
	for i, a := range c.AppInfo {
		if a.Label == "" {
			return c, fmt.Errorf("app info %d: empty label", i)
		}
		if a.Label == "prov" {
			return c, errors.New(`app info label "prov" is reserved`)
		}
	}
	c.AppInfo = slices.Clone(c.AppInfo)
	if err := normalizeNetProv(&c); err != nil {
		return c, err
	}
	return c, nil
}

// Config returns the normalized configuration (defaults filled in).
// It contains the secrets given to New; never log it with %+v — its String
// method hides them.
func (d *Device) Config() Config {
	c := d.cfg
	c.APs = slices.Clone(c.APs)
	c.AppInfo = slices.Clone(c.AppInfo)
	c.ThreadNetworks = slices.Clone(c.ThreadNetworks)
	return c
}

// Name returns the service name.
func (d *Device) Name() string { return d.cfg.Name }

// RegisterEndpoint adds an application endpoint after proto-ver (creation
// order). Its payloads are encrypted with the session cipher like
// prov-config. h must not call back into Handle.
func (d *Device) RegisterEndpoint(name string, h func(req []byte) ([]byte, error)) error {
	if name == "" || h == nil {
		return errors.New("device: endpoint needs a name and a handler")
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if slices.Contains(builtinEndpoints, name) || slices.ContainsFunc(d.eps, func(e appEndpoint) bool { return e.name == name }) {
		return fmt.Errorf("device: endpoint %q already registered", name)
	}
	d.eps = append(d.eps, appEndpoint{name, h})
	return nil
}

// SetAppInfo adds an application object to the proto-ver JSON, before
// "prov", after the objects added earlier (like wifi_prov_mgr_set_app_info).
func (d *Device) SetAppInfo(label, ver string, caps ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.apps = append(d.apps, AppInfo{Label: label, Ver: ver, Caps: slices.Clone(caps)})
}

// Endpoints implements Protocomm.
func (d *Device) Endpoints() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := slices.Clone(builtinEndpoints)
	for _, e := range d.eps {
		out = append(out, e.name)
	}
	return out
}

// CloseSession implements Protocomm.
func (d *Device) CloseSession(session string) {
	d.xmu.Lock()
	defer d.xmu.Unlock()
	if d.sessOpen && d.sessID == session {
		d.dropSessionLocked()
	}
}

func (d *Device) dropSessionLocked() {
	d.faults.session = 0
	d.sessOpen = false
	d.sessID = ""
	d.hs = nil
	d.established = false
	d.cipher = nil
}

// Stats returns a snapshot of the counters.
func (d *Device) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.stats
	s.Exchanges = make(map[string]int, len(d.stats.Exchanges))
	for k, v := range d.stats.Exchanges {
		s.Exchanges[k] = v
	}
	return s
}

// Reset returns the device to factory state: no session, no credentials,
// provisioning started, counters cleared. Registered endpoints and app info
// (firmware code) stay.
func (d *Device) Reset() {
	d.xmu.Lock()
	defer d.xmu.Unlock()
	d.dropSessionLocked()
	d.faults.fired = make([]int, len(d.cfg.Faults))
	d.mu.Lock()
	defer d.mu.Unlock()
	d.resetLocked()
}

func (d *Device) resetLocked() {
	d.stats = Stats{Exchanges: map[string]int{}}
	d.wifi = wifiState{}
	d.thread = threadState{}
}

// Handle implements Protocomm.
func (d *Device) Handle(session, endpoint string, request []byte) ([]byte, error) {
	d.xmu.Lock()
	defer d.xmu.Unlock()

	d.mu.Lock()
	now := d.cfg.Now()
	if d.cfg.Recycle && (!d.sessOpen || d.sessID != session) && (d.wifi.applied != nil || d.wifi.pending != nil) {
		d.wifi = wifiState{}
	}
	if d.stoppedLocked(now) {
		d.mu.Unlock()
		return nil, ErrStopped
	}
	var app func([]byte) ([]byte, error)
	if !slices.Contains(builtinEndpoints, endpoint) {
		i := slices.IndexFunc(d.eps, func(e appEndpoint) bool { return e.name == endpoint })
		if i < 0 {
			d.mu.Unlock()
			return nil, fmt.Errorf("%w: %q", ErrUnknownEndpoint, endpoint)
		}
		app = d.eps[i].h
	}
	d.stats.Exchanges[endpoint]++
	if !d.sessOpen || d.sessID != session {
		d.stats.SessionsOpened++
	}
	d.mu.Unlock()

	if !d.sessOpen || d.sessID != session {
		d.dropSessionLocked()
		d.sessOpen, d.sessID = true, session
	}
	out, err := d.exchange(endpoint, request, app)
	if err != nil {
		d.mu.Lock()
		d.stats.Failures++
		d.mu.Unlock()
		return nil, err
	}
	return out, nil
}

func (d *Device) exchange(endpoint string, req []byte, app func([]byte) ([]byte, error)) ([]byte, error) {
	if len(req) == 0 {
		return nil, fmt.Errorf("%s: %w", endpoint, ErrEmptyRequest)
	}
	switch endpoint {
	case EndpointVersion:
		return d.withFault(StepProtoVer, func() ([]byte, error) { return d.protoVer(), nil })
	case EndpointSession:
		step := fmt.Sprintf("session-%d", d.faults.session)
		d.faults.session++
		return d.withFault(step, func() ([]byte, error) { return d.sessionStep(req) })
	}
	cipher, err := d.sessionCipher()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", endpoint, err)
	}
	plain, err := cipher.Decrypt(req)
	if err != nil {
		return nil, fmt.Errorf("device: %s: decrypt: %w", endpoint, err)
	}
	kind, faulty := d.faultAt(configStep(endpoint, plain))
	switch {
	case faulty && kind == FaultDrop:
		return nil, fmt.Errorf("device: %s: %w", endpoint, errFaultDrop)
	case faulty && kind == FaultStall:
		return nil, ErrStall
	}
	var resp []byte
	switch {
	case endpoint == EndpointConfig && d.cfg.NetProv:
		resp, err = d.handleNetConfig(plain)
	case endpoint == EndpointScan && d.cfg.NetProv:
		resp, err = d.handleNetScan(plain)
	case endpoint == EndpointCtrl && d.cfg.NetProv:
		resp, err = d.handleNetCtrl(plain)
	case endpoint == EndpointConfig:
		resp, err = d.handleConfig(plain)
	case endpoint == EndpointScan:
		resp, err = d.handleScan(plain)
	case endpoint == EndpointCtrl:
		resp, err = d.handleCtrl(plain)
	default:
		resp, err = app(plain)
		if err != nil {
			err = fmt.Errorf("device: %s: handler: %w", endpoint, err)
		}
	}
	if err != nil {
		return nil, err
	}
	if faulty && kind == FaultNonce {
		// Skip one IV counter value (Security 2) or keystream block.
		if _, err := cipher.Encrypt(resp); err != nil {
			return nil, fmt.Errorf("device: %s: encrypt: %w", endpoint, err)
		}
	}
	out, err := cipher.Encrypt(resp)
	if err != nil {
		return nil, fmt.Errorf("device: %s: encrypt: %w", endpoint, err)
	}
	if faulty {
		out = d.applyReplyFault(kind, out)
	}
	return out, nil
}

// withFault runs an unencrypted step with the fault configured for it.
func (d *Device) withFault(step string, f func() ([]byte, error)) ([]byte, error) {
	kind, faulty := d.faultAt(step)
	switch {
	case faulty && kind == FaultDrop:
		return nil, fmt.Errorf("device: %s: %w", step, errFaultDrop)
	case faulty && kind == FaultStall:
		return nil, ErrStall
	}
	out, err := f()
	if err == nil && faulty {
		out = d.applyReplyFault(kind, out)
	}
	return out, err
}

// sessionCipher returns the cipher for encrypted endpoints: the identity for
// Security 0 (the firmware does not need a handshake there), the session
// cipher once the Security 1/2 handshake completed.
func (d *Device) sessionCipher() (security.Cipher, error) {
	if d.established && d.cipher != nil {
		return d.cipher, nil
	}
	if d.cfg.SecVer == 0 && d.cfg.NewHandshaker == nil {
		return security.Identity{}, nil
	}
	return nil, fmt.Errorf("%w (%w)", ErrNoSession, security.ErrNotEstablished)
}

func (d *Device) sessionStep(req []byte) ([]byte, error) {
	if d.hs == nil {
		hs, err := d.newHandshaker()
		if err != nil {
			return nil, fmt.Errorf("device: prov-session: %w", err)
		}
		d.hs = hs
	}
	out, done, err := d.hs.Step(req)
	if err != nil {
		d.established, d.cipher = false, nil
		if errors.Is(err, security.ErrRejected) {
			d.mu.Lock()
			d.stats.RejectedProofs++
			d.mu.Unlock()
		}
		return nil, fmt.Errorf("device: prov-session: %w", err)
	}
	d.established, d.cipher = done, nil
	if done {
		d.cipher = d.hs.Cipher()
		d.mu.Lock()
		d.stats.HandshakesCompleted++
		d.mu.Unlock()
	}
	return out, nil
}

func (d *Device) protoVer() []byte {
	d.mu.Lock()
	apps := d.apps
	d.mu.Unlock()
	patch := d.cfg.SecPatchVer
	if d.cfg.SecVer == 2 && patch == 0 {
		patch = -1 // pre-fix firmware has no sec_patch_ver key
	}
	if d.cfg.NetProv {
		var caps []string
		if !d.cfg.NoWifi {
			caps = append(caps, "wifi_prov", "wifi_scan")
		}
		if d.cfg.Thread {
			caps = append(caps, "thread_prov", "thread_scan")
		}
		return protoVerJSON(apps, netProvMgrVersion, d.cfg.SecVer, patch, d.cfg.PoP == "", caps)
	}
	return protoVerJSON(apps, provMgrVersion, d.cfg.SecVer, patch, d.cfg.PoP == "", []string{"wifi_scan"})
}

// EchoReplyPrefix starts every reply of an EchoHandler endpoint.
const EchoReplyPrefix = "espsim-echo:"

// EchoHandler is an application endpoint (like one made with
// wifi_prov_mgr_endpoint_create) that answers EchoReplyPrefix, its name, a
// colon and the request: a client can tell its reply from any other.
func EchoHandler(name string) func([]byte) ([]byte, error) {
	prefix := EchoReplyPrefix + name + ":"
	return func(req []byte) ([]byte, error) {
		out := make([]byte, 0, len(prefix)+len(req))
		return append(append(out, prefix...), req...), nil
	}
}
