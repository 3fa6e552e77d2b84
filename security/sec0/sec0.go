// Package sec0 implements protocomm Security 0 (no security, spec §5).
//
// The handshake is a single exchange that only checks the scheme number;
// afterwards every payload travels in the clear (security.Identity).
package sec0

import (
	"fmt"

	"github.com/espprov/espprov/internal/wire/devicepb"
	"github.com/espprov/espprov/security"
	"github.com/espprov/espprov/security/internal/envelope"
)

var marshal = envelope.Marshal

// request builds SessionData{sec_ver=0, sec0{msg=S0_Session_Command, sc{}}}
// = 52 03 a2 01 00.
func request() []byte {
	return marshal(&devicepb.SessionData{
		SecVer: devicepb.SecSchemeVersion_SecScheme0,
		Proto: &devicepb.SessionData_Sec0{Sec0: &devicepb.Sec0Payload{
			Msg:     devicepb.Sec0MsgType_S0_Session_Command,
			Payload: &devicepb.Sec0Payload_Sc{Sc: &devicepb.S0SessionCmd{}},
		}},
	})
}

// response builds SessionData{sec0{msg=S0_Session_Response, sr{status=Success}}}
// = 52 05 08 01 aa 01 00.
func response() []byte {
	return marshal(&devicepb.SessionData{
		SecVer: devicepb.SecSchemeVersion_SecScheme0,
		Proto: &devicepb.SessionData_Sec0{Sec0: &devicepb.Sec0Payload{
			Msg:     devicepb.Sec0MsgType_S0_Session_Response,
			Payload: &devicepb.Sec0Payload_Sr{Sr: &devicepb.S0SessionResp{Status: devicepb.Status_Success}},
		}},
	})
}

type clientState int

const (
	clientInit clientState = iota
	clientSent
	clientDone
	clientFailed
)

type client struct{ state clientState }

// NewClient returns the client side of Security 0: Step(nil) yields the
// request, Step(response) completes the handshake.
func NewClient() security.Handshaker { return &client{} }

func (c *client) Step(in []byte) ([]byte, bool, error) {
	switch c.state {
	case clientInit:
		if len(in) != 0 {
			c.state = clientFailed
			return nil, false, fmt.Errorf("sec0: first step takes no input: %w", security.ErrProtocol)
		}
		c.state = clientSent
		return request(), false, nil
	case clientSent:
		if err := checkResponse(in); err != nil {
			c.state = clientFailed
			return nil, false, err
		}
		c.state = clientDone
		return nil, true, nil
	case clientDone:
		return nil, true, fmt.Errorf("sec0: handshake already complete: %w", security.ErrProtocol)
	default:
		return nil, false, fmt.Errorf("sec0: handshake failed earlier: %w", security.ErrProtocol)
	}
}

// checkResponse accepts what the firmware sends. Like esp_prov it requires
// sec_ver == 0; a present S0SessionResp must also report Success.
func checkResponse(in []byte) error {
	m, err := envelope.Parse(in, devicepb.SecSchemeVersion_SecScheme0, "sec0", "response")
	if err != nil {
		return err
	}
	if _, other := m.GetProto().(*devicepb.SessionData_Sec0); m.GetProto() != nil && !other {
		return fmt.Errorf("sec0: response carries another scheme's payload: %w", security.ErrProtocol)
	}
	if sr := m.GetSec0().GetSr(); sr != nil && sr.GetStatus() != devicepb.Status_Success {
		return fmt.Errorf("sec0: device reported status %s: %w", sr.GetStatus(), security.ErrProtocol)
	}
	return nil
}

func (c *client) Cipher() security.Cipher {
	if c.state != clientDone {
		return security.Pending{}
	}
	return security.Identity{}
}

type device struct{ done bool }

// NewDevice returns the device side of Security 0. Like the firmware it keeps
// no session state: Cipher is the identity cipher even before any handshake,
// because Security 0 endpoints are plaintext and do not require one.
func NewDevice() security.Handshaker { return &device{} }

// Step answers a session request. The firmware ignores everything but
// sec_ver, which must be 0.
func (d *device) Step(in []byte) ([]byte, bool, error) {
	if _, err := envelope.Parse(in, devicepb.SecSchemeVersion_SecScheme0, "sec0", "request"); err != nil {
		return nil, false, err
	}
	d.done = true
	return response(), true, nil
}

func (d *device) Cipher() security.Cipher { return security.Identity{} }
