package device

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	pb "github.com/espprov/espprov/internal/wire/devicepb"
)

// FaultKind is a misbehaviour a simulated device can be told to show at
// one step of provisioning (fault injection for clients' tests and load).
type FaultKind string

// Fault kinds.
const (
	// FaultDrop: the handler fails, so the transport drops the exchange
	// without a reply (HTTP: the socket is closed), like firmware.
	FaultDrop FaultKind = "drop"
	// FaultStall: the request is taken and never answered (ErrStall tells
	// the transport to keep the exchange open and silent).
	FaultStall FaultKind = "stall"
	// FaultGarbage: the reply is random bytes.
	FaultGarbage FaultKind = "garbage"
	// FaultTruncate: the reply is cut to half its length (a truncated
	// protobuf, or ciphertext of one).
	FaultTruncate FaultKind = "truncate"
	// FaultKeyLength: the handshake's first reply carries a public key of
	// the wrong length (Security 1: 31 bytes; Security 2: 385 bytes).
	FaultKeyLength FaultKind = "key-length"
	// FaultNonce: the reply is encrypted with the wrong IV counter
	// (Security 2; Security 1: the wrong CTR offset).
	FaultNonce FaultKind = "nonce"
	// At StepWifi: the connection fails with AuthError or NetworkNotFound
	// whatever the credentials, or takes Config.SlowAssociation.
	FaultAuthError FaultKind = "auth-error"
	FaultNotFound  FaultKind = "not-found"
	FaultSlow      FaultKind = "slow"
)

// Fault steps, as the device sees them.
const (
	StepProtoVer    = "proto-ver"
	StepSession0    = "session-0" // first prov-session exchange
	StepSession1    = "session-1" // second (the client's proof)
	StepSetConfig   = "set-config"
	StepApplyConfig = "apply-config"
	StepGetStatus   = "get-status"
	StepScan        = "scan"
	StepCtrl        = "ctrl"
	// StepWifi is the association after ApplyConfig.
	StepWifi = "wifi"
)

// FaultSteps lists the steps faults can be placed at, in provisioning order.
var FaultSteps = []string{StepProtoVer, StepSession0, StepSession1, StepSetConfig, StepApplyConfig, StepGetStatus, StepScan, StepCtrl, StepWifi}

// FaultKinds lists the fault kinds.
var FaultKinds = []FaultKind{FaultDrop, FaultStall, FaultGarbage, FaultTruncate, FaultKeyLength, FaultNonce,
	FaultAuthError, FaultNotFound, FaultSlow}

// ErrStall is returned by Handle for a stalled exchange: the transport must
// neither answer nor close (simhttpd keeps the socket silent).
var ErrStall = errors.New("device: exchange stalled (fault injection)")

// errFaultDrop is the handler failure of FaultDrop.
var errFaultDrop = errors.New("device: handler failed (fault injection)")

// Fault places one misbehaviour at one step. Application endpoints are
// steps by their name (ch_resp, cloud_user_assoc).
type Fault struct {
	Step string
	Kind FaultKind
	// Times is how many times the fault fires (0: once), so that a retry
	// finds a device that behaves.
	Times int
}

func (f Fault) String() string { return string(f.Kind) + "@" + f.Step }

// ParseFault parses KIND@STEP[xN] (e.g. drop@set-config, stall@proto-ver x3).
func ParseFault(s string) (Fault, error) {
	kind, step, ok := strings.Cut(s, "@")
	if !ok {
		return Fault{}, fmt.Errorf("fault %q: want KIND@STEP (kinds %v, steps %v)", s, FaultKinds, FaultSteps)
	}
	f := Fault{Kind: FaultKind(kind), Step: step}
	if st, n, ok := strings.Cut(step, "x"); ok && st != "" && !slices.Contains(FaultSteps, step) {
		var times int
		if _, err := fmt.Sscan(n, &times); err != nil || times < 1 {
			return Fault{}, fmt.Errorf("fault %q: bad repeat count %q", s, n)
		}
		f.Step, f.Times = st, times
	}
	if !slices.Contains(FaultKinds, f.Kind) {
		return Fault{}, fmt.Errorf("fault %q: unknown kind %q (want one of %v)", s, kind, FaultKinds)
	}
	if f.Step == "" {
		return Fault{}, fmt.Errorf("fault %q: empty step", s)
	}
	return f, nil
}

// faultState counts the firings of the configured faults; guarded by xmu.
type faultState struct {
	fired   []int
	session int // prov-session exchanges in the current security session
}

// faultAt returns the fault to apply at step, if any, and counts it.
func (d *Device) faultAt(step string) (FaultKind, bool) {
	for i, f := range d.cfg.Faults {
		if f.Step != step {
			continue
		}
		limit := max(f.Times, 1)
		if d.faults.fired[i] >= limit {
			continue
		}
		d.faults.fired[i]++
		return f.Kind, true
	}
	return "", false
}

// configStep names a prov-config/scan/ctrl request by its message type.
func configStep(endpoint string, plain []byte) string {
	switch endpoint {
	case EndpointConfig:
		var m pb.WiFiConfigPayload
		if proto.Unmarshal(plain, &m) != nil {
			return endpoint
		}
		switch m.GetMsg() {
		case pb.WiFiConfigMsgType_TypeCmdSetConfig:
			return StepSetConfig
		case pb.WiFiConfigMsgType_TypeCmdApplyConfig:
			return StepApplyConfig
		case pb.WiFiConfigMsgType_TypeCmdGetStatus:
			return StepGetStatus
		}
	case EndpointScan:
		return StepScan
	case EndpointCtrl:
		return StepCtrl
	}
	return endpoint
}

// garbage returns random bytes that stand in for a reply of n bytes. Their
// length is never n: a same-length stand-in would consume exactly the
// keystream of the real reply and leave a Security 1 session in step, so
// the fault would not be the garbage it claims to be.
func garbage(n int) []byte {
	size := 1 + rand.IntN(max(n, 16))
	if size == n {
		size++
	}
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(rand.UintN(256))
	}
	return b
}

// corruptKey rewrites a handshake's first reply so that its public key has
// the wrong length.
func corruptKey(secVer int, reply []byte) []byte {
	var m pb.SessionData
	if proto.Unmarshal(reply, &m) != nil {
		return reply
	}
	switch secVer {
	case 1:
		if r := m.GetSec1().GetSr0(); r != nil && len(r.DevicePubkey) > 0 {
			r.DevicePubkey = r.DevicePubkey[:len(r.DevicePubkey)-1]
		}
	case 2:
		if r := m.GetSec2().GetSr0(); r != nil {
			r.DevicePubkey = append(make([]byte, 385-len(r.DevicePubkey)), r.DevicePubkey...)
			r.DevicePubkey[0] = 1
		}
	}
	out, err := proto.Marshal(&m)
	if err != nil {
		return reply
	}
	return out
}

// applyReplyFault changes a reply for the reply-side fault kinds.
func (d *Device) applyReplyFault(kind FaultKind, reply []byte) []byte {
	switch kind {
	case FaultGarbage:
		return garbage(len(reply))
	case FaultTruncate:
		return reply[:len(reply)/2]
	case FaultKeyLength:
		return corruptKey(d.cfg.SecVer, reply)
	}
	return reply
}
