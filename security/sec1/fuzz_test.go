package sec1

import (
	"bytes"
	"io"
	"testing"

	"github.com/espprov/espprov/security"
	"github.com/espprov/espprov/security/securitytest"
)

// FuzzClientResponses feeds arbitrary device responses to a client that has
// sent a valid Command0. It must never panic, and an error must leave the
// client without a session. The client's key pair (an X25519 scalar
// multiplication) is made once per process and cloned per input.
func FuzzClientResponses(f *testing.F) {
	f.Add(vectorResp0(f), vectorResp1(f))
	f.Add(vectorResp0(f), []byte{})
	f.Add([]byte{0x10, 0x01}, []byte{0xff})
	sent0 := vectorClient(f).(*client)
	if _, _, err := sent0.Step(nil); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, resp0, resp1 []byte) {
		c := sent0.clone()
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
		securitytest.CheckLastClientStep(t, c, resp1)
	})
}

// FuzzDeviceRequests feeds arbitrary requests to a device, after and between
// valid ones. It must never panic. The device's answer to the vector's
// Command0 (two X25519 operations) is computed once per process; each input
// starts from a clone of it, which is the state a fresh device reaches
// whatever its first request was (Command0 restarts the session).
func FuzzDeviceRequests(f *testing.F) {
	f.Add(vectorCmd0(f), vectorCmd1(f), []byte{})
	f.Add([]byte{}, vectorCmd0(f), vectorCmd1(f))
	f.Add(vectorCmd1(f), []byte{0x10, 0x01, 0x5a, 0x00}, []byte{0xff, 0xff})
	sevens := func() io.Reader { return bytes.NewReader(bytes.Repeat([]byte{7}, 48*4)) }
	primed := NewDevice([]byte(vPoP), security.WithRand(sevens())).(*device)
	if _, _, err := primed.Step(vectorCmd0(f)); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, a, b, c []byte) {
		first := NewDevice([]byte(vPoP), security.WithRand(sevens()))
		out, done, err := first.Step(a)
		checkDeviceStep(t, out, done, err)
		d := primed.clone(sevens())
		for _, req := range [][]byte{b, c} {
			out, done, err := d.Step(req)
			checkDeviceStep(t, out, done, err)
		}
		d.Cipher().Encrypt([]byte{1})
	})
}

func checkDeviceStep(t *testing.T, out []byte, done bool, err error) {
	t.Helper()
	if err != nil && (out != nil || done) {
		t.Fatalf("error with output %x done=%v", out, done)
	}
	if err == nil && out == nil {
		t.Fatal("success without a response")
	}
}

func (c *client) clone() *client {
	n := *c
	n.key, n.random = bytes.Clone(c.key), bytes.Clone(c.random)
	return &n
}

func (d *device) clone(r io.Reader) *device {
	n := *d
	n.key, n.random = bytes.Clone(d.key), bytes.Clone(d.random)
	n.cpub, n.dpub = bytes.Clone(d.cpub), bytes.Clone(d.dpub)
	n.rand = r
	return &n
}
