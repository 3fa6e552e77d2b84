// Package wifiprov is the client side of the Wi-Fi provisioning endpoints
// (prov-scan, prov-config, prov-ctrl) over an established protocomm session.
package wifiprov

import (
	"context"
	"errors"
	"fmt"
	"net"

	"google.golang.org/protobuf/proto"

	"github.com/espprov/espprov/internal/wire/devicepb"
)

// Caller makes one encrypted endpoint call (protocomm.Session satisfies it).
type Caller interface {
	Call(ctx context.Context, endpoint string, plaintext []byte) ([]byte, error)
}

// Endpoint names.
const (
	EndpointScan   = "prov-scan"
	EndpointConfig = "prov-config"
	EndpointCtrl   = "prov-ctrl"
)

var (
	// ErrDevice: the device answered with a non-success status.
	ErrDevice = errors.New("device reported a failure")
	// ErrReply: the reply could not be decoded or did not match the request.
	ErrReply = errors.New("malformed reply from device")
	// ErrInvalidCredentials: SSID or passphrase outside the firmware limits.
	ErrInvalidCredentials = errors.New("invalid Wi-Fi credentials")
	// ErrAlreadyApplied: ApplyConfig answered InternalError right after a
	// successful SetConfig. The firmware does that when credentials were
	// already applied in this provisioning run: the device is provisioned
	// (auto-stop disabled, or not yet stopped) or still applying them. It
	// accepts new ones only after Reprov (or Reset after a failure).
	ErrAlreadyApplied = errors.New("the device already applied Wi-Fi credentials in this provisioning run (it is provisioned, or still applying them)")
	// ErrReprovRefused: the device answered Reprov with InternalError, which
	// firmware does unless the application disabled auto-stop.
	ErrReprovRefused = errors.New("the device refused to re-provision (prov-ctrl reprov): its firmware keeps auto-stop enabled")
)

var marshal = proto.MarshalOptions{Deterministic: true}

// AP is one scan result.
type AP struct {
	SSID    []byte
	BSSID   []byte
	Channel uint32
	RSSI    int32
	Auth    uint32 // raw wifi_auth_mode_t
}

// BSSIDString formats the BSSID colon-separated.
func (a AP) BSSIDString() string { return FormatBSSID(a.BSSID) }

// FormatBSSID formats a 6-byte BSSID as aa:bb:cc:dd:ee:ff.
func FormatBSSID(b []byte) string {
	if len(b) != 6 {
		return fmt.Sprintf("%x", b)
	}
	return net.HardwareAddr(b).String()
}

// AuthNames are the names of the raw auth modes (esp_wifi_types).
var AuthNames = []string{"Open", "WEP", "WPA_PSK", "WPA2_PSK", "WPA_WPA2_PSK", "WPA2_ENTERPRISE",
	"WPA3_PSK", "WPA2_WPA3_PSK", "WAPI_PSK", "OWE", "WPA3_ENT_192", "WPA3_EXT_PSK",
	"WPA3_EXT_PSK_MIXED_MODE", "DPP", "WPA3_ENTERPRISE", "WPA2_WPA3_ENTERPRISE", "WPA_ENTERPRISE"}

// AuthName names a raw auth mode, never failing on unknown values.
func AuthName(a uint32) string {
	if int(a) < len(AuthNames) {
		return AuthNames[a]
	}
	return fmt.Sprintf("AUTH_%d", a)
}

// ScanOptions configure a scan.
type ScanOptions struct {
	// GroupChannels: 0 scans all channels at once (BLE, console); 5 keeps a
	// soft-AP responsive (esp_prov's choice for softap/httpd).
	GroupChannels uint32
	// PageSize is how many results to fetch per request (4 over BLE, 100 over HTTP).
	PageSize uint32
}

func scanCall(ctx context.Context, c Caller, req *devicepb.WiFiScanPayload, want devicepb.WiFiScanMsgType) (*devicepb.WiFiScanPayload, error) {
	b, err := marshal.Marshal(req)
	if err != nil {
		return nil, err
	}
	reply, err := c.Call(ctx, EndpointScan, b)
	if err != nil {
		return nil, err
	}
	var resp devicepb.WiFiScanPayload
	if err := proto.Unmarshal(reply, &resp); err != nil {
		return nil, fmt.Errorf("%s: %w: %v", EndpointScan, ErrReply, err)
	}
	if resp.GetMsg() != want {
		return nil, fmt.Errorf("%s: %w: message type %d, want %d", EndpointScan, ErrReply, resp.GetMsg(), want)
	}
	if resp.GetStatus() != devicepb.Status_Success {
		return nil, fmt.Errorf("%s: %w: status %s", EndpointScan, ErrDevice, resp.GetStatus())
	}
	return &resp, nil
}

// Scan runs a blocking scan and reads every result (strongest first, as the
// device sorts them).
func Scan(ctx context.Context, c Caller, opts ScanOptions) ([]AP, error) {
	if opts.PageSize == 0 {
		opts.PageSize = 4
	}
	_, err := scanCall(ctx, c, &devicepb.WiFiScanPayload{
		Msg: devicepb.WiFiScanMsgType_TypeCmdScanStart,
		Payload: &devicepb.WiFiScanPayload_CmdScanStart{CmdScanStart: &devicepb.CmdScanStart{
			Blocking: true, GroupChannels: opts.GroupChannels, PeriodMs: 120,
		}},
	}, devicepb.WiFiScanMsgType_TypeRespScanStart)
	if err != nil {
		return nil, fmt.Errorf("wifi scan start: %w", err)
	}
	st, err := scanCall(ctx, c, &devicepb.WiFiScanPayload{
		Msg: devicepb.WiFiScanMsgType_TypeCmdScanStatus, // esp_prov sends msg only: 08 02
	}, devicepb.WiFiScanMsgType_TypeRespScanStatus)
	if err != nil {
		return nil, fmt.Errorf("wifi scan status: %w", err)
	}
	count := st.GetRespScanStatus().GetResultCount()
	if count > 256 {
		return nil, fmt.Errorf("wifi scan status: %w: %d results", ErrReply, count)
	}
	aps := make([]AP, 0, count)
	for start := uint32(0); start < count; {
		n := min(opts.PageSize, count-start)
		res, err := scanCall(ctx, c, &devicepb.WiFiScanPayload{
			Msg: devicepb.WiFiScanMsgType_TypeCmdScanResult,
			Payload: &devicepb.WiFiScanPayload_CmdScanResult{CmdScanResult: &devicepb.CmdScanResult{
				StartIndex: start, Count: n,
			}},
		}, devicepb.WiFiScanMsgType_TypeRespScanResult)
		if err != nil {
			return nil, fmt.Errorf("wifi scan results %d..%d: %w", start, start+n-1, err)
		}
		entries := res.GetRespScanResult().GetEntries()
		if len(entries) == 0 {
			return nil, fmt.Errorf("wifi scan results %d..%d: %w: no entries", start, start+n-1, ErrReply)
		}
		for _, e := range entries {
			aps = append(aps, AP{
				SSID: trimNUL(e.GetSsid()), BSSID: e.GetBssid(), Channel: e.GetChannel(),
				RSSI: e.GetRssi(), Auth: uint32(e.GetAuth()),
			})
		}
		start += uint32(len(entries))
	}
	return aps, nil
}

func trimNUL(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return b
}

// ValidateCredentials checks the limits the firmware enforces (SSID 1..32
// bytes; passphrase at most 64 bytes: 63 characters, or 64 hex digits).
func ValidateCredentials(ssid, passphrase []byte) error {
	switch {
	case len(ssid) == 0:
		return fmt.Errorf("%w: the SSID is empty", ErrInvalidCredentials)
	case len(ssid) > 32:
		return fmt.Errorf("%w: the SSID is %d bytes long; Wi-Fi allows at most 32", ErrInvalidCredentials, len(ssid))
	case len(passphrase) > 64:
		return fmt.Errorf("%w: the passphrase is %d bytes long; Wi-Fi allows at most 64", ErrInvalidCredentials, len(passphrase))
	}
	return nil
}

func configCall(ctx context.Context, c Caller, req *devicepb.WiFiConfigPayload, want devicepb.WiFiConfigMsgType) (*devicepb.WiFiConfigPayload, error) {
	b, err := marshal.Marshal(req)
	if err != nil {
		return nil, err
	}
	reply, err := c.Call(ctx, EndpointConfig, b)
	if err != nil {
		return nil, err
	}
	var resp devicepb.WiFiConfigPayload
	if err := proto.Unmarshal(reply, &resp); err != nil {
		return nil, fmt.Errorf("%s: %w: %v", EndpointConfig, ErrReply, err)
	}
	if resp.GetMsg() != want {
		return nil, fmt.Errorf("%s: %w: message type %d, want %d", EndpointConfig, ErrReply, resp.GetMsg(), want)
	}
	return &resp, nil
}

// SetConfig sends the credentials (SetConfig); the device stores them as pending.
func SetConfig(ctx context.Context, c Caller, ssid, passphrase []byte) error {
	if err := ValidateCredentials(ssid, passphrase); err != nil {
		return err
	}
	resp, err := configCall(ctx, c, &devicepb.WiFiConfigPayload{
		Msg: devicepb.WiFiConfigMsgType_TypeCmdSetConfig,
		Payload: &devicepb.WiFiConfigPayload_CmdSetConfig{CmdSetConfig: &devicepb.CmdSetConfig{
			Ssid: ssid, Passphrase: passphrase,
		}},
	}, devicepb.WiFiConfigMsgType_TypeRespSetConfig)
	if err != nil {
		return fmt.Errorf("wifi set config: %w", err)
	}
	if s := resp.GetRespSetConfig().GetStatus(); s != devicepb.Status_Success {
		return fmt.Errorf("wifi set config: %w: status %s", ErrDevice, s)
	}
	return nil
}

// ApplyConfig asks the device to connect with the pending credentials.
func ApplyConfig(ctx context.Context, c Caller) error {
	resp, err := configCall(ctx, c, &devicepb.WiFiConfigPayload{
		Msg: devicepb.WiFiConfigMsgType_TypeCmdApplyConfig,
	}, devicepb.WiFiConfigMsgType_TypeRespApplyConfig)
	if err != nil {
		return fmt.Errorf("wifi apply config: %w", err)
	}
	switch s := resp.GetRespApplyConfig().GetStatus(); s {
	case devicepb.Status_Success:
	case devicepb.Status_InternalError:
		return fmt.Errorf("wifi apply config: %w: status %s: %w", ErrDevice, s, ErrAlreadyApplied)
	default:
		return fmt.Errorf("wifi apply config: %w: status %s", ErrDevice, s)
	}
	return nil
}

// State is one GetStatus reading.
type State struct {
	Station           devicepb.WifiStationState
	FailReason        devicepb.WifiConnectFailedReason
	HasFailReason     bool
	AttemptsRemaining *uint32
	IP                string
	SSID              []byte
	BSSID             []byte
	Channel           int32
	Auth              uint32
}

// GetStatus reads the device's station state.
func GetStatus(ctx context.Context, c Caller) (State, error) {
	resp, err := configCall(ctx, c, &devicepb.WiFiConfigPayload{
		Msg:     devicepb.WiFiConfigMsgType_TypeCmdGetStatus,
		Payload: &devicepb.WiFiConfigPayload_CmdGetStatus{CmdGetStatus: &devicepb.CmdGetStatus{}},
	}, devicepb.WiFiConfigMsgType_TypeRespGetStatus)
	if err != nil {
		return State{}, fmt.Errorf("wifi get status: %w", err)
	}
	r := resp.GetRespGetStatus()
	if r == nil {
		return State{}, fmt.Errorf("wifi get status: %w: no status in reply", ErrReply)
	}
	if r.GetStatus() != devicepb.Status_Success {
		return State{}, fmt.Errorf("wifi get status: %w: status %s", ErrDevice, r.GetStatus())
	}
	st := State{Station: r.GetStaState()}
	switch s := r.GetState().(type) {
	case *devicepb.RespGetStatus_FailReason:
		st.FailReason, st.HasFailReason = s.FailReason, true
	case *devicepb.RespGetStatus_AttemptFailed:
		n := s.AttemptFailed.GetAttemptsRemaining()
		st.AttemptsRemaining = &n
	case *devicepb.RespGetStatus_Connected:
		cs := s.Connected
		st.IP, st.SSID, st.BSSID = cs.GetIp4Addr(), trimNUL(cs.GetSsid()), cs.GetBssid()
		st.Channel, st.Auth = cs.GetChannel(), uint32(cs.GetAuthMode())
	}
	return st, nil
}

func ctrlCall(ctx context.Context, c Caller, req *devicepb.WiFiCtrlPayload, want devicepb.WiFiCtrlMsgType) error {
	b, err := marshal.Marshal(req)
	if err != nil {
		return err
	}
	reply, err := c.Call(ctx, EndpointCtrl, b)
	if err != nil {
		return err
	}
	var resp devicepb.WiFiCtrlPayload
	if err := proto.Unmarshal(reply, &resp); err != nil {
		return fmt.Errorf("%s: %w: %v", EndpointCtrl, ErrReply, err)
	}
	if resp.GetMsg() != want {
		return fmt.Errorf("%s: %w: message type %d, want %d", EndpointCtrl, ErrReply, resp.GetMsg(), want)
	}
	switch resp.GetStatus() {
	case devicepb.Status_Success:
		return nil
	case devicepb.Status_InternalError:
		return fmt.Errorf("%s: %w: status %s%w", EndpointCtrl, ErrDevice, resp.GetStatus(), errInternal)
	}
	return fmt.Errorf("%s: %w: status %s", EndpointCtrl, ErrDevice, resp.GetStatus())
}

// errInternal marks a prov-ctrl InternalError status; its text is empty so
// that it adds nothing to the message it is wrapped in.
var errInternal = errors.New("")

// Reset returns a device whose connection failed to the provisioning state.
func Reset(ctx context.Context, c Caller) error {
	err := ctrlCall(ctx, c, &devicepb.WiFiCtrlPayload{
		Msg: devicepb.WiFiCtrlMsgType_TypeCmdCtrlReset, // 08 01
	}, devicepb.WiFiCtrlMsgType_TypeRespCtrlReset)
	if err != nil {
		return fmt.Errorf("wifi ctrl reset: %w", err)
	}
	return nil
}

// Reprov asks a provisioned device (auto-stop disabled) to forget its
// station configuration and accept new credentials. A refusal
// (InternalError) wraps ErrReprovRefused.
func Reprov(ctx context.Context, c Caller) error {
	err := ctrlCall(ctx, c, &devicepb.WiFiCtrlPayload{
		Msg: devicepb.WiFiCtrlMsgType_TypeCmdCtrlReprov, // 08 03
	}, devicepb.WiFiCtrlMsgType_TypeRespCtrlReprov)
	if errors.Is(err, errInternal) {
		return fmt.Errorf("wifi ctrl reprov: %w: %w", err, ErrReprovRefused)
	}
	if err != nil {
		return fmt.Errorf("wifi ctrl reprov: %w", err)
	}
	return nil
}
