// Package security implements the protocomm session security schemes
// (Security 0, 1 and 2) for both roles: the client that provisions and the
// device that is provisioned. A scheme knows keys and messages, never sockets:
// the caller moves the bytes.
//
// The sub-packages sec0, sec1 and sec2 provide the schemes; this package holds
// the interfaces and the errors they share.
package security

import (
	"crypto/rand"
	"errors"
	"io"
)

// Handshaker is one side of the prov-session exchange.
//
// Client role: call Step(nil) for the first request, then pass each device
// response to Step until done is true (out is then nil).
// Device role: pass each received request to Step and send back out; done
// reports that the session is established. A device handshaker restarts on a
// new Command0 at any time.
//
// After done, Cipher returns the session cipher (never nil; Security 0 returns
// an identity cipher).
type Handshaker interface {
	Step(in []byte) (out []byte, done bool, err error)
	Cipher() Cipher
}

// Cipher encrypts and decrypts endpoint payloads once the session is up.
// Calls must follow the wire order (Security 1 and 2 are stateful).
type Cipher interface {
	Encrypt(plaintext []byte) ([]byte, error)
	Decrypt(ciphertext []byte) ([]byte, error)
}

// Rewinder is a stateful Cipher that can take back its last Encrypt of n
// bytes, for a request that never reached the device (e.g. HTTP 404: the
// endpoint is not registered), so that client and device stay in step.
type Rewinder interface {
	UndoEncrypt(n int) error
}

var (
	// ErrRejected: the peer's proof did not verify — a wrong proof of
	// possession (Security 1) or wrong SRP username/password (Security 2).
	ErrRejected = errors.New("security: proof rejected")
	// ErrProtocol: a malformed or unexpected handshake message.
	ErrProtocol = errors.New("security: malformed handshake message")
	// ErrNotEstablished: the cipher was used before the handshake finished.
	ErrNotEstablished = errors.New("security: session not established")
	// ErrCounterExhausted: the Security 2 IV counter wrapped; start a new session.
	ErrCounterExhausted = errors.New("security: IV counter exhausted")
	// ErrDecrypt: an encrypted message failed authentication (Security 2
	// AES-GCM tag mismatch, truncated ciphertext). The session keys or the IV
	// sequence do not match the peer's.
	ErrDecrypt = errors.New("security: message authentication failed")
)

// Identity is the Security 0 cipher: data passes unchanged.
type Identity struct{}

// Encrypt returns a copy of p.
func (Identity) Encrypt(p []byte) ([]byte, error) { return append([]byte(nil), p...), nil }

// Decrypt returns a copy of p.
func (Identity) Decrypt(p []byte) ([]byte, error) { return append([]byte(nil), p...), nil }

// Pending is the cipher a handshaker returns before its session is
// established: every call fails with ErrNotEstablished.
type Pending struct{}

// Encrypt fails with ErrNotEstablished.
func (Pending) Encrypt([]byte) ([]byte, error) { return nil, ErrNotEstablished }

// Decrypt fails with ErrNotEstablished.
func (Pending) Decrypt([]byte) ([]byte, error) { return nil, ErrNotEstablished }

// Options configures a scheme's handshaker. Build it with Option values.
type Options struct {
	// Rand is the source of every random value the handshaker draws (keys,
	// nonces, SRP secrets). Default: crypto/rand.Reader.
	Rand io.Reader
}

// Option sets one field of Options.
type Option func(*Options)

// WithRand makes the handshaker draw its random values from r, e.g. to
// reproduce test vectors. The order of the draws is documented per scheme.
func WithRand(r io.Reader) Option { return func(o *Options) { o.Rand = r } }

// ResolveOptions applies opts over the defaults.
func ResolveOptions(opts ...Option) Options {
	o := Options{Rand: rand.Reader}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	return o
}
