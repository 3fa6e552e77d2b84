// Package sec1 implements protocomm Security 1 (spec §6): X25519 key
// agreement, an optional proof of possession (PoP) mixed into the key, and one
// AES-256-CTR keystream shared by both directions for the whole session.
//
// Random draws, in order (see security.WithRand):
//   - client: 32 bytes, the raw X25519 private key (Step(nil));
//   - device: 32 bytes, the raw X25519 private key, then 16 bytes
//     device_random (each Command0).
//
// A Handshaker is not safe for concurrent use; the Cipher it returns is
// (calls are serialised, but must still follow the wire order).
package sec1

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io"
	"sync"

	"github.com/espprov/espprov/internal/wire/devicepb"
	"github.com/espprov/espprov/security"
	"github.com/espprov/espprov/security/internal/envelope"
)

const (
	keySize    = 32 // X25519 keys and shared secret, AES-256 key
	randomSize = 16 // device_random, the CTR initial counter block
	// HandshakeOffset is the keystream offset when the session starts:
	// client_verify_data and device_verify_data consumed 32 bytes each.
	HandshakeOffset = 2 * keySize
)

func marshal(p *devicepb.Sec1Payload) []byte {
	return envelope.Marshal(&devicepb.SessionData{
		SecVer: devicepb.SecSchemeVersion_SecScheme1,
		Proto:  &devicepb.SessionData_Sec1{Sec1: p},
	})
}

// parse decodes a SessionData that must carry Security 1.
func parse(in []byte, what string) (*devicepb.Sec1Payload, error) {
	m, err := envelope.Parse(in, devicepb.SecSchemeVersion_SecScheme1, "sec1", what)
	if err != nil {
		return nil, err
	}
	p := m.GetSec1()
	if p == nil {
		return nil, fmt.Errorf("sec1: %s without sec1 payload: %w", what, security.ErrProtocol)
	}
	return p, nil
}

// sessionKey returns X25519(priv, peer) XOR popHash (popHash nil: no PoP).
func sessionKey(priv *ecdh.PrivateKey, peer []byte, popHash []byte) ([]byte, error) {
	pub, err := ecdh.X25519().NewPublicKey(peer)
	if err != nil {
		return nil, fmt.Errorf("sec1: peer public key: %w", security.ErrProtocol)
	}
	k, err := priv.ECDH(pub)
	if err != nil {
		// Low-order peer point (all-zero shared secret); mbedtls refuses too.
		return nil, fmt.Errorf("sec1: key agreement failed: %w", security.ErrProtocol)
	}
	if popHash != nil {
		subtle.XORBytes(k, k, popHash)
	}
	return k, nil
}

func popHash(pop []byte) []byte {
	if len(pop) == 0 {
		return nil
	}
	h := sha256.Sum256(pop)
	return h[:]
}

func newPrivateKey(r io.Reader) (*ecdh.PrivateKey, error) {
	var raw [keySize]byte
	if _, err := io.ReadFull(r, raw[:]); err != nil {
		return nil, fmt.Errorf("sec1: draw private key: %w", err)
	}
	k, err := ecdh.X25519().NewPrivateKey(raw[:])
	if err != nil {
		return nil, fmt.Errorf("sec1: private key: %w", err)
	}
	return k, nil
}

func newStream(key, iv []byte) cipher.Stream {
	b, err := aes.NewCipher(key)
	if err != nil {
		panic("sec1: aes key size") // key is always 32 bytes
	}
	return cipher.NewCTR(b, iv)
}

// streamCipher is the session cipher: one CTR keystream consumed by both
// directions in wire order (spec §6.3). Encrypt and Decrypt are the same
// operation.
type streamCipher struct {
	mu      sync.Mutex
	stream  cipher.Stream
	revoked bool
	// key, iv and offset (keystream bytes consumed, HandshakeOffset after
	// the handshake) allow UndoEncrypt to rebuild the stream.
	key, iv []byte
	offset  int64
}

func newStreamCipher(stream cipher.Stream, key, iv []byte) *streamCipher {
	return &streamCipher{stream: stream, key: key, iv: iv, offset: HandshakeOffset}
}

func (s *streamCipher) xor(in []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.revoked {
		return nil, security.ErrNotEstablished
	}
	out := make([]byte, len(in))
	s.stream.XORKeyStream(out, in)
	s.offset += int64(len(in))
	return out, nil
}

// UndoEncrypt implements security.Rewinder: it gives back the last n
// keystream bytes, for a request the device never received (its endpoint
// does not exist), so that both sides stay in step.
func (s *streamCipher) UndoEncrypt(n int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.revoked {
		return security.ErrNotEstablished
	}
	if n < 0 || int64(n) > s.offset-HandshakeOffset {
		return fmt.Errorf("sec1: cannot undo %d bytes: %w", n, security.ErrProtocol)
	}
	s.offset -= int64(n)
	s.stream = newStream(s.key, s.iv)
	discard := make([]byte, s.offset)
	s.stream.XORKeyStream(discard, discard)
	return nil
}

func (s *streamCipher) revoke() {
	s.mu.Lock()
	s.revoked = true
	s.mu.Unlock()
}

// Encrypt encrypts p with the next len(p) keystream bytes.
func (s *streamCipher) Encrypt(p []byte) ([]byte, error) { return s.xor(p) }

// Decrypt decrypts c with the next len(c) keystream bytes.
func (s *streamCipher) Decrypt(c []byte) ([]byte, error) { return s.xor(c) }

type clientState int

const (
	clientInit clientState = iota
	clientSent0
	clientSent1
	clientDone
	clientFailed
)

type client struct {
	popHash []byte
	rand    io.Reader

	state  clientState
	priv   *ecdh.PrivateKey
	stream cipher.Stream
	key    []byte
	random []byte
	cipher *streamCipher
}

// NewClient returns the client side of Security 1. An empty pop means no
// PoP mixing (devices advertising no_pop; spec §13.1 pitfall 14).
// Step(nil) → Command0, Step(Response0) → Command1, Step(Response1) → done.
func NewClient(pop []byte, opts ...security.Option) security.Handshaker {
	o := security.ResolveOptions(opts...)
	return &client{popHash: popHash(pop), rand: o.Rand}
}

func (c *client) Step(in []byte) ([]byte, bool, error) {
	out, done, err := c.step(in)
	if err != nil && c.state != clientDone {
		c.state = clientFailed
		c.priv, c.stream = nil, nil
	}
	return out, done, err
}

func (c *client) step(in []byte) ([]byte, bool, error) {
	switch c.state {
	case clientInit:
		if len(in) != 0 {
			return nil, false, fmt.Errorf("sec1: first step takes no input: %w", security.ErrProtocol)
		}
		priv, err := newPrivateKey(c.rand)
		if err != nil {
			return nil, false, err
		}
		c.priv = priv
		c.state = clientSent0
		return marshal(&devicepb.Sec1Payload{
			Msg: devicepb.Sec1MsgType_Session_Command0,
			Payload: &devicepb.Sec1Payload_Sc0{Sc0: &devicepb.SessionCmd0{
				ClientPubkey: priv.PublicKey().Bytes(),
			}},
		}), false, nil

	case clientSent0:
		p, err := parse(in, "Response0")
		if err != nil {
			return nil, false, err
		}
		r := p.GetSr0()
		if p.GetMsg() != devicepb.Sec1MsgType_Session_Response0 || r == nil {
			return nil, false, fmt.Errorf("sec1: expected Response0, got message %d: %w", int32(p.GetMsg()), security.ErrProtocol)
		}
		if r.GetStatus() != devicepb.Status_Success {
			return nil, false, fmt.Errorf("sec1: Response0 status %s: %w", r.GetStatus(), security.ErrProtocol)
		}
		dpub, random := r.GetDevicePubkey(), r.GetDeviceRandom()
		if len(dpub) != keySize || len(random) != randomSize {
			return nil, false, fmt.Errorf("sec1: Response0 field lengths %d/%d, want %d/%d: %w",
				len(dpub), len(random), keySize, randomSize, security.ErrProtocol)
		}
		key, err := sessionKey(c.priv, dpub, c.popHash)
		if err != nil {
			return nil, false, err
		}
		c.stream = newStream(key, random)
		c.key, c.random = key, append([]byte(nil), random...)
		verify := make([]byte, keySize)
		c.stream.XORKeyStream(verify, dpub)
		c.state = clientSent1
		return marshal(&devicepb.Sec1Payload{
			Msg:     devicepb.Sec1MsgType_Session_Command1,
			Payload: &devicepb.Sec1Payload_Sc1{Sc1: &devicepb.SessionCmd1{ClientVerifyData: verify}},
		}), false, nil

	case clientSent1:
		p, err := parse(in, "Response1")
		if err != nil {
			return nil, false, err
		}
		r := p.GetSr1()
		if p.GetMsg() != devicepb.Sec1MsgType_Session_Response1 || r == nil {
			return nil, false, fmt.Errorf("sec1: expected Response1, got message %d: %w", int32(p.GetMsg()), security.ErrProtocol)
		}
		if r.GetStatus() != devicepb.Status_Success {
			return nil, false, fmt.Errorf("sec1: Response1 status %s: %w", r.GetStatus(), security.ErrProtocol)
		}
		dv := r.GetDeviceVerifyData()
		if len(dv) != keySize {
			return nil, false, fmt.Errorf("sec1: device_verify_data is %d bytes, want %d: %w", len(dv), keySize, security.ErrProtocol)
		}
		plain := make([]byte, keySize)
		c.stream.XORKeyStream(plain, dv)
		if subtle.ConstantTimeCompare(plain, c.priv.PublicKey().Bytes()) != 1 {
			return nil, false, fmt.Errorf("sec1: failed to verify device: %w", security.ErrRejected)
		}
		c.cipher = newStreamCipher(c.stream, c.key, c.random)
		c.priv, c.stream, c.key, c.random = nil, nil, nil, nil
		c.state = clientDone
		return nil, true, nil

	case clientDone:
		return nil, true, fmt.Errorf("sec1: handshake already complete: %w", security.ErrProtocol)
	default:
		return nil, false, fmt.Errorf("sec1: handshake failed earlier: %w", security.ErrProtocol)
	}
}

func (c *client) Cipher() security.Cipher {
	if c.state != clientDone {
		return security.Pending{}
	}
	return c.cipher
}

type deviceState int

const (
	deviceIdle deviceState = iota
	deviceAwaitCmd1
	deviceEstablished
)

type device struct {
	popHash []byte
	rand    io.Reader

	state  deviceState
	key    []byte // session key, between Command0 and Command1
	random []byte // device_random
	cpub   []byte
	dpub   []byte
	cipher *streamCipher
}

// NewDevice returns the device side of Security 1 with the given PoP (empty:
// no PoP). Step takes a request and returns the response; Command0 restarts
// the session at any time.
func NewDevice(pop []byte, opts ...security.Option) security.Handshaker {
	o := security.ResolveOptions(opts...)
	return &device{popHash: popHash(pop), rand: o.Rand}
}

func (d *device) reset() {
	if d.cipher != nil {
		d.cipher.revoke()
	}
	*d = device{popHash: d.popHash, rand: d.rand}
}

func (d *device) Step(in []byte) ([]byte, bool, error) {
	p, err := parse(in, "request")
	if err != nil {
		return nil, false, err
	}
	switch p.GetMsg() {
	case devicepb.Sec1MsgType_Session_Command0:
		return d.command0(p.GetSc0())
	case devicepb.Sec1MsgType_Session_Command1:
		return d.command1(p.GetSc1())
	default:
		return nil, false, fmt.Errorf("sec1: unexpected message type %d: %w", int32(p.GetMsg()), security.ErrProtocol)
	}
}

func (d *device) command0(sc0 *devicepb.SessionCmd0) ([]byte, bool, error) {
	d.reset()
	if sc0 == nil {
		return nil, false, fmt.Errorf("sec1: Command0 without sc0: %w", security.ErrProtocol)
	}
	cpub := sc0.GetClientPubkey()
	if len(cpub) != keySize {
		return nil, false, fmt.Errorf("sec1: client public key is %d bytes, want %d: %w", len(cpub), keySize, security.ErrProtocol)
	}
	priv, err := newPrivateKey(d.rand)
	if err != nil {
		return nil, false, err
	}
	random := make([]byte, randomSize)
	if _, err := io.ReadFull(d.rand, random); err != nil {
		return nil, false, fmt.Errorf("sec1: draw device random: %w", err)
	}
	key, err := sessionKey(priv, cpub, d.popHash)
	if err != nil {
		return nil, false, err
	}
	d.key, d.random = key, random
	d.cpub = append([]byte(nil), cpub...)
	d.dpub = priv.PublicKey().Bytes()
	d.state = deviceAwaitCmd1
	return marshal(&devicepb.Sec1Payload{
		Msg: devicepb.Sec1MsgType_Session_Response0,
		Payload: &devicepb.Sec1Payload_Sr0{Sr0: &devicepb.SessionResp0{
			Status:       devicepb.Status_Success,
			DevicePubkey: d.dpub,
			DeviceRandom: d.random,
		}},
	}), false, nil
}

func (d *device) command1(sc1 *devicepb.SessionCmd1) ([]byte, bool, error) {
	if d.state != deviceAwaitCmd1 {
		return nil, false, fmt.Errorf("sec1: Command1 without a pending Command0: %w", security.ErrProtocol)
	}
	if sc1 == nil {
		d.reset()
		return nil, false, fmt.Errorf("sec1: Command1 without sc1: %w", security.ErrProtocol)
	}
	cv := sc1.GetClientVerifyData()
	if len(cv) != keySize {
		d.reset()
		return nil, false, fmt.Errorf("sec1: client_verify_data is %d bytes, want %d: %w", len(cv), keySize, security.ErrProtocol)
	}
	stream := newStream(d.key, d.random)
	plain := make([]byte, keySize)
	stream.XORKeyStream(plain, cv)
	if subtle.ConstantTimeCompare(plain, d.dpub) != 1 {
		// Wrong PoP: the firmware drops the exchange and needs a new Command0.
		d.reset()
		return nil, false, fmt.Errorf("sec1: client verification failed: %w", security.ErrRejected)
	}
	verify := make([]byte, keySize)
	stream.XORKeyStream(verify, d.cpub)
	d.cipher = newStreamCipher(stream, d.key, d.random)
	d.key, d.random, d.cpub, d.dpub = nil, nil, nil, nil
	d.state = deviceEstablished
	return marshal(&devicepb.Sec1Payload{
		Msg: devicepb.Sec1MsgType_Session_Response1,
		Payload: &devicepb.Sec1Payload_Sr1{Sr1: &devicepb.SessionResp1{
			Status:           devicepb.Status_Success,
			DeviceVerifyData: verify,
		}},
	}), true, nil
}

// Cipher returns the current session's cipher. A cipher obtained earlier
// stops working (ErrNotEstablished) once a new Command0 restarts the session,
// as the firmware frees the old session.
func (d *device) Cipher() security.Cipher {
	if d.state != deviceEstablished {
		return security.Pending{}
	}
	return d.cipher
}
