package sec2

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"math/big"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/espprov/espprov/internal/wire/devicepb"
	"github.com/espprov/espprov/security"
)

func handshake(t testing.TB, c, d security.Handshaker) error {
	t.Helper()
	in := []byte(nil)
	for i := 0; i < 3; i++ {
		out, done, err := c.Step(in)
		if err != nil {
			return err
		}
		if done {
			if i != 2 {
				t.Fatalf("client done after %d steps", i+1)
			}
			return nil
		}
		in, _, err = d.Step(out)
		if err != nil {
			return err
		}
	}
	t.Fatal("client not done after three steps")
	return nil
}

func newCreds(t testing.TB, user, pass string) (salt, verifier []byte) {
	salt, err := NewSalt(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return salt, Verifier(user, pass, salt)
}

func TestRoundTrip(t *testing.T) {
	salt, ver := newCreds(t, "admin", "s3cret-pass")
	tests := []struct {
		name       string
		user, pass string
		patch      int
		want       error
	}{
		{"patch 1", "admin", "s3cret-pass", 1, nil},
		{"patch 0", "admin", "s3cret-pass", 0, nil},
		{"wrong password", "admin", "s3cret-pasS", 1, security.ErrRejected},
		{"wrong username", "admiN", "s3cret-pass", 1, security.ErrRejected},
		{"empty password", "admin", "", 0, security.ErrRejected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewClient(tt.user, tt.pass)
			d := NewDevice(salt, ver, tt.patch)
			err := handshake(t, c, d)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("handshake err = %v, want %v", err, tt.want)
			}
			if err != nil {
				if tt.pass != "" && strings.Contains(err.Error(), tt.pass) {
					t.Fatalf("error %q leaks the password", err)
				}
				if _, err := d.Cipher().Encrypt([]byte{1}); !errors.Is(err, security.ErrNotEstablished) {
					t.Fatalf("device cipher after rejection: %v", err)
				}
				return
			}
			for i := 0; i < 10; i++ {
				msg := bytes.Repeat([]byte{byte(i)}, i*13)
				for _, dir := range [][2]security.Cipher{{c.Cipher(), d.Cipher()}, {d.Cipher(), c.Cipher()}} {
					ct, err := dir[0].Encrypt(msg)
					if err != nil {
						t.Fatal(err)
					}
					if len(ct) != len(msg)+tagLen {
						t.Fatalf("ciphertext length %d for %d bytes", len(ct), len(msg))
					}
					pt, err := dir[1].Decrypt(ct)
					if err != nil || !bytes.Equal(pt, msg) {
						t.Fatalf("message %d: %x, %v", i, pt, err)
					}
				}
			}
		})
	}
}

// A client that got a wrong device proof rejects the device.
func TestClientRejectsDeviceProof(t *testing.T) {
	bad := unhex(t, vHAMK)
	bad[63] ^= 1
	c := vectorClient(t)
	c.Step(nil)
	if _, _, err := c.Step(vectorResp0(t)); err != nil {
		t.Fatal(err)
	}
	_, done, err := c.Step(unhex(t, "100262550803ba01501240", hex.EncodeToString(bad), "1a0c", vNonceID, "00000001"))
	if !errors.Is(err, security.ErrRejected) || done {
		t.Fatalf("bad HAMK: done=%v err=%v", done, err)
	}
	if _, err := c.Cipher().Encrypt(nil); !errors.Is(err, security.ErrNotEstablished) {
		t.Fatalf("cipher after rejection: %v", err)
	}
}

func encode(t testing.TB, p *devicepb.Sec2Payload, secVer devicepb.SecSchemeVersion) []byte {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(&devicepb.SessionData{SecVer: secVer, Proto: &devicepb.SessionData_Sec2{Sec2: p}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestClientResponses(t *testing.T) {
	resp0 := func(r *devicepb.S2SessionResp0, msg devicepb.Sec2MsgType) []byte {
		return encode(t, &devicepb.Sec2Payload{Msg: msg, Payload: &devicepb.Sec2Payload_Sr0{Sr0: r}}, 2)
	}
	resp1 := func(r *devicepb.S2SessionResp1) []byte {
		return encode(t, &devicepb.Sec2Payload{Msg: 3, Payload: &devicepb.Sec2Payload_Sr1{Sr1: r}}, 2)
	}
	salt, pubB, hamk := unhex(t, vSalt), unhex(t, vPubB), unhex(t, vHAMK)
	nonce := unhex(t, vNonceID, "00000001")
	tests := []struct {
		name  string
		resp0 []byte
		resp1 []byte // nil: resp0 must fail
		want  error
	}{
		{"wrong sec_ver", encode(t, &devicepb.Sec2Payload{Msg: 1, Payload: &devicepb.Sec2Payload_Sr0{Sr0: &devicepb.S2SessionResp0{DevicePubkey: pubB, DeviceSalt: salt}}}, 1), nil, security.ErrProtocol},
		{"empty", []byte{}, nil, security.ErrProtocol},
		{"garbage", []byte{0x12, 0x05}, nil, security.ErrProtocol},
		{"status error", resp0(&devicepb.S2SessionResp0{Status: devicepb.Status_InternalError, DevicePubkey: pubB, DeviceSalt: salt}, 1), nil, security.ErrProtocol},
		{"wrong msg type", resp0(&devicepb.S2SessionResp0{DevicePubkey: pubB, DeviceSalt: salt}, 0), nil, security.ErrProtocol},
		{"no B", resp0(&devicepb.S2SessionResp0{DeviceSalt: salt}, 1), nil, security.ErrProtocol},
		{"B too long", resp0(&devicepb.S2SessionResp0{DevicePubkey: append([]byte{1}, pubB...), DeviceSalt: salt}, 1), nil, security.ErrProtocol},
		{"B = N", resp0(&devicepb.S2SessionResp0{DevicePubkey: nBytes, DeviceSalt: salt}, 1), nil, security.ErrProtocol},
		{"B = 0", resp0(&devicepb.S2SessionResp0{DevicePubkey: make([]byte, 384), DeviceSalt: salt}, 1), nil, security.ErrProtocol},
		{"Response1 first", vectorResp1(t), nil, security.ErrProtocol},
		{"Response0 twice", vectorResp0(t), vectorResp0(t), security.ErrProtocol},
		{"Response1 status", vectorResp0(t), resp1(&devicepb.S2SessionResp1{Status: 5, DeviceProof: hamk, DeviceNonce: nonce}), security.ErrProtocol},
		{"short proof", vectorResp0(t), resp1(&devicepb.S2SessionResp1{DeviceProof: hamk[:63], DeviceNonce: nonce}), security.ErrProtocol},
		{"no proof", vectorResp0(t), resp1(&devicepb.S2SessionResp1{DeviceNonce: nonce}), security.ErrProtocol},
		{"13-byte nonce", vectorResp0(t), resp1(&devicepb.S2SessionResp1{DeviceProof: hamk, DeviceNonce: append(nonce, 0)}), security.ErrProtocol},
		{"no nonce", vectorResp0(t), resp1(&devicepb.S2SessionResp1{DeviceProof: hamk}), security.ErrProtocol},
		{"Response1 with sr0", vectorResp0(t), resp0(&devicepb.S2SessionResp0{DevicePubkey: pubB}, 3), security.ErrProtocol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := vectorClient(t)
			if _, _, err := c.Step(nil); err != nil {
				t.Fatal(err)
			}
			out, _, err := c.Step(tt.resp0)
			if tt.resp1 == nil {
				if !errors.Is(err, tt.want) || out != nil {
					t.Fatalf("Response0: out=%x err=%v, want %v", out, err, tt.want)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				out, done, err := c.Step(tt.resp1)
				if !errors.Is(err, tt.want) || out != nil || done {
					t.Fatalf("Response1: out=%x done=%v err=%v, want %v", out, done, err, tt.want)
				}
			}
			if _, err := c.Cipher().Decrypt(nil); !errors.Is(err, security.ErrNotEstablished) {
				t.Fatalf("cipher after failure: %v", err)
			}
			if _, _, err := c.Step(vectorResp1(t)); err == nil {
				t.Fatal("failed client accepted another step")
			}
		})
	}
}

func TestDeviceRequests(t *testing.T) {
	cmd0 := func(user, pubA []byte) []byte {
		return encode(t, &devicepb.Sec2Payload{Payload: &devicepb.Sec2Payload_Sc0{Sc0: &devicepb.S2SessionCmd0{ClientUsername: user, ClientPubkey: pubA}}}, 2)
	}
	cmd1 := func(m []byte) []byte {
		return encode(t, &devicepb.Sec2Payload{Msg: 2, Payload: &devicepb.Sec2Payload_Sc1{Sc1: &devicepb.S2SessionCmd1{ClientProof: m}}}, 2)
	}
	pubA, m := unhex(t, vPubA), unhex(t, vM)
	wrongM := unhex(t, vM)
	wrongM[0] ^= 1
	user := []byte(vUser)
	tests := []struct {
		name string
		reqs [][]byte // all but the last must succeed
		want error
	}{
		{"Command1 first", [][]byte{vectorCmd1(t)}, security.ErrProtocol},
		{"Command1 twice", [][]byte{vectorCmd0(t), vectorCmd1(t), vectorCmd1(t)}, security.ErrProtocol},
		{"sec_ver 1", [][]byte{encode(t, &devicepb.Sec2Payload{Payload: &devicepb.Sec2Payload_Sc0{Sc0: &devicepb.S2SessionCmd0{ClientUsername: user, ClientPubkey: pubA}}}, 1)}, security.ErrProtocol},
		{"sec0 request", [][]byte{unhex(t, "5203a20100")}, security.ErrProtocol},
		{"no payload", [][]byte{unhex(t, "1002")}, security.ErrProtocol},
		{"garbage", [][]byte{{0x80}}, security.ErrProtocol},
		{"Command0 without sc0", [][]byte{unhex(t, "10026200")}, security.ErrProtocol},
		{"A 383 bytes", [][]byte{cmd0(user, pubA[1:])}, security.ErrProtocol},
		{"A 385 bytes", [][]byte{cmd0(user, append([]byte{0}, pubA...))}, security.ErrProtocol},
		{"A = 0", [][]byte{cmd0(user, make([]byte, 384))}, security.ErrProtocol},
		{"A = N", [][]byte{cmd0(user, nBytes)}, security.ErrProtocol},
		{"empty username", [][]byte{cmd0(nil, pubA)}, security.ErrProtocol},
		{"Command1 without sc1", [][]byte{vectorCmd0(t), unhex(t, "100262020802")}, security.ErrProtocol},
		{"M 63 bytes", [][]byte{vectorCmd0(t), cmd1(m[:63])}, security.ErrProtocol},
		{"M 65 bytes", [][]byte{vectorCmd0(t), cmd1(append(m, 0))}, security.ErrProtocol},
		{"wrong M", [][]byte{vectorCmd0(t), cmd1(wrongM)}, security.ErrRejected},
		{"wrong username in Command0", [][]byte{cmd0([]byte("wifiprox"), pubA), vectorCmd1(t)}, security.ErrRejected},
		{"message type 7", [][]byte{unhex(t, "100262020807")}, security.ErrProtocol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := vectorDevice(t, 1, vB)
			for i, req := range tt.reqs {
				out, done, err := d.Step(req)
				if i < len(tt.reqs)-1 {
					if err != nil {
						t.Fatalf("request %d: %v", i, err)
					}
					continue
				}
				if !errors.Is(err, tt.want) || out != nil || done {
					t.Fatalf("got %x done=%v err=%v, want %v", out, done, err, tt.want)
				}
			}
		})
	}
}

func TestDeviceWithoutVerifier(t *testing.T) {
	d := NewDevice(unhex(t, vSalt), nil, 1)
	if _, _, err := d.Step(vectorCmd0(t)); err == nil {
		t.Fatal("device without verifier answered Command0")
	}
}

func TestDevicePatchVersion(t *testing.T) {
	for _, v := range []int{-1, 2} {
		d := NewDevice(unhex(t, vSalt), unhex(t, vVerifier), v)
		if _, _, err := d.Step(vectorCmd0(t)); err == nil {
			t.Fatalf("patch version %d accepted", v)
		}
	}
}

// TestDeviceRestart: Command0 restarts the session at any time; the old
// session's cipher stops working; a rejected proof needs a new Command0.
func TestDeviceRestart(t *testing.T) {
	salt, ver := newCreds(t, vUser, vPass)
	d := NewDevice(salt, ver, 1)
	if err := handshake(t, NewClient(vUser, vPass), d); err != nil {
		t.Fatal(err)
	}
	old := d.Cipher()
	c2 := NewClient(vUser, vPass)
	cmd0, _, _ := c2.Step(nil)
	resp0, _, err := d.Step(cmd0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Encrypt([]byte("x")); !errors.Is(err, security.ErrNotEstablished) {
		t.Fatalf("old cipher after restart: %v", err)
	}
	// Restart again mid-handshake: c2's Command1 now belongs to a dead
	// session (different b), so its proof no longer matches.
	c3 := NewClient(vUser, vPass)
	cmd0b, _, _ := c3.Step(nil)
	resp0b, _, err := d.Step(cmd0b)
	if err != nil {
		t.Fatal(err)
	}
	cmd1, _, err := c2.Step(resp0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.Step(cmd1); !errors.Is(err, security.ErrRejected) {
		t.Fatalf("stale Command1: %v", err)
	}
	// The rejection dropped the pending session: c3's Command1 is out of state.
	cmd1b, _, _ := c3.Step(resp0b)
	if _, _, err := d.Step(cmd1b); !errors.Is(err, security.ErrProtocol) {
		t.Fatalf("Command1 after rejection: %v", err)
	}
	c4 := NewClient(vUser, vPass)
	if err := handshake(t, c4, d); err != nil {
		t.Fatal(err)
	}
	ct, _ := c4.Cipher().Encrypt([]byte("hello"))
	if pt, err := d.Cipher().Decrypt(ct); err != nil || string(pt) != "hello" {
		t.Fatalf("after restart: %q %v", pt, err)
	}
	// Command1 in the established state fails and keeps the session.
	if _, _, err := d.Step(cmd1b); !errors.Is(err, security.ErrProtocol) {
		t.Fatalf("Command1 when established: %v", err)
	}
	ct, _ = d.Cipher().Encrypt([]byte("still"))
	if pt, err := c4.Cipher().Decrypt(ct); err != nil || string(pt) != "still" {
		t.Fatalf("session lost after stray Command1: %q %v", pt, err)
	}
}

func TestCipherBeforeDone(t *testing.T) {
	c, d := vectorClient(t), vectorDevice(t, 1, vB)
	check := func(stage string) {
		t.Helper()
		for _, h := range []security.Handshaker{c, d} {
			if _, err := h.Cipher().Encrypt([]byte{1}); !errors.Is(err, security.ErrNotEstablished) {
				t.Fatalf("%s: Encrypt err = %v", stage, err)
			}
			if _, err := h.Cipher().Decrypt(make([]byte, 20)); !errors.Is(err, security.ErrNotEstablished) {
				t.Fatalf("%s: Decrypt err = %v", stage, err)
			}
		}
	}
	check("fresh")
	cmd0, _, err := c.Step(nil)
	if err != nil {
		t.Fatal(err)
	}
	resp0, _, err := d.Step(cmd0)
	if err != nil {
		t.Fatal(err)
	}
	check("after Command0")
	if _, _, err := c.Step(resp0); err != nil {
		t.Fatal(err)
	}
	check("after Response0")
}

// TestRedraw: an a whose A has a leading zero byte is drawn again, so A on
// the wire is always 384 significant bytes.
func TestRedraw(t *testing.T) {
	shortA := unhex(t, "8000000000000000000000000000000000000000000000000000000000000044")
	if n := len(new(big.Int).Exp(groupG, new(big.Int).SetBytes(shortA), groupN).Bytes()); n != 383 {
		t.Fatalf("test secret gives a %d-byte A, want 383", n)
	}
	c := NewClient(vUser, vPass, security.WithRand(io.MultiReader(bytes.NewReader(shortA), bytes.NewReader(unhex(t, vA)))))
	out, _, err := c.Step(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, vectorCmd0(t)) {
		t.Fatalf("Command0 after redraw = %x", out)
	}
	// A source that only ever yields the short secret gives up.
	c = NewClient(vUser, vPass, security.WithRand(bytes.NewReader(bytes.Repeat(shortA, 64))))
	if _, _, err := c.Step(nil); err == nil {
		t.Fatal("no error for a source that never yields a full-length A")
	}
	// Many random clients: Command0 always carries a 384-byte A.
	for i := 0; i < 300; i++ {
		out, _, err := NewClient("u", "p").Step(nil)
		if err != nil {
			t.Fatal(err)
		}
		var m devicepb.SessionData
		if err := proto.Unmarshal(out, &m); err != nil {
			t.Fatal(err)
		}
		a := m.GetSec2().GetSc0().GetClientPubkey()
		if len(a) != PubKeyLen || a[0] == 0 {
			t.Fatalf("A of %d bytes, first byte %x", len(a), a[0])
		}
	}
}

func TestClientStateErrors(t *testing.T) {
	if _, _, err := vectorClient(t).Step([]byte{1}); !errors.Is(err, security.ErrProtocol) {
		t.Fatalf("input on first step: %v", err)
	}
	if _, _, err := NewClient("", vPass).Step(nil); err == nil {
		t.Fatal("empty username accepted")
	}
	c := NewClient(vUser, vPass, security.WithRand(bytes.NewReader(make([]byte, 10))))
	if _, _, err := c.Step(nil); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("short random source: %v", err)
	}
	c, d := vectorClient(t), vectorDevice(t, 1, vB)
	if err := handshake(t, c, d); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Step(nil); !errors.Is(err, security.ErrProtocol) {
		t.Fatalf("step after done: %v", err)
	}
	if _, err := c.Cipher().Encrypt(nil); err != nil {
		t.Fatalf("a step after done must not break the session: %v", err)
	}
	// Device without random bytes for its nonce.
	d = NewDevice(unhex(t, vSalt), unhex(t, vVerifier), 1, security.WithRand(bytes.NewReader(unhex(t, vB))))
	if _, _, err := d.Step(vectorCmd0(t)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.Step(vectorCmd1(t)); err == nil {
		t.Fatal("nonce drawn from an empty source")
	}
}

func TestCounter(t *testing.T) {
	key := unhex(t, vKey)
	nonce := unhex(t, vNonceID, "fffffffe")
	c, err := newGCMCipher(key, nonce)
	if err != nil {
		t.Fatal(err)
	}
	d, _ := newGCMCipher(key, nonce)
	// fffffffe and ffffffff are usable, then the counter is exhausted.
	ct, err := c.Encrypt([]byte("a"))
	if err != nil {
		t.Fatal(err)
	}
	// A tampered message fails and does not advance the device counter.
	bad := append([]byte(nil), ct...)
	bad[0] ^= 1
	if _, err := d.Decrypt(bad); !errors.Is(err, security.ErrDecrypt) {
		t.Fatalf("tampered: %v", err)
	}
	if _, err := d.Decrypt(ct[:15]); !errors.Is(err, security.ErrDecrypt) {
		t.Fatalf("truncated: %v", err)
	}
	if pt, err := d.Decrypt(ct); err != nil || string(pt) != "a" {
		t.Fatalf("genuine after tampered: %q %v", pt, err)
	}
	ct, err = d.Encrypt([]byte("b"))
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := c.Decrypt(ct); err != nil || string(pt) != "b" {
		t.Fatalf("ctr ffffffff: %q %v", pt, err)
	}
	if got := binary.BigEndian.Uint32(c.iv[8:]); got != 0 {
		t.Fatalf("counter = %x, want wrapped 0", got)
	}
	for _, ci := range []*gcmCipher{c, d} {
		if _, err := ci.Encrypt([]byte("c")); !errors.Is(err, security.ErrCounterExhausted) {
			t.Fatalf("encrypt after wrap: %v", err)
		}
		if _, err := ci.Decrypt(make([]byte, 17)); !errors.Is(err, security.ErrCounterExhausted) {
			t.Fatalf("decrypt after wrap: %v", err)
		}
	}
	// Patch 0 never counts: the same plaintext encrypts identically.
	p0, err := newGCMCipher(key, unhex(t, vIVPatch0))
	if err != nil {
		t.Fatal(err)
	}
	x1, _ := p0.Encrypt([]byte("same"))
	x2, _ := p0.Encrypt([]byte("same"))
	if !bytes.Equal(x1, x2) {
		t.Fatal("patch 0 IV changed between messages")
	}
}

func TestNewSalt(t *testing.T) {
	s, err := NewSalt(io.MultiReader(bytes.NewReader(unhex(t, "00", strings.Repeat("11", 15))), bytes.NewReader([]byte{0, 0, 0x42})))
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(s) != "42"+strings.Repeat("11", 15) {
		t.Fatalf("salt = %x", s)
	}
	if _, err := NewSalt(bytes.NewReader(make([]byte, 100))); err == nil {
		t.Fatal("all-zero source accepted")
	}
	if _, err := NewSalt(bytes.NewReader(make([]byte, 3))); err == nil {
		t.Fatal("short source accepted")
	}
	for i := 0; i < 50; i++ {
		s, err := NewSalt(rand.Reader)
		if err != nil || len(s) != SaltLen || s[0] == 0 {
			t.Fatalf("salt %x, %v", s, err)
		}
	}
}
