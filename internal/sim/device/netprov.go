package device

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/espprov/espprov/internal/wire/devicepb"
	pb "github.com/espprov/espprov/internal/wire/netprovpb"
)

// A network_provisioning (1.x) device dispatches on the message type: the
// Wi-Fi half of network_config/network_scan/network_ctrl keeps
// wifi_provisioning's message numbers and field numbers, so those requests
// are byte-identical and go to the Wi-Fi handlers; the Thread half has its
// own handlers (thread.go).

func normalizeNetProv(c *Config) error {
	if !c.NetProv {
		if c.NoWifi || c.Thread || len(c.ThreadNetworks) > 0 {
			return errors.New("NoWifi, Thread and ThreadNetworks need NetProv (network_provisioning)")
		}
		return nil
	}
	if c.NoWifi && !c.Thread {
		return errors.New("a network_provisioning device needs Wi-Fi or Thread")
	}
	if len(c.ThreadNetworks) > 0 && !c.Thread {
		return errors.New("Thread networks in range need Thread enabled")
	}
	if c.ThreadAttachDelay < 0 || c.ThreadAttachTimeout < 0 {
		return errors.New("negative Thread attach delay or timeout")
	}
	if c.ThreadAttachDelay == 0 {
		c.ThreadAttachDelay = DefaultThreadAttachDelay
	}
	if c.ThreadAttachTimeout == 0 {
		c.ThreadAttachTimeout = DefaultThreadAttachTimeout
	}
	nets := make([]ThreadNetwork, len(c.ThreadNetworks))
	for i, n := range c.ThreadNetworks {
		var err error
		if nets[i], err = normalizeThread(i, n); err != nil {
			return err
		}
	}
	c.ThreadNetworks = nets
	return nil
}

func (d *Device) handleNetConfig(req []byte) ([]byte, error) {
	var in pb.NetworkConfigPayload
	if err := proto.Unmarshal(req, &in); err != nil {
		return nil, fmt.Errorf("device: prov-config: decode: %w", err)
	}
	switch m := in.GetMsg(); {
	case m > pb.NetworkConfigMsgType_TypeRespApplyWifiConfig:
		return d.handleThreadConfig(&in)
	case !d.cfg.NoWifi:
		return d.handleConfig(req)
	}
	out := &pb.NetworkConfigPayload{Msg: in.GetMsg() + 1}
	bad := devicepb.Status_InvalidArgument
	switch in.GetMsg() {
	case pb.NetworkConfigMsgType_TypeCmdGetWifiStatus:
		out.Payload = &pb.NetworkConfigPayload_RespGetWifiStatus{RespGetWifiStatus: &pb.RespGetWifiStatus{Status: bad}}
	case pb.NetworkConfigMsgType_TypeCmdSetWifiConfig:
		if in.GetCmdSetWifiConfig() == nil {
			return nil, fmt.Errorf("%w: prov-config: SetWifiConfig without cmd_set_wifi_config", errBadMsg)
		}
		out.Payload = &pb.NetworkConfigPayload_RespSetWifiConfig{RespSetWifiConfig: &pb.RespSetWifiConfig{Status: bad}}
	case pb.NetworkConfigMsgType_TypeCmdApplyWifiConfig:
		out.Payload = &pb.NetworkConfigPayload_RespApplyWifiConfig{RespApplyWifiConfig: &pb.RespApplyWifiConfig{Status: bad}}
	default:
		return nil, fmt.Errorf("%w: prov-config msg %d", errBadMsg, in.GetMsg())
	}
	return marshal(out)
}

func (d *Device) handleNetScan(req []byte) ([]byte, error) {
	var in pb.NetworkScanPayload
	if err := proto.Unmarshal(req, &in); err != nil {
		return nil, fmt.Errorf("device: prov-scan: decode: %w", err)
	}
	switch m := in.GetMsg(); {
	case m > pb.NetworkScanMsgType_TypeRespScanWifiResult:
		return d.handleThreadScan(&in)
	case !d.cfg.NoWifi:
		return d.handleScan(req)
	}
	out := &pb.NetworkScanPayload{Msg: in.GetMsg() + 1, Status: devicepb.Status_InvalidArgument}
	switch in.GetMsg() {
	case pb.NetworkScanMsgType_TypeCmdScanWifiStart:
		if in.GetCmdScanWifiStart() == nil {
			return nil, fmt.Errorf("%w: prov-scan: ScanWifiStart without cmd_scan_wifi_start", errBadMsg)
		}
		out.Payload = &pb.NetworkScanPayload_RespScanWifiStart{RespScanWifiStart: &pb.RespScanWifiStart{}}
	case pb.NetworkScanMsgType_TypeCmdScanWifiStatus:
		out.Payload = &pb.NetworkScanPayload_RespScanWifiStatus{RespScanWifiStatus: &pb.RespScanWifiStatus{}}
	case pb.NetworkScanMsgType_TypeCmdScanWifiResult:
		if in.GetCmdScanWifiResult() == nil {
			return nil, fmt.Errorf("%w: prov-scan: ScanWifiResult without cmd_scan_wifi_result", errBadMsg)
		}
		out.Payload = &pb.NetworkScanPayload_RespScanWifiResult{RespScanWifiResult: &pb.RespScanWifiResult{}}
	default:
		return nil, fmt.Errorf("%w: prov-scan msg %d", errBadMsg, in.GetMsg())
	}
	return marshal(out)
}

func (d *Device) handleNetCtrl(req []byte) ([]byte, error) {
	var in pb.NetworkCtrlPayload
	if err := proto.Unmarshal(req, &in); err != nil {
		return nil, fmt.Errorf("device: prov-ctrl: decode: %w", err)
	}
	switch m := in.GetMsg(); {
	case m > pb.NetworkCtrlMsgType_TypeRespCtrlWifiReprov:
		return d.handleThreadCtrl(&in)
	case !d.cfg.NoWifi:
		return d.handleCtrl(req)
	}
	out := &pb.NetworkCtrlPayload{Msg: in.GetMsg() + 1, Status: devicepb.Status_InvalidArgument}
	switch in.GetMsg() {
	case pb.NetworkCtrlMsgType_TypeCmdCtrlWifiReset:
		out.Payload = &pb.NetworkCtrlPayload_RespCtrlWifiReset{RespCtrlWifiReset: &pb.RespCtrlWifiReset{}}
	case pb.NetworkCtrlMsgType_TypeCmdCtrlWifiReprov:
		out.Payload = &pb.NetworkCtrlPayload_RespCtrlWifiReprov{RespCtrlWifiReprov: &pb.RespCtrlWifiReprov{}}
	default:
		return nil, fmt.Errorf("%w: prov-ctrl msg %d", errBadMsg, in.GetMsg())
	}
	return marshal(out)
}
