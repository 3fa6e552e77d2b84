// Package netprov is the client side of ESP-IDF 6 network_provisioning
// (idf-extra-components): the network_config, network_scan and
// network_ctrl messages on prov-config, prov-scan and prov-ctrl, for Wi-Fi
// (Wifi, a wifiprov.Client) and Thread (the Thread* functions). The Wi-Fi
// messages keep wifi_provisioning's numbers; this package still sends them
// as network_provisioning messages, so that a netprov device is spoken to in
// its own protocol.
package netprov

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/espprov/espprov/internal/wifiprov"
	"github.com/espprov/espprov/internal/wire/devicepb"
	pb "github.com/espprov/espprov/internal/wire/netprovpb"
)

// Errors are wifiprov's, so that callers classify both generations alike.
var (
	// ErrDevice: the device answered with a non-success status.
	ErrDevice = wifiprov.ErrDevice
	// ErrReply: the reply could not be decoded or did not match the request.
	ErrReply = wifiprov.ErrReply
)

var marshal = proto.MarshalOptions{Deterministic: true}

// msgType is one of the three payload message-type enums.
type msgType interface {
	~int32
}

type payload[T msgType] interface {
	proto.Message
	GetMsg() T
}

// call sends req on endpoint and decodes the reply into resp, checking that
// it answers want.
func call[T msgType](ctx context.Context, c wifiprov.Caller, endpoint string, req proto.Message, resp payload[T], want T) error {
	b, err := marshal.Marshal(req)
	if err != nil {
		return err
	}
	reply, err := c.Call(ctx, endpoint, b)
	if err != nil {
		return err
	}
	if err := proto.Unmarshal(reply, resp); err != nil {
		return fmt.Errorf("%s: %w: %v", endpoint, ErrReply, err)
	}
	if got := resp.GetMsg(); got != want {
		return fmt.Errorf("%s: %w: message type %d, want %d", endpoint, ErrReply, got, want)
	}
	return nil
}

func statusErr(s devicepb.Status) error {
	if s == devicepb.Status_Success {
		return nil
	}
	return fmt.Errorf("%w: status %s", ErrDevice, s)
}

func config(ctx context.Context, c wifiprov.Caller, req *pb.NetworkConfigPayload) (*pb.NetworkConfigPayload, error) {
	var resp pb.NetworkConfigPayload
	if err := call(ctx, c, wifiprov.EndpointConfig, req, &resp, req.GetMsg()+1); err != nil {
		return nil, err
	}
	return &resp, nil
}

func scan(ctx context.Context, c wifiprov.Caller, req *pb.NetworkScanPayload) (*pb.NetworkScanPayload, error) {
	var resp pb.NetworkScanPayload
	if err := call(ctx, c, wifiprov.EndpointScan, req, &resp, req.GetMsg()+1); err != nil {
		return nil, err
	}
	if err := statusErr(resp.GetStatus()); err != nil {
		return nil, fmt.Errorf("%s: %w", wifiprov.EndpointScan, err)
	}
	return &resp, nil
}

func ctrl(ctx context.Context, c wifiprov.Caller, m pb.NetworkCtrlMsgType) error {
	var resp pb.NetworkCtrlPayload
	if err := call(ctx, c, wifiprov.EndpointCtrl, &pb.NetworkCtrlPayload{Msg: m}, &resp, m+1); err != nil {
		return err
	}
	if err := statusErr(resp.GetStatus()); err != nil {
		return fmt.Errorf("%s: %w", wifiprov.EndpointCtrl, err)
	}
	return nil
}

// reprov sends a reprov command; InternalError means the firmware keeps
// auto-stop enabled.
func reprov(ctx context.Context, c wifiprov.Caller, m pb.NetworkCtrlMsgType, network string) error {
	var resp pb.NetworkCtrlPayload
	err := call(ctx, c, wifiprov.EndpointCtrl, &pb.NetworkCtrlPayload{Msg: m}, &resp, m+1)
	switch {
	case err != nil:
	case resp.GetStatus() == devicepb.Status_InternalError:
		err = fmt.Errorf("%s: %w: status %s: %w", wifiprov.EndpointCtrl, ErrDevice, resp.GetStatus(), wifiprov.ErrReprovRefused)
	default:
		err = statusErr(resp.GetStatus())
	}
	if err != nil {
		return fmt.Errorf("%s ctrl reprov: %w", network, err)
	}
	return nil
}

// maxResults bounds a scan's result_count (the firmware caps it at 255).
const maxResults = 256

// pages reads count results page by page; read returns how many it got.
func pages(count, pageSize uint32, read func(start, n uint32) (int, error)) error {
	if count > maxResults {
		return fmt.Errorf("%w: %d results", ErrReply, count)
	}
	if pageSize == 0 {
		pageSize = 4
	}
	for start := uint32(0); start < count; {
		n := min(pageSize, count-start)
		got, err := read(start, n)
		if err != nil {
			return fmt.Errorf("results %d..%d: %w", start, start+n-1, err)
		}
		if got == 0 {
			return fmt.Errorf("results %d..%d: %w: no entries", start, start+n-1, ErrReply)
		}
		start += uint32(got)
	}
	return nil
}

func trimNUL(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return b
}
