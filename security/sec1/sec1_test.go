package sec1

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/espprov/espprov/internal/wire/devicepb"
	"github.com/espprov/espprov/security"
)

func unhex(t testing.TB, parts ...string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(parts, ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Spec §12.2.
const (
	vClientPriv   = "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20"
	vDevicePriv   = "4142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f60"
	vClientPub    = "07a37cbc142093c8b755dc1b10e86cb426374ad16aa853ed0bdfc0b2b86d1c7c"
	vDevicePub    = "64b101b1d0be5a8704bd078f9895001fc03e8e9f9522f188dd128d9846d48466"
	vDeviceRandom = "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"
	vShared       = "26c2c17fdb82161cb21ad16e721315355b64d1763119b10bfc962530dc7cc163"
	vPopHash      = "e9cee71ab932fde863338d08be4de9dfe39ea049bdafb342ce659ec5450b69ae"
	vKey          = "cf0c266562b0ebf4d1295c66cc5efceab8fa713f8cb6024932f3bbf59977a8cd"
	vClientVerify = "c4a89b1acc9f181421f27ada88e1d81b23233eedb4ad011f5b4f5eeac83ee6c9"
	vDeviceVerify = "29a2e4c89371f5f6e4f0d90538f211db81918ef1eb68cea8db0bc6b0135214f8"
	vPoP          = "abcd1234"
)

func vectorCmd0(t testing.TB) []byte { return unhex(t, "10015a25a201220a20", vClientPub) }
func vectorResp0(t testing.TB) []byte {
	return unhex(t, "10015a390801aa01341220", vDevicePub, "1a10", vDeviceRandom)
}
func vectorCmd1(t testing.TB) []byte  { return unhex(t, "10015a270802b201221220", vClientVerify) }
func vectorResp1(t testing.TB) []byte { return unhex(t, "10015a270803ba01221a20", vDeviceVerify) }

func vectorClient(t testing.TB) security.Handshaker {
	return NewClient([]byte(vPoP), security.WithRand(bytes.NewReader(unhex(t, vClientPriv))))
}

func vectorDevice(t testing.TB) security.Handshaker {
	return NewDevice([]byte(vPoP), security.WithRand(bytes.NewReader(unhex(t, vDevicePriv, vDeviceRandom))))
}

func TestPrimitives(t *testing.T) {
	cpriv, err := newPrivateKey(bytes.NewReader(unhex(t, vClientPriv)))
	if err != nil {
		t.Fatal(err)
	}
	dpriv, err := newPrivateKey(bytes.NewReader(unhex(t, vDevicePriv)))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		got  func() ([]byte, error)
		want string
	}{
		{"client pubkey", func() ([]byte, error) { return cpriv.PublicKey().Bytes(), nil }, vClientPub},
		{"device pubkey", func() ([]byte, error) { return dpriv.PublicKey().Bytes(), nil }, vDevicePub},
		{"shared (client)", func() ([]byte, error) { return sessionKey(cpriv, unhex(t, vDevicePub), nil) }, vShared},
		{"shared (device)", func() ([]byte, error) { return sessionKey(dpriv, unhex(t, vClientPub), nil) }, vShared},
		{"pop hash", func() ([]byte, error) { return popHash([]byte(vPoP)), nil }, vPopHash},
		{"key (client)", func() ([]byte, error) { return sessionKey(cpriv, unhex(t, vDevicePub), popHash([]byte(vPoP))) }, vKey},
		{"key (device)", func() ([]byte, error) { return sessionKey(dpriv, unhex(t, vClientPub), popHash([]byte(vPoP))) }, vKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.got()
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(got) != tt.want {
				t.Fatalf("got %x, want %s", got, tt.want)
			}
		})
	}
	if popHash(nil) != nil || popHash([]byte{}) != nil {
		t.Fatal("empty PoP must mean no PoP mixing")
	}
}

// TestHandshakeVectors checks every handshake byte string of §12.2 on both
// sides, each side fed with the other's reference bytes.
func TestHandshakeVectors(t *testing.T) {
	c, d := vectorClient(t), vectorDevice(t)
	steps := []struct {
		name     string
		h        security.Handshaker
		in       []byte
		want     []byte
		wantDone bool
	}{
		{"client Cmd0", c, nil, vectorCmd0(t), false},
		{"device Resp0", d, vectorCmd0(t), vectorResp0(t), false},
		{"client Cmd1", c, vectorResp0(t), vectorCmd1(t), false},
		{"device Resp1", d, vectorCmd1(t), vectorResp1(t), true},
		{"client done", c, vectorResp1(t), nil, true},
	}
	for _, s := range steps {
		out, done, err := s.h.Step(s.in)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if done != s.wantDone || !bytes.Equal(out, s.want) {
			t.Fatalf("%s: got %x done=%v, want %x done=%v", s.name, out, done, s.want, s.wantDone)
		}
	}
	checkStream(t, c.Cipher(), d.Cipher())
}

// checkStream replays the §12.2 SetConfig / ApplyConfig exchange on one
// continuous stream starting at offset 64.
func checkStream(t *testing.T, client, device security.Cipher) {
	t.Helper()
	msgs := []struct {
		name        string
		fromClient  bool
		plain, want string
	}{
		{"SetConfig (offset 64)", true, "080262140a066d7973736964120a6d7970617373776f7264", "5b8dd76bd702f5cc8baba9612af4dd0123715779300f7475"},
		{"RespSetConfig (offset 88)", false, "08036a00", "a3a27589"},
		{"ApplyConfig (offset 92)", true, "0804", "7ff7"},
		{"RespApplyConfig (offset 94)", false, "08057a00", "467ad5f7"},
	}
	for _, m := range msgs {
		enc, dec := device, client
		if m.fromClient {
			enc, dec = client, device
		}
		plain := unhex(t, m.plain)
		ct, err := enc.Encrypt(plain)
		if err != nil {
			t.Fatalf("%s: encrypt: %v", m.name, err)
		}
		if hex.EncodeToString(ct) != m.want {
			t.Fatalf("%s: encrypted %x, want %s", m.name, ct, m.want)
		}
		if hex.EncodeToString(plain) != m.plain {
			t.Fatalf("%s: Encrypt modified its input", m.name)
		}
		pt, err := dec.Decrypt(ct)
		if err != nil {
			t.Fatalf("%s: decrypt: %v", m.name, err)
		}
		if !bytes.Equal(pt, plain) {
			t.Fatalf("%s: decrypted %x, want %x", m.name, pt, plain)
		}
		if &pt[0] == &ct[0] {
			t.Fatalf("%s: Decrypt aliases its input", m.name)
		}
	}
}

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

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name            string
		clientPoP       string
		devicePoP       string
		wantErr         error
		wantDeviceError bool
	}{
		{"matching PoP", "abcd1234", "abcd1234", nil, false},
		{"no PoP", "", "", nil, false},
		{"binary PoP", "\x00\xff\x10", "\x00\xff\x10", nil, false},
		{"wrong PoP", "abcd1235", "abcd1234", security.ErrRejected, true},
		{"client PoP, device none", "abcd1234", "", security.ErrRejected, true},
		{"client none, device PoP", "", "abcd1234", security.ErrRejected, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewClient([]byte(tt.clientPoP))
			d := NewDevice([]byte(tt.devicePoP))
			err := handshake(t, c, d)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("handshake err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				if strings.Contains(err.Error(), tt.clientPoP) && tt.clientPoP != "" {
					t.Fatalf("error %q leaks the PoP", err)
				}
				if _, err := d.Cipher().Encrypt([]byte{1}); !errors.Is(err, security.ErrNotEstablished) {
					t.Fatalf("device cipher after rejection: %v", err)
				}
				return
			}
			for i := 0; i < 20; i++ {
				msg := bytes.Repeat([]byte{byte(i)}, i*7+1)
				for _, dir := range [][2]security.Cipher{{c.Cipher(), d.Cipher()}, {d.Cipher(), c.Cipher()}} {
					ct, err := dir[0].Encrypt(msg)
					if err != nil {
						t.Fatal(err)
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

func TestCipherBeforeDone(t *testing.T) {
	c, d := vectorClient(t), vectorDevice(t)
	check := func(stage string) {
		t.Helper()
		for _, h := range []security.Handshaker{c, d} {
			if _, err := h.Cipher().Encrypt([]byte{1}); !errors.Is(err, security.ErrNotEstablished) {
				t.Fatalf("%s: Encrypt err = %v", stage, err)
			}
			if _, err := h.Cipher().Decrypt([]byte{1}); !errors.Is(err, security.ErrNotEstablished) {
				t.Fatalf("%s: Decrypt err = %v", stage, err)
			}
		}
	}
	check("fresh")
	cmd0, _, _ := c.Step(nil)
	resp0, _, _ := d.Step(cmd0)
	check("after Command0")
	c.Step(resp0)
	check("after Response0")
}

// TestDeviceRestart: Command0 restarts the session at any time with new keys;
// ciphers of the old session stop working.
func TestDeviceRestart(t *testing.T) {
	d := NewDevice([]byte(vPoP))
	c1 := NewClient([]byte(vPoP))
	if err := handshake(t, c1, d); err != nil {
		t.Fatal(err)
	}
	old := d.Cipher()
	if _, err := old.Encrypt([]byte("x")); err != nil {
		t.Fatal(err)
	}
	// Restart mid-handshake, then complete with a third client.
	c2 := NewClient([]byte(vPoP))
	cmd0, _, _ := c2.Step(nil)
	if _, _, err := d.Step(cmd0); err != nil {
		t.Fatal(err)
	}
	if _, err := old.Encrypt([]byte("x")); !errors.Is(err, security.ErrNotEstablished) {
		t.Fatalf("old cipher after restart: %v", err)
	}
	if _, err := d.Cipher().Encrypt([]byte("x")); !errors.Is(err, security.ErrNotEstablished) {
		t.Fatalf("cipher mid-handshake: %v", err)
	}
	c3 := NewClient([]byte(vPoP))
	if err := handshake(t, c3, d); err != nil {
		t.Fatal(err)
	}
	ct, _ := c3.Cipher().Encrypt([]byte("hello"))
	if pt, err := d.Cipher().Decrypt(ct); err != nil || string(pt) != "hello" {
		t.Fatalf("after restart: %q, %v", pt, err)
	}
	// A stray Command1 (c2's, computed against another device) in the
	// established state fails and leaves the session intact.
	resp0 := mustStep(t, NewDevice([]byte(vPoP)), cmd0)
	cmd1 := mustStep(t, c2, resp0)
	if _, _, err := d.Step(cmd1); !errors.Is(err, security.ErrProtocol) {
		t.Fatalf("Command1 in established state: %v", err)
	}
	ct, _ = d.Cipher().Encrypt([]byte("still here"))
	if pt, err := c3.Cipher().Decrypt(ct); err != nil || string(pt) != "still here" {
		t.Fatalf("session lost after stray Command1: %q, %v", pt, err)
	}
}

func mustStep(t *testing.T, h security.Handshaker, in []byte) []byte {
	t.Helper()
	out, _, err := h.Step(in)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func encode(t testing.TB, m *devicepb.SessionData) []byte {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sec1Req(p *devicepb.Sec1Payload) *devicepb.SessionData {
	return &devicepb.SessionData{SecVer: 1, Proto: &devicepb.SessionData_Sec1{Sec1: p}}
}

func TestDeviceRequests(t *testing.T) {
	cmd0 := func(key []byte) []byte {
		return encode(t, sec1Req(&devicepb.Sec1Payload{Payload: &devicepb.Sec1Payload_Sc0{Sc0: &devicepb.SessionCmd0{ClientPubkey: key}}}))
	}
	cmd1 := func(v []byte) []byte {
		return encode(t, sec1Req(&devicepb.Sec1Payload{Msg: devicepb.Sec1MsgType_Session_Command1, Payload: &devicepb.Sec1Payload_Sc1{Sc1: &devicepb.SessionCmd1{ClientVerifyData: v}}}))
	}
	wrongVerify := unhex(t, vClientVerify)
	wrongVerify[0] ^= 1
	tests := []struct {
		name string
		reqs [][]byte // all but the last must succeed
		want error
	}{
		{"Command1 first", [][]byte{vectorCmd1(t)}, security.ErrProtocol},
		{"Command1 twice", [][]byte{vectorCmd0(t), vectorCmd1(t), vectorCmd1(t)}, security.ErrProtocol},
		{"sec_ver 0", [][]byte{unhex(t, "5203a20100")}, security.ErrProtocol},
		{"sec_ver 2", [][]byte{unhex(t, "10025a25a201220a20", vClientPub)}, security.ErrProtocol},
		{"no payload", [][]byte{unhex(t, "1001")}, security.ErrProtocol},
		{"garbage", [][]byte{{0xff}}, security.ErrProtocol},
		{"Command0 without sc0", [][]byte{unhex(t, "10015a00")}, security.ErrProtocol},
		{"Command0 carrying sc1", [][]byte{unhex(t, "10015a24b201221220", vClientVerify)}, security.ErrProtocol},
		{"short client key", [][]byte{cmd0(make([]byte, 31))}, security.ErrProtocol},
		{"long client key", [][]byte{cmd0(make([]byte, 33))}, security.ErrProtocol},
		{"low-order client key", [][]byte{cmd0(make([]byte, 32))}, security.ErrProtocol},
		{"Command1 without sc1", [][]byte{vectorCmd0(t), unhex(t, "10015a020802")}, security.ErrProtocol},
		{"short verify data", [][]byte{vectorCmd0(t), cmd1(make([]byte, 31))}, security.ErrProtocol},
		{"wrong verify data", [][]byte{vectorCmd0(t), cmd1(wrongVerify)}, security.ErrRejected},
		{"Response0 as request", [][]byte{vectorResp0(t)}, security.ErrProtocol},
		{"message type 9", [][]byte{unhex(t, "10015a020809")}, security.ErrProtocol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := vectorDevice(t)
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

// A rejected Command1 needs a new Command0 (the firmware's session is gone).
func TestDeviceRejectThenRetry(t *testing.T) {
	d := NewDevice([]byte(vPoP))
	if err := handshake(t, NewClient([]byte("wrong")), d); !errors.Is(err, security.ErrRejected) {
		t.Fatalf("wrong PoP: %v", err)
	}
	if err := handshake(t, NewClient([]byte(vPoP)), d); err != nil {
		t.Fatalf("retry with the right PoP: %v", err)
	}
}

func TestClientResponses(t *testing.T) {
	resp0 := func(p *devicepb.SessionResp0, msg devicepb.Sec1MsgType) []byte {
		return encode(t, sec1Req(&devicepb.Sec1Payload{Msg: msg, Payload: &devicepb.Sec1Payload_Sr0{Sr0: p}}))
	}
	dpub, rnd := unhex(t, vDevicePub), unhex(t, vDeviceRandom)
	badVerify := unhex(t, vDeviceVerify)
	badVerify[31] ^= 0x80
	tests := []struct {
		name  string
		resp0 []byte
		resp1 []byte // nil: resp0 must fail
		want  error
	}{
		{"wrong sec_ver", unhex(t, "10025a390801aa01341220", vDevicePub, "1a10", vDeviceRandom), nil, security.ErrProtocol},
		{"empty", []byte{}, nil, security.ErrProtocol},
		{"garbage", []byte{0x0a, 0xff}, nil, security.ErrProtocol},
		{"status error", resp0(&devicepb.SessionResp0{Status: devicepb.Status_InvalidArgument, DevicePubkey: dpub, DeviceRandom: rnd}, 1), nil, security.ErrProtocol},
		{"wrong msg type", resp0(&devicepb.SessionResp0{DevicePubkey: dpub, DeviceRandom: rnd}, 3), nil, security.ErrProtocol},
		{"short pubkey", resp0(&devicepb.SessionResp0{DevicePubkey: dpub[:31], DeviceRandom: rnd}, 1), nil, security.ErrProtocol},
		{"short random", resp0(&devicepb.SessionResp0{DevicePubkey: dpub, DeviceRandom: rnd[:15]}, 1), nil, security.ErrProtocol},
		{"low-order pubkey", resp0(&devicepb.SessionResp0{DevicePubkey: make([]byte, 32), DeviceRandom: rnd}, 1), nil, security.ErrProtocol},
		{"Response1 first", vectorResp1(t), nil, security.ErrProtocol},
		{"bad device proof", vectorResp0(t), unhex(t, "10015a270803ba01221a20", hex.EncodeToString(badVerify)), security.ErrRejected},
		{"short device proof", vectorResp0(t), unhex(t, "10015a260803ba01211a1f", vDeviceVerify[:62]), security.ErrProtocol},
		{"Response1 status error", vectorResp0(t), unhex(t, "10015a290803ba012408041a", "20", vDeviceVerify), security.ErrProtocol},
		{"Response0 twice", vectorResp0(t), vectorResp0(t), security.ErrProtocol},
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
			if _, err := c.Cipher().Encrypt(nil); !errors.Is(err, security.ErrNotEstablished) {
				t.Fatalf("cipher after failure: %v", err)
			}
			if _, _, err := c.Step(vectorResp1(t)); err == nil {
				t.Fatal("failed client accepted another step")
			}
		})
	}
}

func TestClientStateErrors(t *testing.T) {
	c := vectorClient(t)
	if _, _, err := c.Step([]byte{1}); !errors.Is(err, security.ErrProtocol) {
		t.Fatalf("input on first step: %v", err)
	}
	c = NewClient(nil, security.WithRand(bytes.NewReader(make([]byte, 5))))
	if _, _, err := c.Step(nil); err == nil || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("short random source: %v", err)
	}
	c = vectorClient(t)
	d := vectorDevice(t)
	if err := handshake(t, c, d); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Step(nil); !errors.Is(err, security.ErrProtocol) {
		t.Fatalf("step after done: %v", err)
	}
	if _, err := c.Cipher().Encrypt([]byte{1}); err != nil {
		t.Fatalf("a step after done must not break the session: %v", err)
	}
}

func TestDefaultRand(t *testing.T) {
	// Two default clients must draw different keys.
	a, _, _ := NewClient(nil).Step(nil)
	b, _, _ := NewClient(nil, security.WithRand(nil)).Step(nil)
	if bytes.Equal(a, b) {
		t.Fatal("identical Command0 from two default clients")
	}
	_ = rand.Reader
}
