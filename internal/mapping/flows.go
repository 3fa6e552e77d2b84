package mapping

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/espprov/espprov/internal/rainmaker"
	"github.com/espprov/espprov/internal/wire/chrespb"
	"github.com/espprov/espprov/internal/wire/usermappingpb"
	"github.com/espprov/espprov/transports"
)

// ChallengeOptions tune ChallengeResponse.
type ChallengeOptions struct {
	Tags     []string
	Metadata map[string]any
	// DisableOnSuccess sends the disable command after a successful
	// mapping (see DisableByDefault).
	DisableOnSuccess bool
	// InitiateTimeout is the "timeout" sent to initiate, in seconds
	// (default 360, as the CLI).
	InitiateTimeout int
}

// Result of a challenge-response mapping.
type Result struct {
	NodeID    string
	RequestID string
	Mapped    bool
	// Disabled: challenge-response is disabled on the device after the call
	// (by this call, or AlreadyDisabled).
	Disabled        bool
	AlreadyDisabled bool
	// DisableErr is the failure of the optional disable command. The
	// mapping still succeeded; this is a warning.
	DisableErr error
}

// ChallengeResponse maps the node with the challenge-response flow (§2.2):
// cloud initiate, device ch_resp signs the challenge, cloud verify with node
// id, lowercase hex signature, tags and metadata, then the optional disable
// command. Tags and metadata are validated before anything is sent.
func ChallengeResponse(ctx context.Context, c Caller, cloud Cloud, opts ChallengeOptions, events func(Event)) (Result, error) {
	emit := emitter(events)
	if err := ValidateTags(opts.Tags); err != nil {
		return Result{}, err
	}
	if err := ValidateMetadata(opts.Metadata); err != nil {
		return Result{}, err
	}
	ch, err := cloud.InitiateMapping(ctx, opts.InitiateTimeout)
	if err != nil {
		return Result{}, fmt.Errorf("mapping: initiate: %w", cloudErr(ErrCloudRejected, err))
	}
	res := Result{RequestID: ch.RequestID}
	emit(Event{Flow: FlowChallengeResponse, RequestID: ch.RequestID, Message: "challenge received from the cloud"})

	req, err := proto.Marshal(&chrespb.RMakerChRespPayload{
		Msg:    chrespb.RMakerChRespMsgType_TypeCmdChallengeResponse,
		Status: chrespb.RMakerChRespStatus_Success,
		Payload: &chrespb.RMakerChRespPayload_CmdChallengeResponsePayload{
			CmdChallengeResponsePayload: &chrespb.CmdCRPayload{Payload: []byte(ch.Challenge)},
		},
	})
	if err != nil {
		return res, fmt.Errorf("mapping: encode challenge: %w", err)
	}
	raw, err := c.Call(ctx, EndpointChalResp, req)
	if err != nil {
		if errors.Is(err, transports.ErrNoEndpoint) {
			return res, fmt.Errorf("%w: %w", ErrNoChalResp, err)
		}
		return res, fmt.Errorf("mapping: ch_resp: %w", err)
	}
	var resp chrespb.RMakerChRespPayload
	if err := proto.Unmarshal(raw, &resp); err != nil {
		return res, fmt.Errorf("%w: ch_resp reply does not decode", ErrDeviceProtocol)
	}
	if err := chRespStatus(resp.GetStatus()); err != nil {
		return res, err
	}
	cr := resp.GetRespChallengeResponsePayload()
	if resp.GetMsg() != chrespb.RMakerChRespMsgType_TypeRespChallengeResponse || cr == nil {
		return res, fmt.Errorf("%w: ch_resp answered %v without a challenge response", ErrDeviceProtocol, resp.GetMsg())
	}
	if cr.GetNodeId() == "" || len(cr.GetPayload()) == 0 {
		return res, fmt.Errorf("%w: ch_resp reply lacks node id or signature", ErrDeviceProtocol)
	}
	res.NodeID = cr.GetNodeId()
	emit(Event{Flow: FlowChallengeResponse, NodeID: res.NodeID, RequestID: res.RequestID, Message: "device signed the challenge"})

	err = cloud.VerifyMapping(ctx, rainmaker.VerifyRequest{
		RequestID:         ch.RequestID,
		NodeID:            res.NodeID,
		ChallengeResponse: hex.EncodeToString(cr.GetPayload()),
		Tags:              opts.Tags,
		Metadata:          opts.Metadata,
	})
	if err != nil {
		return res, fmt.Errorf("mapping: verify node %s: %w", res.NodeID, cloudErr(ErrSignatureRejected, err))
	}
	res.Mapped = true
	emit(Event{Flow: FlowChallengeResponse, NodeID: res.NodeID, RequestID: res.RequestID, Mapped: true,
		Message: "node added to the account"})

	if opts.DisableOnSuccess {
		already, err := DisableChalResp(ctx, c)
		if err != nil {
			res.DisableErr = err
			emit(Event{Flow: FlowChallengeResponse, NodeID: res.NodeID, RequestID: res.RequestID, Mapped: true,
				Message: "warning: could not disable challenge-response (mapping still succeeded): " + err.Error()})
		} else {
			res.Disabled, res.AlreadyDisabled = true, already
			emit(Event{Flow: FlowChallengeResponse, NodeID: res.NodeID, RequestID: res.RequestID, Mapped: true,
				Disabled: true, Message: "challenge-response disabled on the device"})
		}
	}
	return res, nil
}

func chRespStatus(s chrespb.RMakerChRespStatus) error {
	switch s {
	case chrespb.RMakerChRespStatus_Success:
		return nil
	case chrespb.RMakerChRespStatus_Disabled:
		return ErrChalRespDisabled
	}
	return fmt.Errorf("%w: ch_resp status %v", ErrDeviceRejected, s)
}

// DisableChalResp sends the disable command to ch_resp ({msg=4}, no
// payload). A device that is already disabled answers {msg=1, status=3};
// that is reported as alreadyDisabled, not as an error.
func DisableChalResp(ctx context.Context, c Caller) (alreadyDisabled bool, err error) {
	req, err := proto.Marshal(&chrespb.RMakerChRespPayload{
		Msg:    chrespb.RMakerChRespMsgType_TypeCmdDisableChalResp,
		Status: chrespb.RMakerChRespStatus_Success,
	})
	if err != nil {
		return false, fmt.Errorf("mapping: encode disable: %w", err)
	}
	raw, err := c.Call(ctx, EndpointChalResp, req)
	if err != nil {
		if errors.Is(err, transports.ErrNoEndpoint) {
			return false, fmt.Errorf("%w: %w", ErrNoChalResp, err)
		}
		return false, fmt.Errorf("mapping: ch_resp disable: %w", err)
	}
	var resp chrespb.RMakerChRespPayload
	if err := proto.Unmarshal(raw, &resp); err != nil {
		return false, fmt.Errorf("%w: ch_resp disable reply does not decode", ErrDeviceProtocol)
	}
	switch {
	case resp.GetStatus() == chrespb.RMakerChRespStatus_Disabled:
		return true, nil
	case resp.GetStatus() != chrespb.RMakerChRespStatus_Success:
		return false, fmt.Errorf("%w: disable answered status %v", ErrDeviceRejected, resp.GetStatus())
	case resp.GetMsg() != chrespb.RMakerChRespMsgType_TypeRespDisableChalResp:
		return false, fmt.Errorf("%w: disable answered message type %v", ErrDeviceProtocol, resp.GetMsg())
	}
	return false, nil
}

// NewSecretKey returns a fresh random UUID version 4 string (36 lowercase
// characters), the CLI's secret key format.
func NewSecretKey() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("mapping: secret key: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32], nil
}

// TraditionalAssociate sends CmdSetUserMapping{userID, fresh secret key} to
// cloud_user_assoc and returns the node id from the reply and the secret
// key (needed by ConfirmTraditional; never log it). A device without the
// endpoint gives ErrNoMappingEndpoint (D9: no placeholder node id).
func TraditionalAssociate(ctx context.Context, c Caller, userID string) (nodeID, secretKey string, err error) {
	if userID == "" {
		return "", "", fmt.Errorf("%w: no user id (ID token without custom:user_id)", ErrCloudAuth)
	}
	secretKey, err = NewSecretKey()
	if err != nil {
		return "", "", err
	}
	req, err := proto.Marshal(&usermappingpb.RMakerConfigPayload{
		Msg: usermappingpb.RMakerConfigMsgType_TypeCmdSetUserMapping,
		Payload: &usermappingpb.RMakerConfigPayload_CmdSetUserMapping{
			CmdSetUserMapping: &usermappingpb.CmdSetUserMapping{UserID: userID, SecretKey: secretKey},
		},
	})
	if err != nil {
		return "", "", fmt.Errorf("mapping: encode user mapping: %w", err)
	}
	raw, err := c.Call(ctx, EndpointUserMapping, req)
	if err != nil {
		if errors.Is(err, transports.ErrNoEndpoint) {
			return "", "", fmt.Errorf("%w: %w", ErrNoMappingEndpoint, err)
		}
		return "", "", fmt.Errorf("mapping: cloud_user_assoc: %w", err)
	}
	var resp usermappingpb.RMakerConfigPayload
	if err := proto.Unmarshal(raw, &resp); err != nil {
		return "", "", fmt.Errorf("%w: cloud_user_assoc reply does not decode", ErrDeviceProtocol)
	}
	r := resp.GetRespSetUserMapping()
	if resp.GetMsg() != usermappingpb.RMakerConfigMsgType_TypeRespSetUserMapping || r == nil {
		return "", "", fmt.Errorf("%w: cloud_user_assoc reply without RespSetUserMapping", ErrDeviceProtocol)
	}
	if r.GetStatus() != usermappingpb.RMakerConfigStatus_Success {
		return "", "", fmt.Errorf("%w: sending user information to node failed (status %v)", ErrDeviceRejected, r.GetStatus())
	}
	if r.GetNodeId() == "" {
		return "", "", fmt.Errorf("%w: cloud_user_assoc reply without node id", ErrDeviceProtocol)
	}
	return r.GetNodeId(), secretKey, nil
}

// ConfirmRequest is the input of ConfirmTraditional.
type ConfirmRequest struct {
	UserID    string
	NodeID    string
	SecretKey string
	Tags      []string
	Metadata  map[string]any
	// PollInterval between status polls (default 5 s, as the CLI).
	PollInterval time.Duration
	// MaxWait bounds the whole confirmation (default 60 s, as the CLI).
	MaxWait time.Duration
}

// ConfirmTraditional runs the cloud half of the traditional flow after
// Wi-Fi success (§2.1): PUT user/nodes/mapping (operation add, tags,
// metadata), then polls the request status until confirmed, timedout,
// discarded or MaxWait. Each new status is reported as an event. Network
// errors while polling are retried until MaxWait.
func ConfirmTraditional(ctx context.Context, cloud Cloud, r ConfirmRequest, events func(Event)) (requestID string, err error) {
	emit := emitter(events)
	if r.NodeID == "" || r.UserID == "" || r.SecretKey == "" {
		return "", errors.New("mapping: node id, user id and secret key are required")
	}
	if err := ValidateTags(r.Tags); err != nil {
		return "", err
	}
	if err := ValidateMetadata(r.Metadata); err != nil {
		return "", err
	}
	if r.PollInterval <= 0 {
		r.PollInterval = 5 * time.Second
	}
	if r.MaxWait <= 0 {
		r.MaxWait = 60 * time.Second
	}
	requestID, err = cloud.AddNodeMapping(ctx, rainmaker.AddMappingRequest{
		UserID: r.UserID, NodeID: r.NodeID, SecretKey: r.SecretKey, Operation: "add",
		Tags: r.Tags, Metadata: r.Metadata,
	})
	if err != nil {
		return "", fmt.Errorf("mapping: node %s provisioned but not added to the account: %w", r.NodeID, cloudErr(ErrCloudRejected, err))
	}
	ev := Event{Flow: FlowTraditional, NodeID: r.NodeID, RequestID: requestID}
	emit(withMsg(ev, "waiting for node mapping confirmation"))

	wctx, cancel := context.WithTimeout(ctx, r.MaxWait)
	defer cancel()
	last := ""
	var lastErr error
	for {
		status, err := cloud.MappingStatus(wctx, requestID)
		switch {
		case err == nil:
			lastErr = nil
			if status != last {
				last = status
				ev.RequestStatus = status
				emit(withMsg(ev, "mapping status: "+statusText(status)))
			}
			switch status {
			case rainmaker.StatusConfirmed:
				ev.Mapped = true
				emit(withMsg(ev, "node added to the account"))
				return requestID, nil
			case rainmaker.StatusTimedOut:
				return requestID, fmt.Errorf("%w (node %s)", ErrMappingTimedOut, r.NodeID)
			case rainmaker.StatusDiscarded:
				return requestID, fmt.Errorf("%w (node %s)", ErrMappingDiscarded, r.NodeID)
			}
		case errors.Is(err, ErrCloudUnavailable) && wctx.Err() == nil:
			lastErr = err // keep polling until MaxWait
		case wctx.Err() != nil && ctx.Err() == nil:
			// MaxWait reached during the call.
		default:
			return requestID, fmt.Errorf("mapping: status of request %s: %w", requestID, cloudErr(ErrCloudRejected, err))
		}
		t := time.NewTimer(r.PollInterval)
		select {
		case <-wctx.Done():
			t.Stop()
			if ctx.Err() != nil {
				return requestID, fmt.Errorf("mapping: waiting for confirmation: %w", ctx.Err())
			}
			if lastErr != nil {
				return requestID, fmt.Errorf("%w: failed to check node mapping status within %v: %w", ErrMappingTimedOut, r.MaxWait, lastErr)
			}
			return requestID, fmt.Errorf("%w: not confirmed within %v (last status %q)", ErrMappingTimedOut, r.MaxWait, last)
		case <-t.C:
		}
	}
}

func withMsg(e Event, m string) Event { e.Message = m; return e }

func statusText(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
