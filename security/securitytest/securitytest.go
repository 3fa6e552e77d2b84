// Package securitytest holds benchmarks and fuzzing checks shared by the
// security schemes.
package securitytest

import (
	"bytes"
	"errors"
	"testing"

	"github.com/espprov/espprov/security"
)

// FixedRand gives a handshaker the same random values every time, so that
// a recorded transcript can be replayed to one role alone.
func FixedRand(b byte) security.Option {
	return security.WithRand(bytes.NewReader(bytes.Repeat([]byte{b}, 512)))
}

// BenchmarkRoles measures each role of a handshake alone, replaying the
// other role's recorded messages. newClient and newDevice must draw their
// randomness from FixedRand so that every run repeats the transcript.
func BenchmarkRoles(b *testing.B, newClient, newDevice func() security.Handshaker) {
	c, d := newClient(), newDevice()
	var cmds, resps [][]byte
	var in []byte
	for {
		out, done, err := c.Step(in)
		if err != nil {
			b.Fatal(err)
		}
		if done {
			break
		}
		cmds = append(cmds, out)
		if in, _, err = d.Step(out); err != nil {
			b.Fatal(err)
		}
		resps = append(resps, in)
	}
	b.Run("client", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c := newClient()
			if _, _, err := c.Step(nil); err != nil {
				b.Fatal(err)
			}
			for _, r := range resps {
				if _, _, err := c.Step(r); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("device", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			d := newDevice()
			for _, m := range cmds {
				if _, _, err := d.Step(m); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// BenchmarkEncryptDecrypt measures one encrypt and one decrypt of 64 bytes
// on an established pair.
func BenchmarkEncryptDecrypt(b *testing.B, enc, dec security.Cipher) {
	msg := make([]byte, 64)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		ct, err := enc.Encrypt(msg)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := dec.Decrypt(ct); err != nil {
			b.Fatal(err)
		}
	}
}

// CheckLastClientStep runs a client's last handshake step on a fuzzed
// device response and checks what holds for every scheme: a failure gives no
// output and leaves no usable cipher, a success completes the handshake with
// a working cipher.
func CheckLastClientStep(t testing.TB, c security.Handshaker, resp []byte) {
	t.Helper()
	out, done, err := c.Step(resp)
	if err != nil {
		if out != nil || done {
			t.Fatalf("error with output %x done=%v", out, done)
		}
		if _, err := c.Cipher().Encrypt([]byte{1}); !errors.Is(err, security.ErrNotEstablished) {
			t.Fatalf("cipher after failed handshake: %v", err)
		}
		return
	}
	if !done || out != nil {
		t.Fatalf("success without done: %x %v", out, done)
	}
	if _, err := c.Cipher().Encrypt([]byte{1}); err != nil {
		t.Fatal(err)
	}
}
