// Package sec2 implements protocomm Security 2 (spec §7): SRP-6a over the
// RFC 5054 3072-bit group with SHA-512 and the ESP-IDF derivation quirks, then
// AES-256-GCM for every endpoint payload.
//
// Two GCM IV modes exist (spec §7.5). Patch level 1: a 12-byte IV, 8 random
// bytes ‖ a big-endian uint32 counter starting at 1 and incremented after
// every operation in either direction (one counter for both). Patch level 0: a
// fixed 16-byte IV for every operation. The client picks the mode from the
// length of device_nonce.
//
// Random draws, in order (see security.WithRand):
//   - client: 32 bytes for a at Step(nil), repeated while A would be short;
//   - device: 32 bytes for b at each Command0, then the nonce at Command1
//     (8 bytes at patch level 1, 16 bytes at patch level 0).
//
// A Handshaker is not safe for concurrent use; the Cipher it returns is
// (calls are serialised, but must still follow the wire order).
package sec2

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	"sync"

	"github.com/espprov/espprov/internal/wire/devicepb"
	"github.com/espprov/espprov/security"
	"github.com/espprov/espprov/security/internal/envelope"
)

const (
	nonceLenPatch1 = 12
	nonceLenPatch0 = 16
	sessionIDLen   = 8
	aesKeyLen      = 32
	tagLen         = 16
)

func marshal(p *devicepb.Sec2Payload) []byte {
	return envelope.Marshal(&devicepb.SessionData{
		SecVer: devicepb.SecSchemeVersion_SecScheme2,
		Proto:  &devicepb.SessionData_Sec2{Sec2: p},
	})
}

// parse decodes a SessionData that must carry Security 2.
func parse(in []byte, what string) (*devicepb.Sec2Payload, error) {
	m, err := envelope.Parse(in, devicepb.SecSchemeVersion_SecScheme2, "sec2", what)
	if err != nil {
		return nil, err
	}
	p := m.GetSec2()
	if p == nil {
		return nil, fmt.Errorf("sec2: %s without sec2 payload: %w", what, security.ErrProtocol)
	}
	return p, nil
}

// gcmCipher is the session cipher of spec §7.5.
type gcmCipher struct {
	mu      sync.Mutex
	aead    cipher.AEAD
	iv      []byte
	counter bool // patch level 1: iv[8:12] is a BE counter
	revoked bool
}

func newGCMCipher(key, nonce []byte) (*gcmCipher, error) {
	block, err := aes.NewCipher(key[:aesKeyLen])
	if err != nil {
		return nil, fmt.Errorf("sec2: aes: %w", err)
	}
	var aead cipher.AEAD
	switch len(nonce) {
	case nonceLenPatch1:
		aead, err = cipher.NewGCM(block)
	case nonceLenPatch0:
		aead, err = cipher.NewGCMWithNonceSize(block, nonceLenPatch0)
	default:
		return nil, fmt.Errorf("sec2: device_nonce is %d bytes, want %d or %d: %w",
			len(nonce), nonceLenPatch1, nonceLenPatch0, security.ErrProtocol)
	}
	if err != nil {
		return nil, fmt.Errorf("sec2: gcm: %w", err)
	}
	return &gcmCipher{
		aead:    aead,
		iv:      append([]byte(nil), nonce...),
		counter: len(nonce) == nonceLenPatch1,
	}, nil
}

// ready reports whether an operation may run; call with mu held.
func (g *gcmCipher) ready() error {
	if g.revoked {
		return security.ErrNotEstablished
	}
	if g.counter && binary.BigEndian.Uint32(g.iv[sessionIDLen:]) == 0 {
		return fmt.Errorf("sec2: restart the session: %w", security.ErrCounterExhausted)
	}
	return nil
}

// advance increments the patch-1 counter (wrapping to 0, which ready refuses).
func (g *gcmCipher) advance() {
	if g.counter {
		ctr := g.iv[sessionIDLen:]
		binary.BigEndian.PutUint32(ctr, binary.BigEndian.Uint32(ctr)+1)
	}
}

// Encrypt returns ciphertext ‖ 16-byte tag.
func (g *gcmCipher) Encrypt(p []byte) ([]byte, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.ready(); err != nil {
		return nil, err
	}
	out := g.aead.Seal(make([]byte, 0, len(p)+tagLen), g.iv, p, nil)
	g.advance()
	return out, nil
}

// Decrypt opens ciphertext ‖ tag. The counter advances only on success, as
// on the device.
func (g *gcmCipher) Decrypt(c []byte) ([]byte, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.ready(); err != nil {
		return nil, err
	}
	if len(c) < tagLen {
		return nil, fmt.Errorf("sec2: ciphertext of %d bytes: %w", len(c), security.ErrDecrypt)
	}
	out, err := g.aead.Open(make([]byte, 0, len(c)-tagLen), g.iv, c, nil)
	if err != nil {
		return nil, fmt.Errorf("sec2: %w", security.ErrDecrypt)
	}
	g.advance()
	return out, nil
}

// UndoEncrypt implements security.Rewinder: it steps the patch-1 counter
// back over the last encryption, for a request the device never received.
func (g *gcmCipher) UndoEncrypt(int) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.revoked {
		return security.ErrNotEstablished
	}
	if g.counter {
		ctr := g.iv[sessionIDLen:]
		binary.BigEndian.PutUint32(ctr, binary.BigEndian.Uint32(ctr)-1)
	}
	return nil
}

func (g *gcmCipher) revoke() {
	g.mu.Lock()
	g.revoked = true
	g.mu.Unlock()
}

type clientState int

const (
	clientInit clientState = iota
	clientSent0
	clientSent1
	clientDone
	clientFailed
)

type client struct {
	username string
	password string
	rand     io.Reader

	state  clientState
	a      *big.Int
	pubA   []byte // exactly PubKeyLen bytes
	key    []byte // K = H(S)
	hamk   []byte // expected device proof
	cipher *gcmCipher
}

// NewClient returns the client side of Security 2 for the given SRP
// credentials. Step(nil) → Command0, Step(Response0) → Command1,
// Step(Response1) → done. The GCM IV mode follows len(device_nonce):
// 12 bytes → patch level 1, 16 bytes → patch level 0, anything else fails.
func NewClient(username, password string, opts ...security.Option) security.Handshaker {
	o := security.ResolveOptions(opts...)
	return &client{username: username, password: password, rand: o.Rand}
}

func (c *client) Step(in []byte) ([]byte, bool, error) {
	out, done, err := c.step(in)
	if err != nil && c.state != clientDone {
		c.state = clientFailed
		c.a, c.pubA, c.key, c.hamk = nil, nil, nil, nil
	}
	return out, done, err
}

func (c *client) step(in []byte) ([]byte, bool, error) {
	switch c.state {
	case clientInit:
		if len(in) != 0 {
			return nil, false, fmt.Errorf("sec2: first step takes no input: %w", security.ErrProtocol)
		}
		if c.username == "" {
			return nil, false, errors.New("sec2: empty username (the device rejects it)")
		}
		a, pubA, err := clientSecret(c.rand)
		if err != nil {
			return nil, false, err
		}
		c.a, c.pubA = a, pubA
		c.state = clientSent0
		return marshal(&devicepb.Sec2Payload{
			Msg: devicepb.Sec2MsgType_S2Session_Command0,
			Payload: &devicepb.Sec2Payload_Sc0{Sc0: &devicepb.S2SessionCmd0{
				ClientUsername: []byte(c.username),
				ClientPubkey:   c.pubA,
			}},
		}), false, nil

	case clientSent0:
		p, err := parse(in, "Response0")
		if err != nil {
			return nil, false, err
		}
		r := p.GetSr0()
		if p.GetMsg() != devicepb.Sec2MsgType_S2Session_Response0 || r == nil {
			return nil, false, fmt.Errorf("sec2: expected Response0, got message %d: %w", int32(p.GetMsg()), security.ErrProtocol)
		}
		if r.GetStatus() != devicepb.Status_Success {
			return nil, false, fmt.Errorf("sec2: Response0 status %s: %w", r.GetStatus(), security.ErrProtocol)
		}
		pubB, salt := r.GetDevicePubkey(), r.GetDeviceSalt()
		if len(pubB) == 0 || len(pubB) > PubKeyLen {
			return nil, false, fmt.Errorf("sec2: device public key is %d bytes, want 1..%d: %w", len(pubB), PubKeyLen, security.ErrProtocol)
		}
		b := new(big.Int).SetBytes(pubB)
		if new(big.Int).Mod(b, groupN).Sign() == 0 {
			return nil, false, fmt.Errorf("sec2: device public key is 0 mod N: %w", security.ErrProtocol)
		}
		u := computeU(c.pubA, pubB)
		if u.Sign() == 0 {
			return nil, false, fmt.Errorf("sec2: scrambling parameter u is 0: %w", security.ErrProtocol)
		}
		x := computeX(c.username, c.password, salt)
		// S = (B − k·g^x)^(a + u·x) mod N
		base := gExp(x)
		base.Mul(base, multK)
		base.Sub(b, base)
		base.Mod(base, groupN)
		exp := new(big.Int).Mul(u, x)
		exp.Add(exp, c.a)
		s := new(big.Int).Exp(base, exp, groupN)
		c.key = hash(s.Bytes())
		m := computeM([]byte(c.username), salt, c.pubA, pubB, c.key)
		c.hamk = computeHAMK(c.pubA, m, c.key)
		c.a = nil
		c.state = clientSent1
		return marshal(&devicepb.Sec2Payload{
			Msg:     devicepb.Sec2MsgType_S2Session_Command1,
			Payload: &devicepb.Sec2Payload_Sc1{Sc1: &devicepb.S2SessionCmd1{ClientProof: m}},
		}), false, nil

	case clientSent1:
		p, err := parse(in, "Response1")
		if err != nil {
			return nil, false, err
		}
		r := p.GetSr1()
		if p.GetMsg() != devicepb.Sec2MsgType_S2Session_Response1 || r == nil {
			return nil, false, fmt.Errorf("sec2: expected Response1, got message %d: %w", int32(p.GetMsg()), security.ErrProtocol)
		}
		if r.GetStatus() != devicepb.Status_Success {
			return nil, false, fmt.Errorf("sec2: Response1 status %s: %w", r.GetStatus(), security.ErrProtocol)
		}
		proof := r.GetDeviceProof()
		if len(proof) != ProofLen {
			return nil, false, fmt.Errorf("sec2: device proof is %d bytes, want %d: %w", len(proof), ProofLen, security.ErrProtocol)
		}
		if subtle.ConstantTimeCompare(proof, c.hamk) != 1 {
			return nil, false, fmt.Errorf("sec2: failed to verify device proof: %w", security.ErrRejected)
		}
		ci, err := newGCMCipher(c.key, r.GetDeviceNonce())
		if err != nil {
			return nil, false, err
		}
		c.cipher = ci
		c.pubA, c.key, c.hamk = nil, nil, nil
		c.state = clientDone
		return nil, true, nil

	case clientDone:
		return nil, true, fmt.Errorf("sec2: handshake already complete: %w", security.ErrProtocol)
	default:
		return nil, false, fmt.Errorf("sec2: handshake failed earlier: %w", security.ErrProtocol)
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
	salt     []byte
	verifier *big.Int
	patchVer int
	rand     io.Reader

	state    deviceState
	username []byte
	pubA     []byte // as received
	pubB     []byte // as sent (minimal BE)
	key      []byte
	cipher   *gcmCipher
}

// NewDevice returns the device side of Security 2 holding the provisioned
// salt and verifier (spec §7.4). patchVer selects the GCM IV mode: 1 → 12-byte
// counter IV, 0 → fixed 16-byte IV; any other value makes every Step fail.
func NewDevice(salt, verifier []byte, patchVer int, opts ...security.Option) security.Handshaker {
	o := security.ResolveOptions(opts...)
	return &device{
		salt:     append([]byte(nil), salt...),
		verifier: new(big.Int).SetBytes(verifier),
		patchVer: patchVer,
		rand:     o.Rand,
	}
}

func (d *device) reset() {
	if d.cipher != nil {
		d.cipher.revoke()
		d.cipher = nil
	}
	d.state = deviceIdle
	d.username, d.pubA, d.pubB, d.key = nil, nil, nil, nil
}

func (d *device) Step(in []byte) ([]byte, bool, error) {
	if d.patchVer != 0 && d.patchVer != 1 {
		return nil, false, fmt.Errorf("sec2: unsupported patch version %d", d.patchVer)
	}
	if d.verifier.Sign() == 0 {
		return nil, false, errors.New("sec2: device has no verifier configured")
	}
	p, err := parse(in, "request")
	if err != nil {
		return nil, false, err
	}
	switch p.GetMsg() {
	case devicepb.Sec2MsgType_S2Session_Command0:
		return d.command0(p.GetSc0())
	case devicepb.Sec2MsgType_S2Session_Command1:
		return d.command1(p.GetSc1())
	default:
		return nil, false, fmt.Errorf("sec2: unexpected message type %d: %w", int32(p.GetMsg()), security.ErrProtocol)
	}
}

func (d *device) command0(sc0 *devicepb.S2SessionCmd0) ([]byte, bool, error) {
	d.reset()
	if sc0 == nil {
		return nil, false, fmt.Errorf("sec2: Command0 without sc0: %w", security.ErrProtocol)
	}
	pubA, username := sc0.GetClientPubkey(), sc0.GetClientUsername()
	if len(pubA) != PubKeyLen {
		return nil, false, fmt.Errorf("sec2: invalid public key length %d, want %d: %w", len(pubA), PubKeyLen, security.ErrProtocol)
	}
	if len(username) == 0 {
		return nil, false, fmt.Errorf("sec2: empty username: %w", security.ErrProtocol)
	}
	a := new(big.Int).SetBytes(pubA)
	if new(big.Int).Mod(a, groupN).Sign() == 0 {
		// Accepted by v5.x firmware, rejected by IDF 6.x: with A ≡ 0 the
		// session key is public.
		return nil, false, fmt.Errorf("sec2: client public key is 0 mod N: %w", security.ErrProtocol)
	}
	raw := make([]byte, secretLen)
	if _, err := io.ReadFull(d.rand, raw); err != nil {
		return nil, false, fmt.Errorf("sec2: draw device secret: %w", err)
	}
	b := new(big.Int).SetBytes(raw)
	// B = (k·v + g^b) mod N, sent minimal big-endian.
	pubB := gExp(b)
	kv := new(big.Int).Mul(multK, d.verifier)
	pubB.Add(pubB, kv).Mod(pubB, groupN)
	pubBBytes := pubB.Bytes()
	u := computeU(pubA, pubBBytes)
	if u.Sign() == 0 {
		return nil, false, fmt.Errorf("sec2: scrambling parameter u is 0: %w", security.ErrProtocol)
	}
	// S = (A · v^u)^b mod N
	s := new(big.Int).Exp(d.verifier, u, groupN)
	s.Mul(s, a).Mod(s, groupN)
	s.Exp(s, b, groupN)

	d.username = append([]byte(nil), username...)
	d.pubA = append([]byte(nil), pubA...)
	d.pubB = pubBBytes
	d.key = hash(s.Bytes())
	d.state = deviceAwaitCmd1
	return marshal(&devicepb.Sec2Payload{
		Msg: devicepb.Sec2MsgType_S2Session_Response0,
		Payload: &devicepb.Sec2Payload_Sr0{Sr0: &devicepb.S2SessionResp0{
			Status:       devicepb.Status_Success,
			DevicePubkey: pubBBytes,
			DeviceSalt:   d.salt,
		}},
	}), false, nil
}

func (d *device) command1(sc1 *devicepb.S2SessionCmd1) ([]byte, bool, error) {
	if d.state != deviceAwaitCmd1 {
		return nil, false, fmt.Errorf("sec2: Command1 without a pending Command0: %w", security.ErrProtocol)
	}
	if sc1 == nil {
		d.reset()
		return nil, false, fmt.Errorf("sec2: Command1 without sc1: %w", security.ErrProtocol)
	}
	m := sc1.GetClientProof()
	if len(m) != ProofLen {
		d.reset()
		return nil, false, fmt.Errorf("sec2: client proof is %d bytes, want %d: %w", len(m), ProofLen, security.ErrProtocol)
	}
	want := computeM(d.username, d.salt, d.pubA, d.pubB, d.key)
	if subtle.ConstantTimeCompare(m, want) != 1 {
		// Wrong username or password: the firmware drops the exchange and
		// never reveals its proof; a new Command0 is needed.
		d.reset()
		return nil, false, fmt.Errorf("sec2: client proof mismatch: %w", security.ErrRejected)
	}
	var nonce []byte
	if d.patchVer == 1 {
		nonce = make([]byte, nonceLenPatch1)
		if _, err := io.ReadFull(d.rand, nonce[:sessionIDLen]); err != nil {
			d.reset()
			return nil, false, fmt.Errorf("sec2: draw nonce: %w", err)
		}
		binary.BigEndian.PutUint32(nonce[sessionIDLen:], 1)
	} else {
		nonce = make([]byte, nonceLenPatch0)
		if _, err := io.ReadFull(d.rand, nonce); err != nil {
			d.reset()
			return nil, false, fmt.Errorf("sec2: draw nonce: %w", err)
		}
	}
	ci, err := newGCMCipher(d.key, nonce)
	if err != nil {
		d.reset()
		return nil, false, err
	}
	hamk := computeHAMK(d.pubA, m, d.key)
	d.username, d.pubA, d.pubB, d.key = nil, nil, nil, nil
	d.cipher = ci
	d.state = deviceEstablished
	return marshal(&devicepb.Sec2Payload{
		Msg: devicepb.Sec2MsgType_S2Session_Response1,
		Payload: &devicepb.Sec2Payload_Sr1{Sr1: &devicepb.S2SessionResp1{
			Status:      devicepb.Status_Success,
			DeviceProof: hamk,
			DeviceNonce: nonce,
		}},
	}), true, nil
}

// Cipher returns the current session's cipher. A cipher obtained earlier
// stops working (ErrNotEstablished) once a new Command0 restarts the session.
func (d *device) Cipher() security.Cipher {
	if d.state != deviceEstablished {
		return security.Pending{}
	}
	return d.cipher
}
