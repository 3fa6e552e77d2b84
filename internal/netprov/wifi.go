package netprov

import (
	"context"
	"fmt"

	"github.com/espprov/espprov/internal/wifiprov"
	"github.com/espprov/espprov/internal/wire/devicepb"
	pb "github.com/espprov/espprov/internal/wire/netprovpb"
)

// Wifi is the network_provisioning wifiprov.Client.
type Wifi struct{ C wifiprov.Caller }

var _ wifiprov.Client = Wifi{}

// Scan runs a blocking Wi-Fi scan and reads every result.
func (w Wifi) Scan(ctx context.Context, o wifiprov.ScanOptions) ([]wifiprov.AP, error) {
	_, err := scan(ctx, w.C, &pb.NetworkScanPayload{
		Msg: pb.NetworkScanMsgType_TypeCmdScanWifiStart,
		Payload: &pb.NetworkScanPayload_CmdScanWifiStart{CmdScanWifiStart: &pb.CmdScanWifiStart{
			Blocking: true, GroupChannels: o.GroupChannels, PeriodMs: 120,
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("wifi scan start: %w", err)
	}
	st, err := scan(ctx, w.C, &pb.NetworkScanPayload{Msg: pb.NetworkScanMsgType_TypeCmdScanWifiStatus})
	if err != nil {
		return nil, fmt.Errorf("wifi scan status: %w", err)
	}
	count := st.GetRespScanWifiStatus().GetResultCount()
	var aps []wifiprov.AP
	err = pages(count, o.PageSize, func(start, n uint32) (int, error) {
		res, err := scan(ctx, w.C, &pb.NetworkScanPayload{
			Msg: pb.NetworkScanMsgType_TypeCmdScanWifiResult,
			Payload: &pb.NetworkScanPayload_CmdScanWifiResult{CmdScanWifiResult: &pb.CmdScanWifiResult{
				StartIndex: start, Count: n,
			}},
		})
		if err != nil {
			return 0, err
		}
		entries := res.GetRespScanWifiResult().GetEntries()
		for _, e := range entries {
			aps = append(aps, wifiprov.AP{
				SSID: trimNUL(e.GetSsid()), BSSID: e.GetBssid(), Channel: e.GetChannel(),
				RSSI: e.GetRssi(), Auth: uint32(e.GetAuth()),
			})
		}
		return len(entries), nil
	})
	if err != nil {
		return nil, fmt.Errorf("wifi scan: %w", err)
	}
	return aps, nil
}

// SetConfig sends the Wi-Fi credentials.
func (w Wifi) SetConfig(ctx context.Context, ssid, passphrase []byte) error {
	if err := wifiprov.ValidateCredentials(ssid, passphrase); err != nil {
		return err
	}
	resp, err := config(ctx, w.C, &pb.NetworkConfigPayload{
		Msg: pb.NetworkConfigMsgType_TypeCmdSetWifiConfig,
		Payload: &pb.NetworkConfigPayload_CmdSetWifiConfig{CmdSetWifiConfig: &pb.CmdSetWifiConfig{
			Ssid: ssid, Passphrase: passphrase,
		}},
	})
	if err == nil {
		err = statusErr(resp.GetRespSetWifiConfig().GetStatus())
	}
	if err != nil {
		return fmt.Errorf("wifi set config: %w", err)
	}
	return nil
}

// ApplyConfig asks the device to connect with the pending credentials. An
// InternalError right after a successful SetConfig wraps
// wifiprov.ErrAlreadyApplied, as for wifi_provisioning.
func (w Wifi) ApplyConfig(ctx context.Context) error {
	resp, err := config(ctx, w.C, &pb.NetworkConfigPayload{Msg: pb.NetworkConfigMsgType_TypeCmdApplyWifiConfig})
	if err != nil {
		return fmt.Errorf("wifi apply config: %w", err)
	}
	switch s := resp.GetRespApplyWifiConfig().GetStatus(); s {
	case devicepb.Status_Success:
		return nil
	case devicepb.Status_InternalError:
		return fmt.Errorf("wifi apply config: %w: status %s: %w", ErrDevice, s, wifiprov.ErrAlreadyApplied)
	default:
		return fmt.Errorf("wifi apply config: %w: status %s", ErrDevice, s)
	}
}

// GetStatus reads the station state. The enums carry the same numbers as
// wifi_provisioning's, so the reading is a wifiprov.State.
func (w Wifi) GetStatus(ctx context.Context) (wifiprov.State, error) {
	resp, err := config(ctx, w.C, &pb.NetworkConfigPayload{
		Msg:     pb.NetworkConfigMsgType_TypeCmdGetWifiStatus,
		Payload: &pb.NetworkConfigPayload_CmdGetWifiStatus{CmdGetWifiStatus: &pb.CmdGetWifiStatus{}},
	})
	if err != nil {
		return wifiprov.State{}, fmt.Errorf("wifi get status: %w", err)
	}
	r := resp.GetRespGetWifiStatus()
	if r == nil {
		return wifiprov.State{}, fmt.Errorf("wifi get status: %w: no status in reply", ErrReply)
	}
	if err := statusErr(r.GetStatus()); err != nil {
		return wifiprov.State{}, fmt.Errorf("wifi get status: %w", err)
	}
	st := wifiprov.State{Station: devicepb.WifiStationState(r.GetWifiStaState())}
	switch s := r.GetState().(type) {
	case *pb.RespGetWifiStatus_WifiFailReason:
		st.FailReason, st.HasFailReason = devicepb.WifiConnectFailedReason(s.WifiFailReason), true
	case *pb.RespGetWifiStatus_AttemptFailed:
		n := s.AttemptFailed.GetAttemptsRemaining()
		st.AttemptsRemaining = &n
	case *pb.RespGetWifiStatus_WifiConnected:
		cs := s.WifiConnected
		st.IP, st.SSID, st.BSSID = cs.GetIp4Addr(), trimNUL(cs.GetSsid()), cs.GetBssid()
		st.Channel, st.Auth = cs.GetChannel(), uint32(cs.GetAuthMode())
	}
	return st, nil
}

// Reset returns a device whose Wi-Fi connection failed to provisioning.
func (w Wifi) Reset(ctx context.Context) error {
	if err := ctrl(ctx, w.C, pb.NetworkCtrlMsgType_TypeCmdCtrlWifiReset); err != nil {
		return fmt.Errorf("wifi ctrl reset: %w", err)
	}
	return nil
}

// Reprov asks a provisioned device (auto-stop disabled) to accept new Wi-Fi
// credentials; a refusal (InternalError) wraps wifiprov.ErrReprovRefused.
func (w Wifi) Reprov(ctx context.Context) error {
	return reprov(ctx, w.C, pb.NetworkCtrlMsgType_TypeCmdCtrlWifiReprov, "wifi")
}
