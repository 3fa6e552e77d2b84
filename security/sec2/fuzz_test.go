package sec2

import (
	"bytes"
	"io"
	"math/big"
	"testing"

	"github.com/espprov/espprov/security"
	"github.com/espprov/espprov/security/securitytest"
)

// A 3072-bit modular exponentiation costs about a millisecond, and the
// handshake needs several per input; run as originally written (a fresh
// client or device per input, doing the vector's steps itself), these
// targets managed a few hundred executions per second on this machine. They
// now pay for the vector steps once per process and clone the resulting
// state per input, and the device target sends its fuzzed Command0s to a
// device whose secrets make the big-number arithmetic trivial (verifier 1,
// b = 1). Every fuzzed byte still goes through the real Step: the decoders,
// length and range checks, proof comparison and cipher set-up are the same
// code; only the numbers in the degenerate device are small. (Measured under
// load average 15–22, one worker, 30 s: FuzzDeviceRequests 34 → 133,826
// executions, FuzzClientResponses 797 → 46,250. The client's remaining cost
// is a fuzzed Response0 that passes every check: its two exponentiations
// depend on the fuzzed public key and salt.)

// smallSecrets is a random source whose every draw is the integer 1
// (zeros, then a final 1): the device secret b = 1 makes g^b and S^b free.
type smallSecrets struct{}

func (smallSecrets) Read(p []byte) (int, error) {
	clear(p)
	if len(p) > 0 {
		p[len(p)-1] = 1
	}
	return len(p), nil
}

// cloneClient copies a client's handshake state so that each input starts
// from the same point without redoing its modular exponentiations.
func (c *client) clone() *client {
	n := *c
	if c.a != nil {
		n.a = new(big.Int).Set(c.a)
	}
	n.pubA, n.key, n.hamk = bytes.Clone(c.pubA), bytes.Clone(c.key), bytes.Clone(c.hamk)
	return &n
}

// clone copies a device's handshake state; r is the clone's random source.
func (d *device) clone(r io.Reader) *device {
	n := *d
	n.verifier = new(big.Int).Set(d.verifier)
	n.salt, n.username = bytes.Clone(d.salt), bytes.Clone(d.username)
	n.pubA, n.pubB, n.key = bytes.Clone(d.pubA), bytes.Clone(d.pubB), bytes.Clone(d.key)
	n.rand = r
	return &n
}

// checkStep holds for every Step of either role: an error comes without
// output or completion, success with output or completion.
func checkStep(t *testing.T, out []byte, done bool, err error) {
	t.Helper()
	if err != nil && (out != nil || done) {
		t.Fatalf("error with output %x done=%v", out, done)
	}
	if err == nil && out == nil && !done {
		t.Fatal("success without a response")
	}
}

// checkDeviceStep adds that a device always answers a request it accepts.
func checkDeviceStep(t *testing.T, out []byte, done bool, err error) {
	t.Helper()
	checkStep(t, out, done, err)
	if err == nil && out == nil {
		t.Fatal("device success without a response")
	}
}

// FuzzClientResponses feeds arbitrary device responses to a client that has
// sent the vector's Command0 (resp0), and to a client that has also accepted
// the vector's Response0 (resp1). It must never panic, an error must leave
// the client without a session, and a success must give a working cipher.
func FuzzClientResponses(f *testing.F) {
	f.Add(vectorResp0(f), vectorResp1(f))
	f.Add(vectorResp0(f), vectorResp1Patch0(f))
	f.Add(vectorResp0(f), []byte{})
	f.Add([]byte{0x10, 0x02, 0x62, 0x00}, []byte{0xff})
	sent0 := vectorClient(f).(*client)
	if _, _, err := sent0.Step(nil); err != nil {
		f.Fatal(err)
	}
	sent1 := sent0.clone()
	if out, _, err := sent1.Step(vectorResp0(f)); err != nil || !bytes.Equal(out, vectorCmd1(f)) {
		f.Fatalf("vector Response0: %x, %v", out, err)
	}
	f.Fuzz(func(t *testing.T, resp0, resp1 []byte) {
		c := sent0.clone()
		out, done, err := c.Step(resp0)
		checkStep(t, out, done, err)
		if err == nil && (len(out) == 0 || done) {
			t.Fatalf("accepted Response0 without Command1 (done=%v)", done)
		}
		if err == nil {
			// The handshake goes on with the fuzzed Response0's secrets.
			securitytest.CheckLastClientStep(t, c, resp1)
		}
		securitytest.CheckLastClientStep(t, sent1.clone(), resp1)
	})
}

// FuzzDeviceRequests feeds arbitrary requests to a device, before and after a
// valid Command0, and to a device that has answered the vector's Command0
// (where the vector's Command1 succeeds). It must never panic.
func FuzzDeviceRequests(f *testing.F) {
	f.Add(vectorCmd0(f), vectorCmd1(f), []byte{})
	f.Add([]byte{}, vectorCmd1(f), vectorCmd0(f))
	f.Add(vectorCmd1(f), []byte{0x10, 0x02, 0x62, 0x00}, []byte{0xff, 0xff})
	var primed [2]*device // per patch level, after the vector's Command0
	for patch := range primed {
		d := NewDevice(unhex(f, vSalt), unhex(f, vVerifier), patch,
			security.WithRand(bytes.NewReader(unhex(f, vB)))).(*device)
		if out, _, err := d.Step(vectorCmd0(f)); err != nil || !bytes.Equal(out, vectorResp0(f)) {
			f.Fatalf("vector Command0: %x, %v", out, err)
		}
		primed[patch] = d
		if out, done, err := d.clone(smallSecrets{}).Step(vectorCmd1(f)); err != nil || !done || len(out) == 0 {
			f.Fatalf("vector Command1 on a clone: %x %v %v", out, done, err)
		}
	}
	f.Fuzz(func(t *testing.T, a, b, c []byte) {
		patch := len(a) & 1
		small := NewDevice(unhex(t, vSalt), []byte{1}, patch, security.WithRand(smallSecrets{}))
		for _, req := range [][]byte{a, vectorCmd0(t), b, c} {
			out, done, err := small.Step(req)
			checkDeviceStep(t, out, done, err)
		}
		small.Cipher().Decrypt(c)
		// The verifier only enters Command0, already answered: the clone's
		// later Command0s use the trivial numbers too.
		d := primed[patch].clone(smallSecrets{})
		d.verifier = big.NewInt(1)
		for _, req := range [][]byte{b, c} {
			out, done, err := d.Step(req)
			checkDeviceStep(t, out, done, err)
		}
		if _, err := d.Cipher().Decrypt(c); err == nil && d.state != deviceEstablished {
			t.Fatal("decrypted without a session")
		}
	})
}
