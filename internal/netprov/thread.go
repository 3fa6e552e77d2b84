package netprov

import (
	"context"
	"errors"
	"fmt"

	"github.com/espprov/espprov/internal/thread"
	"github.com/espprov/espprov/internal/wifiprov"
	"github.com/espprov/espprov/internal/wire/devicepb"
	pb "github.com/espprov/espprov/internal/wire/netprovpb"
)

// ThreadNetwork is one Thread scan result (an otActiveScanResult).
type ThreadNetwork struct {
	PanID       uint32
	Channel     uint32
	RSSI        int32
	LQI         uint32
	ExtAddr     []byte
	NetworkName string
	ExtPanID    []byte
}

// ThreadScan runs a blocking Thread scan of every channel (channel_mask 0,
// as esp_prov) and reads every result, pageSize at a time.
func ThreadScan(ctx context.Context, c wifiprov.Caller, pageSize uint32) ([]ThreadNetwork, error) {
	_, err := scan(ctx, c, &pb.NetworkScanPayload{
		Msg: pb.NetworkScanMsgType_TypeCmdScanThreadStart,
		Payload: &pb.NetworkScanPayload_CmdScanThreadStart{CmdScanThreadStart: &pb.CmdScanThreadStart{
			Blocking: true,
		}},
	})
	if err != nil {
		return nil, fmt.Errorf("thread scan start: %w", err)
	}
	st, err := scan(ctx, c, &pb.NetworkScanPayload{Msg: pb.NetworkScanMsgType_TypeCmdScanThreadStatus})
	if err != nil {
		return nil, fmt.Errorf("thread scan status: %w", err)
	}
	var nets []ThreadNetwork
	err = pages(st.GetRespScanThreadStatus().GetResultCount(), pageSize, func(start, n uint32) (int, error) {
		res, err := scan(ctx, c, &pb.NetworkScanPayload{
			Msg: pb.NetworkScanMsgType_TypeCmdScanThreadResult,
			Payload: &pb.NetworkScanPayload_CmdScanThreadResult{CmdScanThreadResult: &pb.CmdScanThreadResult{
				StartIndex: start, Count: n,
			}},
		})
		if err != nil {
			return 0, err
		}
		entries := res.GetRespScanThreadResult().GetEntries()
		for _, e := range entries {
			nets = append(nets, ThreadNetwork{
				PanID: e.GetPanId(), Channel: e.GetChannel(), RSSI: e.GetRssi(), LQI: e.GetLqi(),
				ExtAddr: e.GetExtAddr(), NetworkName: string(trimNUL(e.GetNetworkName())), ExtPanID: e.GetExtPanId(),
			})
		}
		return len(entries), nil
	})
	if err != nil {
		return nil, fmt.Errorf("thread scan: %w", err)
	}
	return nets, nil
}

// ThreadSetConfig sends the active operational dataset TLVs.
func ThreadSetConfig(ctx context.Context, c wifiprov.Caller, dataset []byte) error {
	if len(dataset) == 0 || len(dataset) > thread.MaxDatasetLen {
		return fmt.Errorf("thread set config: %w: %d bytes", thread.ErrInvalid, len(dataset))
	}
	resp, err := config(ctx, c, &pb.NetworkConfigPayload{
		Msg: pb.NetworkConfigMsgType_TypeCmdSetThreadConfig,
		Payload: &pb.NetworkConfigPayload_CmdSetThreadConfig{CmdSetThreadConfig: &pb.CmdSetThreadConfig{
			Dataset: dataset,
		}},
	})
	if err == nil {
		err = statusErr(resp.GetRespSetThreadConfig().GetStatus())
	}
	if err != nil {
		return fmt.Errorf("thread set config: %w", err)
	}
	return nil
}

// ErrApplyFailed: ApplyThreadConfig answered a failure status; the firmware
// then reports the reason (DatasetInvalid) in the Thread status.
var ErrApplyFailed = errors.New("the device refused to apply the Thread dataset")

// ThreadApplyConfig asks the device to attach with the pending dataset.
func ThreadApplyConfig(ctx context.Context, c wifiprov.Caller) error {
	resp, err := config(ctx, c, &pb.NetworkConfigPayload{Msg: pb.NetworkConfigMsgType_TypeCmdApplyThreadConfig})
	if err != nil {
		return fmt.Errorf("thread apply config: %w", err)
	}
	if s := resp.GetRespApplyThreadConfig().GetStatus(); s != devicepb.Status_Success {
		return fmt.Errorf("thread apply config: %w (%w: status %s)", ErrApplyFailed, ErrDevice, s)
	}
	return nil
}

// ThreadState is one Thread status reading.
type ThreadState struct {
	State         pb.ThreadNetworkState
	FailReason    pb.ThreadAttachFailedReason
	HasFailReason bool
	// Attached network (State Attached).
	PanID    uint32
	ExtPanID []byte
	Channel  uint32
	Name     string
}

// ThreadStatus reads the device's Thread state.
func ThreadStatus(ctx context.Context, c wifiprov.Caller) (ThreadState, error) {
	resp, err := config(ctx, c, &pb.NetworkConfigPayload{
		Msg:     pb.NetworkConfigMsgType_TypeCmdGetThreadStatus,
		Payload: &pb.NetworkConfigPayload_CmdGetThreadStatus{CmdGetThreadStatus: &pb.CmdGetThreadStatus{}},
	})
	if err != nil {
		return ThreadState{}, fmt.Errorf("thread get status: %w", err)
	}
	r := resp.GetRespGetThreadStatus()
	if r == nil {
		return ThreadState{}, fmt.Errorf("thread get status: %w: no status in reply", ErrReply)
	}
	if err := statusErr(r.GetStatus()); err != nil {
		return ThreadState{}, fmt.Errorf("thread get status: %w", err)
	}
	st := ThreadState{State: r.GetThreadState()}
	switch s := r.GetState().(type) {
	case *pb.RespGetThreadStatus_ThreadFailReason:
		st.FailReason, st.HasFailReason = s.ThreadFailReason, true
	case *pb.RespGetThreadStatus_ThreadAttached:
		a := s.ThreadAttached
		st.PanID, st.ExtPanID, st.Channel = a.GetPanId(), a.GetExtPanId(), a.GetChannel()
		st.Name = string(trimNUL(a.GetName()))
	}
	return st, nil
}

// ThreadReset returns a device whose attach failed to provisioning.
func ThreadReset(ctx context.Context, c wifiprov.Caller) error {
	if err := ctrl(ctx, c, pb.NetworkCtrlMsgType_TypeCmdCtrlThreadReset); err != nil {
		return fmt.Errorf("thread ctrl reset: %w", err)
	}
	return nil
}

// ThreadReprov asks an attached device (auto-stop disabled) to accept a new
// dataset; a refusal (InternalError) wraps wifiprov.ErrReprovRefused.
func ThreadReprov(ctx context.Context, c wifiprov.Caller) error {
	return reprov(ctx, c, pb.NetworkCtrlMsgType_TypeCmdCtrlThreadReprov, "thread")
}
