// Package mapping runs the two ESP RainMaker user-node mapping flows over an
// established secure session (rainmaker.md §2):
//
//   - challenge-response (device lists ch_resp under rmaker_extra): cloud
//     initiate → device ch_resp signs the challenge → cloud verify with
//     node id, signature, tags and metadata → optional disable command;
//   - traditional (otherwise): a fresh random secret key and the user id go
//     to the device's cloud_user_assoc endpoint; after Wi-Fi success the
//     client PUTs the mapping and polls the request status.
//
// Errors wrap the sentinels below so that the gRPC layer can map them to
// status codes. No secret (tokens, secret key) appears in errors or events.
package mapping

import (
	"context"
	"errors"
	"fmt"

	"github.com/espprov/espprov/internal/rainmaker"
)

// Caller is an established secure session: it encrypts plaintext, exchanges
// it with the device's endpoint and returns the decrypted reply.
type Caller interface {
	Call(ctx context.Context, endpoint string, plaintext []byte) ([]byte, error)
}

// Cloud is the part of the RainMaker API the flows use
// (*rainmaker.Client implements it).
type Cloud interface {
	UserID(ctx context.Context) (string, error)
	InitiateMapping(ctx context.Context, timeoutSec int) (rainmaker.Challenge, error)
	VerifyMapping(ctx context.Context, r rainmaker.VerifyRequest) error
	AddNodeMapping(ctx context.Context, r rainmaker.AddMappingRequest) (string, error)
	MappingStatus(ctx context.Context, requestID string) (string, error)
}

var _ Cloud = (*rainmaker.Client)(nil)

// Device endpoint names.
const (
	EndpointChalResp    = "ch_resp"
	EndpointUserMapping = "cloud_user_assoc"
)

// Errors. The comment names the gRPC code the API layer should use.
var (
	// ErrNotClaimed: proto-ver lists rmaker "claim" (FailedPrecondition).
	ErrNotClaimed = errors.New("mapping: the node must be claimed before provisioning")
	// ErrNoChalResp: mapping without Wi-Fi needs challenge-response (FailedPrecondition).
	ErrNoChalResp = errors.New("mapping: mapping without Wi-Fi requires a device with challenge-response (ch_resp) capability; this device does not support challenge-response based user-node mapping")
	// ErrChalRespDisabled: the device answered status Disabled (FailedPrecondition).
	ErrChalRespDisabled = errors.New("mapping: challenge-response has been disabled on the device (reboot or re-enable it)")
	// ErrCloudAuth: the cloud rejected the account (Unauthenticated).
	ErrCloudAuth = rainmaker.ErrUnauthenticated
	// ErrCloudUnavailable: network errors or 5xx beyond the retry budget (Unavailable).
	ErrCloudUnavailable = rainmaker.ErrUnavailable
	// ErrCloudRejected: another cloud 4xx reply (FailedPrecondition).
	ErrCloudRejected = errors.New("mapping: the cloud rejected the request")
	// ErrSignatureRejected: verify failed (FailedPrecondition).
	ErrSignatureRejected = errors.New("mapping: the cloud rejected the challenge response")
	// ErrMappingTimedOut: the traditional request timed out or was not
	// confirmed within the wait (DeadlineExceeded).
	ErrMappingTimedOut = errors.New("mapping: node mapping request timed out")
	// ErrMappingDiscarded: the cloud discarded the traditional request (Aborted/FailedPrecondition).
	ErrMappingDiscarded = errors.New("mapping: node mapping request was discarded by the cloud")
	// ErrNoMappingEndpoint: the device has no cloud_user_assoc endpoint (D9):
	// Wi-Fi can be provisioned but the node is not mapped; it must be added
	// manually (FailedPrecondition, or a partial-success result).
	ErrNoMappingEndpoint = errors.New("mapping: device does not support the user-node association endpoint; node not added to the account (manual addition required)")
	// ErrDeviceRejected: the device answered a failure status (FailedPrecondition).
	ErrDeviceRejected = errors.New("mapping: the device rejected the request")
	// ErrDeviceProtocol: the device's reply is not what the firmware sends (Internal/Unavailable).
	ErrDeviceProtocol = errors.New("mapping: unexpected reply from the device")
	// ErrInvalidTag: a tag is not key:value (InvalidArgument).
	ErrInvalidTag = errors.New("mapping: invalid tag")
	// ErrInvalidMetadata: metadata is not a JSON object (InvalidArgument).
	ErrInvalidMetadata = errors.New("mapping: invalid metadata")
)

// Capabilities are the RainMaker capabilities parsed from proto-ver.
type Capabilities struct {
	// Claim: rmaker.cap contains "claim" or "camera_claim".
	Claim bool
	// ChResp: rmaker_extra.cap contains "ch_resp".
	ChResp bool
	// LocalCtrl: rmaker_extra.cap contains "local_ctrl".
	LocalCtrl bool
}

// Flow is a mapping flow.
type Flow int

const (
	FlowUnspecified Flow = iota
	FlowChallengeResponse
	FlowTraditional
)

func (f Flow) String() string {
	switch f {
	case FlowChallengeResponse:
		return "challenge-response"
	case FlowTraditional:
		return "traditional"
	}
	return "unspecified"
}

// Plan picks the flow from the device's capabilities, before anything is
// sent: an unclaimed node is refused (ErrNotClaimed); ch_resp selects
// challenge-response; without it, noWifi (mapping only) is refused
// (ErrNoChalResp), else the traditional flow is used.
func Plan(caps Capabilities, noWifi bool) (Flow, error) {
	switch {
	case caps.Claim:
		return FlowUnspecified, ErrNotClaimed
	case caps.ChResp:
		return FlowChallengeResponse, nil
	case noWifi:
		return FlowUnspecified, ErrNoChalResp
	}
	return FlowTraditional, nil
}

// Transport names as used by the API.
const (
	TransportOnNetwork = "on-network"
)

// DisableByDefault is whether challenge-response is disabled after a
// successful mapping (documented defaults, D1): an explicit override wins;
// otherwise yes for on-network, no for BLE, SoftAP and console.
func DisableByDefault(transport string, override *bool) bool {
	if override != nil {
		return *override
	}
	return transport == TransportOnNetwork
}

// Event is one mapping progress report. It never carries secrets.
type Event struct {
	Flow      Flow
	NodeID    string
	RequestID string
	// RequestStatus is the traditional request's cloud status (requested,
	// confirmed, timedout, discarded); empty for challenge-response.
	RequestStatus string
	Mapped        bool
	// Disabled: challenge-response is now disabled on the device.
	Disabled bool
	// Message is a human-readable description.
	Message string
}

func emitter(events func(Event)) func(Event) {
	if events == nil {
		return func(Event) {}
	}
	return events
}

// cloudErr classifies a cloud failure: authentication and availability
// errors keep their sentinels (ErrCloudAuth, ErrCloudUnavailable); a 4xx
// reply becomes rejected (ErrInvalidTag for code 105046).
func cloudErr(rejected error, err error) error {
	if errors.Is(err, ErrCloudAuth) || errors.Is(err, ErrCloudUnavailable) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var ae *rainmaker.APIError
	if errors.As(err, &ae) {
		if ae.Code == rainmaker.ErrorCodeInvalidTag {
			return fmt.Errorf("%w: %w", ErrInvalidTag, err)
		}
		return fmt.Errorf("%w: %w", rejected, err)
	}
	return err
}
