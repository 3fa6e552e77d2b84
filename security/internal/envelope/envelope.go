// Package envelope encodes and decodes the SessionData envelope that every
// security scheme's prov-session messages travel in (protocol.md §2.2).
package envelope

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/espprov/espprov/internal/wire/devicepb"
	"github.com/espprov/espprov/security"
)

var marshalOpts = proto.MarshalOptions{Deterministic: true}

// Marshal encodes m canonically (fields in number order, as protobuf-c).
func Marshal(m *devicepb.SessionData) []byte {
	b, err := marshalOpts.Marshal(m)
	if err != nil {
		// Unreachable: the messages have no string fields.
		panic("envelope: marshal: " + err.Error())
	}
	return b
}

// Parse decodes a SessionData that must carry scheme want; errors are
// prefixed with prefix (e.g. "sec1") and name the message (what).
func Parse(in []byte, want devicepb.SecSchemeVersion, prefix, what string) (*devicepb.SessionData, error) {
	var m devicepb.SessionData
	if err := proto.Unmarshal(in, &m); err != nil {
		return nil, fmt.Errorf("%s: decode %s: %w", prefix, what, security.ErrProtocol)
	}
	if v := m.GetSecVer(); v != want {
		return nil, fmt.Errorf("%s: %s: security version mismatch (got %d): %w", prefix, what, int32(v), security.ErrProtocol)
	}
	return &m, nil
}
