// Package provisioning implements the espprov.v1 ProvisioningService: it
// knows the provisioning flow (capabilities, security, session, Wi-Fi,
// mapping) and delegates wire details to transport modules and the
// protocomm session layer.
package provisioning

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/poll"
	"github.com/espprov/espprov/internal/protocomm"
	"github.com/espprov/espprov/internal/validate"
	"github.com/espprov/espprov/internal/wifiprov"
	"github.com/espprov/espprov/services/profiles"
	"github.com/espprov/espprov/transports"
)

// Module reaches devices over one transport. Modules translate the API's
// Device message into a transport's own options; transports never see
// protobuf.
type Module interface {
	// Dial validates d (returning an InvalidArgument status for bad input)
	// and connects. exchange bounds each exchange.
	Dial(ctx context.Context, d *espprovv1.Device, exchange time.Duration) (transports.Transport, error)
}

// Validator is a Module that can check a Device without any I/O, so that
// bad input is refused before anything (device or cloud) is contacted.
type Validator interface {
	Validate(d *espprovv1.Device) error
}

// Discoverer is a Module that can list devices.
type Discoverer interface {
	Discover(ctx context.Context, d *espprovv1.Device, timeout time.Duration, found func(*espprovv1.DiscoverResponse) error) error
}

// ScanTuner is a Module that wants grouped-channel scans (soft-AP: 5).
type ScanTuner interface {
	ScanGroupChannels() uint32
}

// Defaults for Timeouts fields left zero.
const (
	DefaultExchangeTimeout = 10 * time.Second
	DefaultOverallTimeout  = 3 * time.Minute
	DefaultWifiTimeout     = 60 * time.Second
	// DefaultStatusPoll is the longest gap between Wi-Fi status polls
	// (they start 10 ms apart: see internal/poll).
	DefaultStatusPoll = poll.DefaultMax
	MinStatusPoll     = 10 * time.Millisecond
	MaxTimeout        = time.Hour
	// pollErrorBudget is how many failed status reads in a row are tolerated
	// (esp_prov tolerates 3).
	pollErrorBudget = 3
)

// Config configures a Service.
type Config struct {
	// Modules by transport; nil entries are "not available in this build".
	Modules map[espprovv1.Transport]Module
	// Logger receives structured logs without secrets. Default: discard.
	Logger *slog.Logger
	// Cloud configures RainMaker mapping.
	Cloud CloudConfig
	// ResolveHost resolves device host names for the one-call-per-device
	// lock (default ResolveHost).
	ResolveHost HostResolver
	// MaxHandshakes bounds the Security 1/2 handshakes running at once
	// (CPU work); further calls queue in arrival order. Default: the
	// number of usable cores (GOMAXPROCS).
	MaxHandshakes int
	// Profiles are the station profiles requests may name (nil: none).
	Profiles *profiles.Set
}

// Service implements espprovv1.ProvisioningServiceServer.
type Service struct {
	espprovv1.UnimplementedProvisioningServiceServer
	handshakes handshakeLimiter
	modules    map[espprovv1.Transport]Module
	log        *slog.Logger
	cloud      CloudConfig
	clouds     cloudClients
	// locks holds the devices with an operation in progress: protocomm has
	// one session per device, so a second client would break the first.
	locks    deviceLocks
	resolve  HostResolver
	profiles *profiles.Set
}

// New returns a Service.
func New(cfg Config) *Service {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	mods := map[espprovv1.Transport]Module{}
	for k, v := range cfg.Modules {
		if v != nil {
			mods[k] = v
		}
	}
	res := cfg.ResolveHost
	if res == nil {
		res = ResolveHost
	}
	return &Service{modules: mods, log: log, cloud: cfg.Cloud, resolve: res, handshakes: newHandshakeLimiter(cfg.MaxHandshakes), profiles: cfg.Profiles}
}

type timeouts struct {
	exchange, overall, wifi, poll, thread time.Duration
	// pollSet: status_poll was given, and caps every gap between status
	// reads (no dense phase: see poll.Schedule).
	pollSet bool
}

func durationField(name string, d interface{ AsDuration() time.Duration }, isNil bool, def time.Duration) (time.Duration, error) {
	if isNil {
		return def, nil
	}
	v := d.AsDuration()
	switch {
	case v < 0:
		return 0, invalid("timeouts.%s must not be negative (got %s)", name, v)
	case v == 0:
		return def, nil
	case v > MaxTimeout:
		return 0, invalid("timeouts.%s must be at most %s (got %s)", name, MaxTimeout, v)
	}
	return v, nil
}

func parseTimeouts(t *espprovv1.Timeouts) (timeouts, error) {
	var out timeouts
	var err error
	if out.exchange, err = durationField("exchange", t.GetExchange(), t.GetExchange() == nil, DefaultExchangeTimeout); err != nil {
		return out, err
	}
	if out.overall, err = durationField("overall", t.GetOverall(), t.GetOverall() == nil, DefaultOverallTimeout); err != nil {
		return out, err
	}
	if out.wifi, err = durationField("wifi_connect", t.GetWifiConnect(), t.GetWifiConnect() == nil, DefaultWifiTimeout); err != nil {
		return out, err
	}
	if out.poll, err = durationField("status_poll", t.GetStatusPoll(), t.GetStatusPoll() == nil, DefaultStatusPoll); err != nil {
		return out, err
	}
	if out.thread, err = durationField("thread_attach", t.GetThreadAttach(), t.GetThreadAttach() == nil, DefaultThreadAttachTimeout); err != nil {
		return out, err
	}
	out.pollSet = t.GetStatusPoll().AsDuration() > 0
	if out.poll < MinStatusPoll {
		return out, invalid("timeouts.status_poll must be at least %s (got %s)", MinStatusPoll, out.poll)
	}
	return out, nil
}

func (s *Service) module(d *espprovv1.Device) (Module, error) {
	tr := d.GetTransport()
	if tr == espprovv1.Transport_TRANSPORT_UNSPECIFIED {
		return nil, invalid("device.transport is required: one of softap, httpd, ble, console, on_network")
	}
	if _, known := espprovv1.Transport_name[int32(tr)]; !known {
		return nil, invalid("device.transport %d is not a known transport: use softap, httpd, ble, console or on_network", tr)
	}
	m, ok := s.modules[tr]
	if !ok {
		return nil, status.Errorf(codes.Unimplemented, "transport %s is not available in this server", tr)
	}
	if v, ok := m.(Validator); ok {
		if err := v.Validate(d); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// checkRequest validates what every device RPC carries — timeouts, the
// device (transport available, target well-formed) and the security
// choice — before anything is contacted.
func (s *Service) checkRequest(d *espprovv1.Device, sec *espprovv1.Security, t *espprovv1.Timeouts) (timeouts, error) {
	if err := checkFields(validate.Timeouts(t), validate.Device(d), validate.Security(sec)); err != nil {
		return timeouts{}, err
	}
	to, err := parseTimeouts(t)
	if err != nil {
		return to, err
	}
	if _, err := s.module(d); err != nil {
		return to, err
	}
	if _, err := requestedScheme(sec); err != nil {
		return to, err
	}
	return to, nil
}

func requestedScheme(sec *espprovv1.Security) (protocomm.Scheme, error) {
	switch sec.GetScheme() {
	case espprovv1.SecurityScheme_SECURITY_SCHEME_UNSPECIFIED:
		return protocomm.Auto, nil
	case espprovv1.SecurityScheme_SECURITY_SCHEME_0:
		return protocomm.Scheme0, nil
	case espprovv1.SecurityScheme_SECURITY_SCHEME_1:
		return protocomm.Scheme1, nil
	case espprovv1.SecurityScheme_SECURITY_SCHEME_2:
		return protocomm.Scheme2, nil
	}
	return 0, invalid("security.scheme %d is not valid: use SECURITY_SCHEME_0, _1, _2 or leave it unset to auto-detect", sec.GetScheme())
}

func apiScheme(s protocomm.Scheme) espprovv1.SecurityScheme {
	switch s {
	case protocomm.Scheme0:
		return espprovv1.SecurityScheme_SECURITY_SCHEME_0
	case protocomm.Scheme1:
		return espprovv1.SecurityScheme_SECURITY_SCHEME_1
	case protocomm.Scheme2:
		return espprovv1.SecurityScheme_SECURITY_SCHEME_2
	}
	return espprovv1.SecurityScheme_SECURITY_SCHEME_UNSPECIFIED
}

// timedTransport bounds every exchange with the exchange timeout.
type timedTransport struct {
	transports.Transport
	d time.Duration
}

// Unwrap implements transports.Wrapper.
func (t timedTransport) Unwrap() transports.Transport { return t.Transport }

func (t timedTransport) Exchange(ctx context.Context, ep string, req []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, t.d)
	defer cancel()
	reply, err := t.Transport.Exchange(ctx, ep, req)
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) && !errors.Is(err, transports.ErrTimeout) {
		err = fmt.Errorf("%w after %s: %w", transports.ErrTimeout, t.d, err)
	}
	return reply, err
}

// conn is an open, secured connection to one device.
type conn struct {
	mod     Module
	release func()
	raw     transports.Transport // as dialled, for its Limits
	t       transports.Transport // raw with the exchange timeout
	version protocomm.Version
	scheme  protocomm.Scheme
	source  string
	sess    *protocomm.Session
	// gen is the provisioning generation in use; hasWifi/hasThread the
	// network types the device offers.
	gen                protocomm.Generation
	hasWifi, hasThread bool
	// handshakeWait is how long the handshake queued for a slot (0: none).
	handshakeWait time.Duration
}

func (c *conn) close() {
	if c.t != nil {
		_ = c.t.Close()
	}
	if c.release != nil {
		c.release()
	}
}

func (c *conn) deviceInfo() *espprovv1.DeviceInfo {
	v := c.version
	info := &espprovv1.DeviceInfo{
		Version:        v.Ver,
		Security:       apiScheme(c.scheme),
		SecPatchVer:    uint32(v.SecPatchVer),
		Capabilities:   v.Caps,
		SecuritySource: c.source,
		Apps:           map[string]*espprovv1.AppInfo{},
		ProvGeneration: apiGeneration(c.gen),
		NetworkTypes:   networkTypes(c.hasWifi, c.hasThread),
	}
	for _, name := range v.AppOrder {
		a := v.Apps[name]
		info.Apps[name] = &espprovv1.AppInfo{Version: a.Version, Capabilities: a.Caps}
	}
	return info
}

// versionAdjuster is implemented by transports whose devices describe their
// security outside proto-ver (on-network: the mDNS TXT record).
type versionAdjuster interface {
	AdjustVersion(v *protocomm.Version, popGiven bool)
}

// maxRequester is implemented by transports with per-endpoint request limits
// (console: the firmware's 256-byte line).
type maxRequester interface {
	MaxRequest(endpoint string) int
}

// sec2Command0Size is the size of a Security 2 Command0 with an 8-byte username.
const sec2Command0Size = 406

// open dials, reads capabilities, picks the scheme and establishes the session.
// detected is called once the scheme is known, before the handshake.
func (s *Service) open(ctx context.Context, d *espprovv1.Device, sec *espprovv1.Security, to timeouts, detected func(*conn) error) (*conn, error) {
	mod, err := s.module(d)
	if err != nil {
		return nil, err
	}
	req, err := requestedScheme(sec)
	if err != nil {
		return nil, err
	}
	if req == protocomm.Scheme2 && (sec.GetSec2Username() == "" || sec.GetSec2Password() == "") {
		return nil, invalid("Security 2 needs security.sec2_username and security.sec2_password (RainMaker firmware: username \"wifiprov\", password = the PoP)")
	}
	holder, release, err := s.claim(ctx, d)
	if err != nil {
		return nil, err
	}
	t, err := mod.Dial(ctx, d, to.exchange)
	if err != nil {
		release()
		return nil, err
	}
	c := &conn{mod: mod, release: release, raw: t, t: timedTransport{Transport: t, d: to.exchange}}
	fail := func(err error) (*conn, error) {
		c.close()
		return nil, err
	}
	releaseDialed, err := s.claimDialed(holder, t)
	if err != nil {
		return fail(err)
	}
	c.release = func() { releaseDialed(); release() }
	if c.version, err = protocomm.ReadVersion(ctx, c.t); err != nil {
		return fail(notProtocomm(d, err))
	}
	advertised := c.version.SecVer // before any adjustment: what the device itself says
	var suspect error              // set when the proto-ver reply does not look like protocomm
	if va, ok := t.(versionAdjuster); ok {
		va.AdjustVersion(&c.version, sec.GetPop() != "")
	} else if !c.version.LooksLikeProtocomm() {
		// With auto-detection nothing else says what the peer is. With an
		// explicit scheme the caller does (a garbled reply from real
		// firmware is then ridden out); a failed handshake says it below.
		suspect = fmt.Errorf("its proto-ver reply is not a protocomm version (%d bytes)", len(c.version.Raw))
		if req == protocomm.Auto {
			return fail(notProtocomm(d, suspect))
		}
	}
	c.setGeneration(d.GetProvGeneration())
	if c.scheme, c.source, err = protocomm.SelectScheme(c.version, req); err != nil {
		return fail(invalid("%v", err))
	}
	if err := schemeMismatch(advertised, req); err != nil {
		return fail(err)
	}
	creds := protocomm.Credentials{PoP: sec.GetPop(), SRPUsername: sec.GetSec2Username(), SRPPassword: sec.GetSec2Password()}
	hs, err := protocomm.NewHandshaker(c.scheme, c.version, creds)
	if err != nil {
		switch {
		case errors.Is(err, protocomm.ErrMissingPoP):
			return fail(invalid("the device uses Security 1 without the no_pop capability: pass security.pop (the proof of possession printed on the device or its QR code)"))
		case errors.Is(err, protocomm.ErrMissingSRP):
			return fail(invalid("the device uses Security 2: pass security.sec2_username and security.sec2_password (RainMaker firmware: username \"wifiprov\", password = the PoP)"))
		}
		return fail(invalid("%v", err))
	}
	if mr, ok := t.(maxRequester); ok && c.scheme == protocomm.Scheme2 {
		if limit := mr.MaxRequest(protocomm.EndpointSession); limit < sec2Command0Size {
			return fail(status.Errorf(codes.FailedPrecondition,
				"Security 2 cannot run over this transport: its handshake needs %d-byte messages but the device accepts at most %d bytes per request (console line limit 256); use BLE or SoftAP", sec2Command0Size, limit))
		}
	}
	if detected != nil {
		if err := detected(c); err != nil {
			return fail(err)
		}
	}
	done := func() {}
	if c.scheme != protocomm.Scheme0 {
		if done, c.handshakeWait, err = s.handshakes.acquire(ctx); err != nil {
			return fail(err)
		}
	}
	c.sess, err = protocomm.Establish(ctx, c.t, hs)
	done()
	if err != nil {
		if suspect != nil && codeOf(err) == codes.Unavailable {
			return fail(notProtocomm(d, fmt.Errorf("%w, and the handshake failed: %w", suspect, err)))
		}
		return fail(err)
	}
	return c, nil
}

func pageSize(t transports.Transport) uint32 {
	if l, ok := t.(transports.Limits); ok && l.ScanPageSize() > 0 {
		return uint32(l.ScanPageSize())
	}
	return 4
}

func (s *Service) scanOptions(c *conn) wifiprov.ScanOptions {
	o := wifiprov.ScanOptions{PageSize: pageSize(c.raw)}
	if st, ok := c.mod.(ScanTuner); ok {
		o.GroupChannels = st.ScanGroupChannels()
	}
	return o
}

// ScanWifi implements the RPC.
func (s *Service) ScanWifi(ctx context.Context, req *espprovv1.ScanWifiRequest) (*espprovv1.ScanWifiResponse, error) {
	to, err := s.checkRequest(req.GetDevice(), req.GetSecurity(), req.GetTimeouts())
	if err != nil {
		return nil, err
	}
	if req.GetDevice().GetTransport() == espprovv1.Transport_TRANSPORT_ON_NETWORK {
		return nil, status.Error(codes.FailedPrecondition, "on-network devices are already connected and serve no Wi-Fi scan; use softap, httpd, ble or console")
	}
	ctx, cancel := context.WithTimeout(ctx, to.overall)
	defer cancel()
	c, err := s.open(ctx, req.GetDevice(), req.GetSecurity(), to, nil)
	if err != nil {
		return nil, toStatus(err)
	}
	defer c.close()
	if err := c.need(espprovv1.NetworkType_NETWORK_TYPE_WIFI, "scan for Wi-Fi networks"); err != nil {
		return nil, err
	}
	if c.version.JSON && c.version.HasProv && !c.version.Has("wifi_scan") {
		return nil, status.Error(codes.FailedPrecondition, "the device does not support Wi-Fi scanning (no wifi_scan capability); pass the SSID directly")
	}
	aps, err := c.wifi().Scan(ctx, s.scanOptions(c))
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &espprovv1.ScanWifiResponse{DeviceInfo: c.deviceInfo()}
	for _, ap := range aps {
		resp.AccessPoints = append(resp.AccessPoints, apiAP(ap))
	}
	s.log.InfoContext(ctx, "wifi scan", "transport", req.GetDevice().GetTransport().String(), "aps", len(aps))
	return resp, nil
}

func apiAP(ap wifiprov.AP) *espprovv1.AccessPoint {
	return &espprovv1.AccessPoint{
		Ssid: deviceText(ap.SSID), Bssid: ap.BSSIDString(), Channel: ap.Channel, Rssi: ap.RSSI,
		Auth: apiAuth(ap.Auth),
	}
}

func apiAuth(raw uint32) espprovv1.WifiAuthMode {
	if raw > 16 {
		return espprovv1.WifiAuthMode_WIFI_AUTH_MODE_UNSPECIFIED
	}
	return espprovv1.WifiAuthMode(raw + 1)
}

// Discover implements the RPC.
func (s *Service) Discover(req *espprovv1.DiscoverRequest, stream grpc.ServerStreamingServer[espprovv1.DiscoverResponse]) error {
	timeout := 5 * time.Second
	if req.GetTimeout() != nil {
		if err := checkFields(validate.Duration("timeout", req.GetTimeout().AsDuration())); err != nil {
			return err
		}
		if d := req.GetTimeout().AsDuration(); d > 0 {
			timeout = d
		}
	}
	if err := checkFields(validate.Device(req.GetDevice())); err != nil {
		return err
	}
	mod, err := s.module(req.GetDevice())
	if err != nil {
		return err
	}
	disc, ok := mod.(Discoverer)
	if !ok {
		return status.Errorf(codes.Unimplemented, "discovery is not available for transport %s", req.GetDevice().GetTransport())
	}
	// The module scans for timeout; the context allows it to report what it
	// saw at the end of the window.
	ctx, cancel := context.WithTimeout(stream.Context(), timeout+2*time.Second)
	defer cancel()
	err = disc.Discover(ctx, req.GetDevice(), timeout, stream.Send)
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return toStatus(err)
	}
	return nil
}

func now() *timestamppb.Timestamp { return timestamppb.Now() }
