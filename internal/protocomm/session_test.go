package protocomm

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/espprov/espprov/security"
	"github.com/espprov/espprov/security/sec0"
	"github.com/espprov/espprov/security/sec1"
	"github.com/espprov/espprov/security/sec2"
	"github.com/espprov/espprov/transports"
)

// loopDevice is an in-memory device: prov-session goes to a device-role
// handshaker, "echo" echoes through the session cipher. A device-side error
// is turned into ErrClosed, as the HTTP transport reports a dropped socket.
type loopDevice struct {
	hs security.Handshaker
}

func (d *loopDevice) Exchange(_ context.Context, ep string, req []byte) ([]byte, error) {
	switch ep {
	case EndpointVersion:
		return []byte(`{"prov":{"ver":"v1.1","cap":[]}}`), nil
	case EndpointSession:
		out, _, err := d.hs.Step(req)
		if err != nil {
			return nil, fmt.Errorf("%w (%v)", transports.ErrClosed, err)
		}
		return out, nil
	case "echo":
		c := d.hs.Cipher()
		p, err := c.Decrypt(req)
		if err != nil {
			return nil, transports.ErrClosed
		}
		return c.Encrypt(append([]byte("echo:"), p...))
	}
	return nil, transports.ErrNoEndpoint
}

func (d *loopDevice) Close() error { return nil }

func TestEstablish(t *testing.T) {
	salt := []byte{0x03, 0x6e, 0xe0, 0xc7, 0xbc, 0xb9, 0xed, 0xa8, 0x4c, 0x9e, 0xac, 0x97, 0xd9, 0x3d, 0xec, 0xf4}
	verifier := sec2.Verifier("wifiprov", "abcd1234", salt)
	tests := []struct {
		name     string
		device   security.Handshaker
		client   security.Handshaker
		rejected bool
	}{
		{"sec0", sec0.NewDevice(), sec0.NewClient(), false},
		{"sec1", sec1.NewDevice([]byte("abcd1234")), sec1.NewClient([]byte("abcd1234")), false},
		{"sec1 no pop", sec1.NewDevice(nil), sec1.NewClient(nil), false},
		{"sec1 wrong pop", sec1.NewDevice([]byte("abcd1234")), sec1.NewClient([]byte("wrong")), true},
		{"sec2 patch 1", sec2.NewDevice(salt, verifier, 1), sec2.NewClient("wifiprov", "abcd1234"), false},
		{"sec2 patch 0", sec2.NewDevice(salt, verifier, 0), sec2.NewClient("wifiprov", "abcd1234"), false},
		{"sec2 wrong password", sec2.NewDevice(salt, verifier, 1), sec2.NewClient("wifiprov", "nope"), true},
		{"sec2 wrong username", sec2.NewDevice(salt, verifier, 1), sec2.NewClient("other", "abcd1234"), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dev := &loopDevice{hs: tc.device}
			s, err := Establish(context.Background(), dev, tc.client)
			if tc.rejected {
				if !errors.Is(err, ErrCredentialsRejected) {
					t.Fatalf("Establish = %v, want ErrCredentialsRejected", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Establish: %v", err)
			}
			// A request to a missing endpoint never reaches the device: the
			// session must stay in step afterwards (keystream given back).
			if _, err := s.Call(context.Background(), "missing", []byte("lost request")); !errors.Is(err, transports.ErrNoEndpoint) {
				t.Fatalf("missing endpoint: %v", err)
			}
			for i := 0; i < 3; i++ { // stateful ciphers stay in step
				got, err := s.Call(context.Background(), "echo", []byte("hello"))
				if err != nil || string(got) != "echo:hello" {
					t.Fatalf("Call %d = %q, %v", i, got, err)
				}
			}
		})
	}
}

func TestNewHandshakerRules(t *testing.T) {
	v := func(s string) Version { x, _ := ParseVersion([]byte(s)); return x }
	noPop := v(`{"prov":{"sec_ver":1,"cap":["no_pop","wifi_scan"]}}`)
	needPop := v(`{"prov":{"sec_ver":1,"cap":["wifi_scan"]}}`)
	if _, err := NewHandshaker(Scheme1, needPop, Credentials{}); !errors.Is(err, ErrMissingPoP) {
		t.Errorf("sec1 without pop: %v", err)
	}
	if _, err := NewHandshaker(Scheme1, noPop, Credentials{}); err != nil {
		t.Errorf("sec1 no_pop device: %v", err)
	}
	// no_pop wins over a supplied PoP: the handshake must succeed against a
	// device configured without PoP.
	hs, err := NewHandshaker(Scheme1, noPop, Credentials{PoP: "ignored"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Establish(context.Background(), &loopDevice{hs: sec1.NewDevice(nil)}, hs); err != nil {
		t.Errorf("no_pop with supplied PoP: %v", err)
	}
	if _, err := NewHandshaker(Scheme2, noPop, Credentials{SRPUsername: "u"}); !errors.Is(err, ErrMissingSRP) {
		t.Errorf("sec2 without password: %v", err)
	}
	if _, err := NewHandshaker(Scheme(7), noPop, Credentials{}); !errors.Is(err, ErrUnsupportedScheme) {
		t.Errorf("scheme 7: %v", err)
	}
}

// scripted replies with fixed bytes, whatever is asked.
type scripted struct{ replies [][]byte }

func (s *scripted) Exchange(context.Context, string, []byte) ([]byte, error) {
	if len(s.replies) == 0 {
		return nil, transports.ErrClosed
	}
	r := s.replies[0]
	s.replies = s.replies[1:]
	return r, nil
}

func (s *scripted) Close() error { return nil }

// FuzzSessionResponses feeds arbitrary device replies to every client
// handshake: no panic, and never an established session from garbage proofs.
func FuzzSessionResponses(f *testing.F) {
	f.Add(byte(0), mustHex(f, "52050801aa0100"), []byte{})
	f.Add(byte(1), mustHex(f, "10015a390801aa01341220"), mustHex(f, "10015a270803ba01221a20"))
	f.Add(byte(2), mustHex(f, "1002629b030801aa019503128003"), mustHex(f, "100262550803ba01501240"))
	f.Fuzz(func(t *testing.T, scheme byte, r1, r2 []byte) {
		var hs security.Handshaker
		switch scheme % 3 {
		case 0:
			hs = sec0.NewClient()
		case 1:
			hs = sec1.NewClient([]byte("pop"))
		case 2:
			hs = sec2.NewClient("wifiprov", "abcd1234")
		}
		s, err := Establish(context.Background(), &scripted{replies: [][]byte{r1, r2}}, hs)
		if err == nil && scheme%3 != 0 {
			t.Fatalf("scheme %d established from random replies", scheme%3)
		}
		if err == nil {
			_, _ = s.Call(context.Background(), "prov-config", []byte{8, 0})
		}
	})
}
