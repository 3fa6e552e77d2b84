package sec0

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/espprov/espprov/security"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Spec §5 byte strings.
func TestVectors(t *testing.T) {
	req := unhex(t, "5203a20100")
	resp := unhex(t, "52050801aa0100")

	c := NewClient()
	out, done, err := c.Step(nil)
	if err != nil || done || !bytes.Equal(out, req) {
		t.Fatalf("client request = %x, %v, %v; want %x", out, done, err, req)
	}
	d := NewDevice()
	got, done, err := d.Step(out)
	if err != nil || !done || !bytes.Equal(got, resp) {
		t.Fatalf("device response = %x, %v, %v; want %x", got, done, err, resp)
	}
	out, done, err = c.Step(got)
	if err != nil || !done || out != nil {
		t.Fatalf("client final = %x, %v, %v", out, done, err)
	}
	for _, h := range []security.Handshaker{c, d} {
		p := []byte("plain")
		e, err := h.Cipher().Encrypt(p)
		if err != nil || !bytes.Equal(e, p) {
			t.Fatalf("encrypt = %q, %v", e, err)
		}
		e[0] = 'X'
		if p[0] != 'p' {
			t.Fatal("cipher output aliases input")
		}
	}
}

func TestClientResponses(t *testing.T) {
	tests := []struct {
		name string
		resp string
		ok   bool
	}{
		{"firmware", "52050801aa0100", true},
		{"empty message (sec_ver 0)", "", true},
		{"sec_ver 1", "10015205 0801aa0100", false},
		{"failure status", "52070801aa01020801", false},
		{"sec1 payload", "5a00", false},
		{"garbage", "ffff", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewClient()
			if _, _, err := c.Step(nil); err != nil {
				t.Fatal(err)
			}
			if _, ok := c.Cipher().(security.Pending); !ok {
				t.Fatal("cipher before done is not Pending")
			}
			_, done, err := c.Step(unhex(t, removeSpaces(tt.resp)))
			if tt.ok != (err == nil) || tt.ok != done {
				t.Fatalf("done=%v err=%v, want ok=%v", done, err, tt.ok)
			}
			if !tt.ok && !errors.Is(err, security.ErrProtocol) {
				t.Fatalf("err = %v, want ErrProtocol", err)
			}
			if _, err := c.Cipher().Encrypt([]byte{1}); tt.ok != (err == nil) {
				t.Fatalf("cipher after step: %v", err)
			}
			if !tt.ok && !errors.Is(func() error { _, err := c.Cipher().Decrypt(nil); return err }(), security.ErrNotEstablished) {
				t.Fatal("want ErrNotEstablished")
			}
		})
	}
}

func TestDeviceRequests(t *testing.T) {
	tests := []struct {
		name string
		req  string
		ok   bool
	}{
		{"esp_prov", "5203a20100", true},
		{"sec_ver only", "", true},
		{"sec_ver 1", "1001", false},
		{"sec_ver 2 with sec0 payload", "10025203a20100", false},
		{"garbage", "0a", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, done, err := NewDevice().Step(unhex(t, tt.req))
			if tt.ok != (err == nil) || tt.ok != done || tt.ok != (out != nil) {
				t.Fatalf("out=%x done=%v err=%v, want ok=%v", out, done, err, tt.ok)
			}
			if !tt.ok && !errors.Is(err, security.ErrProtocol) {
				t.Fatalf("err = %v, want ErrProtocol", err)
			}
		})
	}
}

func TestClientStateErrors(t *testing.T) {
	c := NewClient()
	if _, _, err := c.Step([]byte{1}); !errors.Is(err, security.ErrProtocol) {
		t.Fatalf("input on first step: %v", err)
	}
	c = NewClient()
	c.Step(nil)
	c.Step(unhex(t, "52050801aa0100"))
	if _, _, err := c.Step(nil); !errors.Is(err, security.ErrProtocol) {
		t.Fatalf("step after done: %v", err)
	}
}

func removeSpaces(s string) string { return string(bytes.ReplaceAll([]byte(s), []byte(" "), nil)) }
