package device

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/espprov/espprov/internal/wire/devicepb"
)

// WifiState is the station state as the provisioning manager tracks it.
type WifiState int

const (
	// WifiIdle: no credentials applied yet (GetStatus answers Connecting).
	WifiIdle WifiState = iota
	// WifiConnecting: credentials applied, connection in progress (possibly
	// after failed attempts).
	WifiConnecting
	// WifiConnected: got an IP.
	WifiConnected
	// WifiFailed: connection failed (provisioning "failed" state).
	WifiFailed
)

func (s WifiState) String() string {
	switch s {
	case WifiIdle:
		return "idle"
	case WifiConnecting:
		return "connecting"
	case WifiConnected:
		return "connected"
	case WifiFailed:
		return "failed"
	}
	return fmt.Sprintf("WifiState(%d)", int(s))
}

// FailReason mirrors WifiConnectFailedReason.
type FailReason int

const (
	FailNone FailReason = iota
	FailAuth
	FailNetworkNotFound
)

func (r FailReason) String() string {
	switch r {
	case FailNone:
		return "none"
	case FailAuth:
		return "auth-error"
	case FailNetworkNotFound:
		return "network-not-found"
	}
	return fmt.Sprintf("FailReason(%d)", int(r))
}

// WifiStatus is a snapshot of the simulated station. It never holds the
// passphrase.
type WifiStatus struct {
	State WifiState
	// SSID is the applied SSID (empty while idle).
	SSID string
	// Pending reports credentials received by SetConfig and not applied yet.
	Pending bool
	// FailReason is set in WifiFailed.
	FailReason FailReason
	// AttemptsFailed counts failed attempts while connecting (limited mode).
	AttemptsFailed int
	// IP is the station address once connected.
	IP string
	// Stopped reports that provisioning has stopped.
	Stopped bool
}

func (s WifiStatus) String() string {
	str := fmt.Sprintf("wifi{%s", s.State)
	if s.SSID != "" {
		str += fmt.Sprintf(" ssid=%q", s.SSID)
	}
	if s.Pending {
		str += " pending"
	}
	if s.State == WifiFailed {
		str += " reason=" + s.FailReason.String()
	}
	if s.AttemptsFailed > 0 {
		str += fmt.Sprintf(" failed_attempts=%d", s.AttemptsFailed)
	}
	if s.IP != "" {
		str += " ip=" + s.IP
	}
	if s.Stopped {
		str += " stopped"
	}
	return str + "}"
}

type creds struct {
	ssid, pass []byte
}

// wifiState is the provisioning manager state, evaluated lazily against the
// clock so that no goroutine is needed.
type wifiState struct {
	pending *creds
	applied *creds
	applyAt time.Time

	// stopAt is set when a GetStatus answered Connected (auto-stop).
	stopAt time.Time
	// onlineFired: Config.OnConnected ran for the applied credentials.
	onlineFired bool

	scanning    bool // a scan was started and its results not yet replaced
	scanDoneAt  time.Time
	scanNever   bool // started after credentials were applied: never finishes
	scanResults []AP

	// forced is a Wi-Fi fault fired for the applied credentials.
	forced FaultKind
}

// outcome of the applied credentials at time now.
type outcome struct {
	state    WifiState
	reason   FailReason
	failed   int // failed attempts so far (limited mode)
	ap       AP
	doneAt   time.Time // when the connection succeeded
	resolved bool
}

func (d *Device) evalLocked(now time.Time) outcome {
	w := &d.wifi
	if w.applied == nil {
		return outcome{state: WifiIdle}
	}
	var ap AP
	found, passOK := false, false
	for _, a := range d.cfg.APs {
		if a.SSID == string(w.applied.ssid) {
			if !found || (!passOK && a.Passphrase == string(w.applied.pass)) {
				ap, found = a, true
				passOK = a.Passphrase == string(w.applied.pass)
			}
		}
	}
	delay := d.cfg.ConnectDelay
	switch w.forced {
	case FaultAuthError:
		found, passOK = true, false
	case FaultNotFound:
		found, passOK = false, false
	case FaultSlow:
		delay = d.cfg.SlowAssociation
	}
	k := int(min(now.Sub(w.applyAt)/delay, 1<<30))
	if k < 1 {
		return outcome{state: WifiConnecting}
	}
	if found && passOK {
		return outcome{state: WifiConnected, ap: ap, doneAt: w.applyAt.Add(delay), resolved: true}
	}
	reason := FailNetworkNotFound
	if found {
		reason = FailAuth
	}
	n := d.cfg.WifiConnAttempts
	if n == 0 || k >= n {
		return outcome{state: WifiFailed, reason: reason, failed: min(k, n), resolved: true}
	}
	return outcome{state: WifiConnecting, failed: k}
}

func (d *Device) stoppedLocked(now time.Time) bool {
	if d.cfg.NoAutoStop {
		return false
	}
	if d.cfg.NetProv && d.threadStoppedLocked(now) {
		return true
	}
	if !d.wifi.stopAt.IsZero() && !now.Before(d.wifi.stopAt) {
		return true
	}
	o := d.evalLocked(now)
	return o.state == WifiConnected && !now.Before(o.doneAt.Add(d.cfg.AutoStopTimeout))
}

// Wifi returns the simulated station status.
func (d *Device) Wifi() WifiStatus {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.cfg.Now()
	o := d.evalLocked(now)
	s := WifiStatus{
		State:          o.state,
		Pending:        d.wifi.pending != nil,
		AttemptsFailed: o.failed,
		Stopped:        d.stoppedLocked(now),
	}
	if d.wifi.applied != nil {
		s.SSID = string(d.wifi.applied.ssid)
	}
	if o.state == WifiFailed {
		s.FailReason = o.reason
	}
	if o.state == WifiConnected {
		s.IP = d.cfg.StationIP
	}
	return s
}

var errBadMsg = errors.New("device: unexpected message")

func marshal(m proto.Message) ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("device: encode response: %w", err)
	}
	return b, nil
}

// cString returns b up to its first NUL, like strlcpy into a C buffer.
func cString(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}

func (d *Device) handleConfig(req []byte) ([]byte, error) {
	var in pb.WiFiConfigPayload
	if err := proto.Unmarshal(req, &in); err != nil {
		return nil, fmt.Errorf("device: prov-config: decode: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.cfg.Now()
	out := &pb.WiFiConfigPayload{Msg: in.GetMsg() + 1}
	switch in.GetMsg() {
	case pb.WiFiConfigMsgType_TypeCmdGetStatus:
		out.Payload = &pb.WiFiConfigPayload_RespGetStatus{RespGetStatus: d.getStatusLocked(now)}
	case pb.WiFiConfigMsgType_TypeCmdSetConfig:
		sc := in.GetCmdSetConfig()
		if sc == nil {
			return nil, fmt.Errorf("%w: prov-config: SetConfig without cmd_set_config", errBadMsg)
		}
		resp := &pb.RespSetConfig{}
		if l := len(sc.GetBssid()); (l != 0 && l != 6) || len(sc.GetSsid()) > 32 || len(sc.GetPassphrase()) > 63 {
			resp.Status = pb.Status_InvalidArgument
		} else {
			d.wifi.pending = &creds{
				ssid: bytes.Clone(cString(sc.GetSsid())),
				pass: bytes.Clone(cString(sc.GetPassphrase())),
			}
		}
		out.Payload = &pb.WiFiConfigPayload_RespSetConfig{RespSetConfig: resp}
	case pb.WiFiConfigMsgType_TypeCmdApplyConfig:
		resp := &pb.RespApplyConfig{}
		switch {
		case d.wifi.pending == nil, d.wifi.applied != nil:
			resp.Status = pb.Status_InternalError
		default:
			d.wifi.applied = d.wifi.pending
			d.wifi.applyAt = now
			d.wifi.forced = ""
			if k, ok := d.faultAt(StepWifi); ok {
				d.wifi.forced = k
			}
			d.wifi.stopAt = time.Time{}
			d.wifi.onlineFired = false
		}
		d.wifi.pending = nil
		out.Payload = &pb.WiFiConfigPayload_RespApplyConfig{RespApplyConfig: resp}
	default:
		return nil, fmt.Errorf("%w: prov-config msg %d", errBadMsg, in.GetMsg())
	}
	return marshal(out)
}

func (d *Device) getStatusLocked(now time.Time) *pb.RespGetStatus {
	o := d.evalLocked(now)
	r := &pb.RespGetStatus{}
	switch o.state {
	case WifiIdle:
		r.StaState = pb.WifiStationState_Connecting
	case WifiConnecting:
		r.StaState = pb.WifiStationState_Connecting
		if o.failed > 0 {
			r.State = &pb.RespGetStatus_AttemptFailed{AttemptFailed: &pb.WifiAttemptFailed{
				AttemptsRemaining: uint32(d.cfg.WifiConnAttempts - o.failed),
			}}
		}
	case WifiFailed:
		r.StaState = pb.WifiStationState_ConnectionFailed
		reason := pb.WifiConnectFailedReason_AuthError
		if o.reason == FailNetworkNotFound {
			reason = pb.WifiConnectFailedReason_NetworkNotFound
		}
		r.State = &pb.RespGetStatus_FailReason{FailReason: reason}
	case WifiConnected:
		r.StaState = pb.WifiStationState_Connected
		ip := netip.MustParseAddr(d.cfg.StationIP)
		r.State = &pb.RespGetStatus_Connected{Connected: &pb.WifiConnectedState{
			Ip4Addr:  ip.String(),
			AuthMode: pb.WifiAuthMode(o.ap.Auth),
			Ssid:     []byte(o.ap.SSID),
			Bssid:    bytes.Clone(o.ap.BSSID[:]),
			Channel:  int32(o.ap.Channel),
		}}
		if !d.cfg.NoAutoStop && d.wifi.stopAt.IsZero() {
			d.wifi.stopAt = now.Add(d.cfg.CleanupDelay)
		}
		if !d.wifi.onlineFired && d.cfg.OnConnected != nil {
			d.wifi.onlineFired = true
			go d.cfg.OnConnected() // outside the device lock
		}
	}
	return r
}

func (d *Device) handleScan(req []byte) ([]byte, error) {
	var in pb.WiFiScanPayload
	if err := proto.Unmarshal(req, &in); err != nil {
		return nil, fmt.Errorf("device: prov-scan: decode: %w", err)
	}
	out := &pb.WiFiScanPayload{Msg: in.GetMsg() + 1}
	switch in.GetMsg() {
	case pb.WiFiScanMsgType_TypeCmdScanStart:
		start := in.GetCmdScanStart()
		if start == nil {
			return nil, fmt.Errorf("%w: prov-scan: ScanStart without cmd_scan_start", errBadMsg)
		}
		wait, err := d.startScan(start.GetBlocking())
		if err != nil {
			return nil, err
		}
		if wait > 0 {
			time.Sleep(wait)
		}
		out.Payload = &pb.WiFiScanPayload_RespScanStart{RespScanStart: &pb.RespScanStart{}}
	case pb.WiFiScanMsgType_TypeCmdScanStatus:
		d.mu.Lock()
		fin, res := d.scanStatusLocked(d.cfg.Now())
		d.mu.Unlock()
		out.Payload = &pb.WiFiScanPayload_RespScanStatus{RespScanStatus: &pb.RespScanStatus{
			ScanFinished: fin,
			ResultCount:  uint32(len(res)),
		}}
	case pb.WiFiScanMsgType_TypeCmdScanResult:
		cr := in.GetCmdScanResult()
		if cr == nil {
			return nil, fmt.Errorf("%w: prov-scan: ScanResult without cmd_scan_result", errBadMsg)
		}
		d.mu.Lock()
		_, res := d.scanStatusLocked(d.cfg.Now())
		d.mu.Unlock()
		resp := &pb.RespScanResult{}
		start, count := uint64(cr.GetStartIndex()), uint64(cr.GetCount())
		if start+count > uint64(len(res)) {
			out.Status = pb.Status_InternalError
		} else {
			for _, ap := range res[start : start+count] {
				resp.Entries = append(resp.Entries, &pb.WiFiScanResult{
					Ssid:    []byte(ap.SSID),
					Channel: uint32(ap.Channel),
					Rssi:    int32(ap.RSSI),
					Bssid:   bytes.Clone(ap.BSSID[:]),
					Auth:    pb.WifiAuthMode(ap.Auth),
				})
			}
		}
		out.Payload = &pb.WiFiScanPayload_RespScanResult{RespScanResult: resp}
	default:
		return nil, fmt.Errorf("%w: prov-scan msg %d", errBadMsg, in.GetMsg())
	}
	return marshal(out)
}

// startScan starts a scan and returns how long a blocking caller waits.
func (d *Device) startScan(blocking bool) (time.Duration, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.cfg.Now()
	w := &d.wifi
	if w.scanning && (w.scanNever || now.Before(w.scanDoneAt)) {
		return 0, nil // already running: Success at once
	}
	w.scanning = true
	w.scanResults = nil
	if w.applied != nil {
		// Completion is only processed in the "started" state.
		w.scanNever = true
		if blocking {
			return 0, errors.New("device: prov-scan: blocking scan after credentials were applied never completes")
		}
		return 0, nil
	}
	w.scanNever = false
	w.scanDoneAt = now.Add(d.cfg.ScanDuration)
	res := slices.Clone(d.cfg.APs)
	slices.SortStableFunc(res, func(a, b AP) int { return cmp.Compare(b.RSSI, a.RSSI) })
	if len(res) > d.cfg.ScanMaxEntries {
		res = res[:d.cfg.ScanMaxEntries]
	}
	w.scanResults = res
	if blocking {
		return d.cfg.ScanDuration, nil
	}
	return 0, nil
}

func (d *Device) scanStatusLocked(now time.Time) (finished bool, results []AP) {
	w := &d.wifi
	if !w.scanning || w.scanNever || now.Before(w.scanDoneAt) {
		return false, nil
	}
	return true, w.scanResults
}

func (d *Device) handleCtrl(req []byte) ([]byte, error) {
	var in pb.WiFiCtrlPayload
	if err := proto.Unmarshal(req, &in); err != nil {
		return nil, fmt.Errorf("device: prov-ctrl: decode: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	now := d.cfg.Now()
	out := &pb.WiFiCtrlPayload{Msg: in.GetMsg() + 1}
	switch in.GetMsg() {
	case pb.WiFiCtrlMsgType_TypeCmdCtrlReset:
		if d.evalLocked(now).state == WifiFailed {
			d.backToStartedLocked()
		} else {
			out.Status = pb.Status_InternalError
		}
		out.Payload = &pb.WiFiCtrlPayload_RespCtrlReset{RespCtrlReset: &pb.RespCtrlReset{}}
	case pb.WiFiCtrlMsgType_TypeCmdCtrlReprov:
		if d.cfg.NoAutoStop {
			d.backToStartedLocked()
		} else {
			out.Status = pb.Status_InternalError
		}
		out.Payload = &pb.WiFiCtrlPayload_RespCtrlReprov{RespCtrlReprov: &pb.RespCtrlReprov{}}
	default:
		return nil, fmt.Errorf("%w: prov-ctrl msg %d", errBadMsg, in.GetMsg())
	}
	return marshal(out)
}

// backToStartedLocked clears the station config and returns provisioning to
// the "started" state.
func (d *Device) backToStartedLocked() {
	d.wifi.applied = nil
	d.wifi.pending = nil
	d.wifi.forced = ""
	d.wifi.stopAt = time.Time{}
	d.wifi.applyAt = time.Time{}
}
