package protocomm

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/espprov/espprov/security"
	"github.com/espprov/espprov/security/sec0"
	"github.com/espprov/espprov/security/sec1"
	"github.com/espprov/espprov/security/sec2"
	"github.com/espprov/espprov/transports"
)

// Scheme is a protocomm security scheme version, or Auto.
type Scheme int

// Security schemes.
const (
	Auto    Scheme = -1
	Scheme0 Scheme = 0
	Scheme1 Scheme = 1
	Scheme2 Scheme = 2
)

// How a scheme was chosen.
const (
	SourceRequested = "requested"
	SourceSecVer    = "sec_ver"
	SourceNoSec     = "no_sec"
	SourceDefault   = "default"
)

// Errors of the session layer; the service maps them to status codes.
var (
	// ErrMissingPoP: Security 1 on a device without no_pop, and no PoP given.
	ErrMissingPoP = errors.New("the device requires a proof of possession (pop) for Security 1")
	// ErrMissingSRP: Security 2 without username and password.
	ErrMissingSRP = errors.New("Security 2 needs the SRP username and password (sec2_username, sec2_password)")
	// ErrUnsupportedScheme: a scheme number outside 0..2.
	ErrUnsupportedScheme = errors.New("unsupported security scheme")
	// ErrCredentialsRejected: the device dropped the handshake at the proof,
	// i.e. it rejected the PoP or the SRP username/password.
	ErrCredentialsRejected = errors.New("the device rejected the proof of possession or credentials")
)

// Credentials are the secrets a scheme may need. They are never logged.
type Credentials struct {
	PoP         string
	SRPUsername string
	SRPPassword string
}

// SelectScheme decides the security scheme: an explicit request wins, then
// prov.sec_ver (unlike the reference CLI, this can pick Security 2), then the
// no_sec capability (0, else 1) for firmware without sec_ver; a reply whose
// capabilities cannot be read defaults to Security 1.
func SelectScheme(v Version, requested Scheme) (Scheme, string, error) {
	switch {
	case requested >= Scheme0 && requested <= Scheme2:
		return requested, SourceRequested, nil
	case requested != Auto:
		return 0, "", fmt.Errorf("protocomm: %w: %d (use 0, 1 or 2)", ErrUnsupportedScheme, requested)
	case v.JSON && v.SecVer >= 0 && v.SecVer <= 2:
		return Scheme(v.SecVer), SourceSecVer, nil
	case v.JSON && v.HasProv && v.Has("no_sec"):
		return Scheme0, SourceNoSec, nil
	case v.JSON && v.HasProv:
		return Scheme1, SourceNoSec, nil
	default:
		return Scheme1, SourceDefault, nil
	}
}

// NewHandshaker builds the client handshaker for scheme s. For Security 1 a
// device that advertises no_pop gets no PoP mixed in (a supplied PoP is
// ignored, protocol.md §13.1 item 14).
func NewHandshaker(s Scheme, v Version, c Credentials, opts ...security.Option) (security.Handshaker, error) {
	switch s {
	case Scheme0:
		return sec0.NewClient(), nil
	case Scheme1:
		if v.Has("no_pop") {
			return sec1.NewClient(nil, opts...), nil
		}
		if c.PoP == "" {
			return nil, fmt.Errorf("protocomm: %w", ErrMissingPoP)
		}
		return sec1.NewClient([]byte(c.PoP), opts...), nil
	case Scheme2:
		if c.SRPUsername == "" || c.SRPPassword == "" {
			return nil, fmt.Errorf("protocomm: %w", ErrMissingSRP)
		}
		return sec2.NewClient(c.SRPUsername, c.SRPPassword, opts...), nil
	}
	return nil, fmt.Errorf("protocomm: %w: %d", ErrUnsupportedScheme, s)
}

// Session is an established protocomm session over one transport.
type Session struct {
	mu     sync.Mutex
	t      transports.Transport
	cipher security.Cipher
}

// Establish runs the prov-session handshake. A device that drops the
// exchange carrying the client's proof (or fails its own) has rejected the
// PoP or the SRP credentials: that is reported as ErrCredentialsRejected.
func Establish(ctx context.Context, t transports.Transport, hs security.Handshaker) (*Session, error) {
	var in []byte
	for round := 0; ; round++ {
		out, done, err := hs.Step(in)
		if err != nil {
			if errors.Is(err, security.ErrRejected) {
				return nil, fmt.Errorf("prov-session: %w: %w", ErrCredentialsRejected, err)
			}
			return nil, fmt.Errorf("prov-session: %w", err)
		}
		if done {
			break
		}
		if round > 4 {
			return nil, fmt.Errorf("prov-session: handshake did not finish: %w", security.ErrProtocol)
		}
		in, err = t.Exchange(ctx, EndpointSession, out)
		if err != nil {
			if round >= 1 && errors.Is(err, transports.ErrClosed) {
				// Firmware answers a wrong proof by dropping the exchange. A
				// device that still answers proto-ver is alive, so it rejected
				// the proof; one that does not has lost the link.
				if transports.DropsLinkOnFailure(t) {
					return nil, fmt.Errorf("prov-session: %w (the device dropped the link at the proof step): %w", ErrCredentialsRejected, err)
				}
				if _, perr := t.Exchange(ctx, EndpointVersion, []byte("---")); perr == nil {
					return nil, fmt.Errorf("prov-session: %w", ErrCredentialsRejected)
				}
				return nil, fmt.Errorf("prov-session: device dropped the handshake at the proof step and stopped answering (lost link, or rejected credentials): %w", err)
			}
			return nil, fmt.Errorf("prov-session: %w", err)
		}
	}
	return &Session{t: t, cipher: hs.Cipher()}, nil
}

// Call encrypts plaintext, sends it to endpoint and returns the decrypted
// reply. Calls are serialised: the session cipher is stateful.
func (s *Session) Call(ctx context.Context, endpoint string, plaintext []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	req, err := s.cipher.Encrypt(plaintext)
	if err != nil {
		return nil, fmt.Errorf("%s: encrypt: %w", endpoint, err)
	}
	reply, err := s.t.Exchange(ctx, endpoint, req)
	if err != nil {
		if errors.Is(err, transports.ErrNoEndpoint) || errors.Is(err, transports.ErrTooLarge) {
			// The device never saw the request: give the keystream back.
			if rw, ok := s.cipher.(security.Rewinder); ok {
				if rerr := rw.UndoEncrypt(len(plaintext)); rerr != nil {
					return nil, fmt.Errorf("%s: %w (and the session cipher could not be rewound: %v)", endpoint, err, rerr)
				}
			}
		}
		return nil, fmt.Errorf("%s: %w", endpoint, err)
	}
	plain, err := s.cipher.Decrypt(reply)
	if err != nil {
		return nil, fmt.Errorf("%s: decrypt reply: %w", endpoint, err)
	}
	return plain, nil
}

// Transport returns the session's transport.
func (s *Session) Transport() transports.Transport { return s.t }
