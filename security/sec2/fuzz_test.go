package sec2

import (
	"bytes"
	"errors"
	"testing"

	"github.com/espprov/espprov/security"
)

// Every execution that gets past protobuf parsing costs 3072-bit modular
// exponentiations (milliseconds), so minimising a new input can take most of
// a short fuzzing run. For productive short runs bound it, e.g.
// go test -run '^$' -fuzz FuzzClientResponses -fuzztime 10s -fuzzminimizetime 50x

// FuzzClientResponses feeds arbitrary device responses to a client that has
// sent a valid Command0. It must never panic, and an error must leave the
// client without a session.
func FuzzClientResponses(f *testing.F) {
	f.Add(vectorResp0(f), vectorResp1(f))
	f.Add(vectorResp0(f), vectorResp1Patch0(f))
	f.Add(vectorResp0(f), []byte{})
	f.Add([]byte{0x10, 0x02, 0x62, 0x00}, []byte{0xff})
	f.Fuzz(func(t *testing.T, resp0, resp1 []byte) {
		c := vectorClient(t)
		if _, _, err := c.Step(nil); err != nil {
			t.Fatal(err)
		}
		out, done, err := c.Step(resp0)
		if err != nil {
			if out != nil || done {
				t.Fatalf("error with output %x done=%v", out, done)
			}
			return
		}
		if len(out) == 0 || done {
			t.Fatalf("accepted Response0 without Command1 (done=%v)", done)
		}
		out, done, err = c.Step(resp1)
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
	})
}

// FuzzDeviceRequests feeds arbitrary requests to a device, before and after a
// valid Command0. It must never panic.
func FuzzDeviceRequests(f *testing.F) {
	f.Add(vectorCmd0(f), vectorCmd1(f), []byte{})
	f.Add([]byte{}, vectorCmd1(f), vectorCmd0(f))
	f.Add(vectorCmd1(f), []byte{0x10, 0x02, 0x62, 0x00}, []byte{0xff, 0xff})
	f.Fuzz(func(t *testing.T, a, b, c []byte) {
		// One patch level per input keeps an execution to two modexps.
		for _, patch := range []int{len(a) & 1} {
			d := NewDevice(unhex(t, vSalt), unhex(t, vVerifier), patch,
				security.WithRand(bytes.NewReader(bytes.Repeat(unhex(t, vB), 8))))
			for _, req := range [][]byte{a, vectorCmd0(t), b, c} {
				out, done, err := d.Step(req)
				if err != nil && (out != nil || done) {
					t.Fatalf("error with output %x done=%v", out, done)
				}
				if err == nil && out == nil {
					t.Fatal("success without a response")
				}
			}
			d.Cipher().Decrypt(c)
		}
	})
}
