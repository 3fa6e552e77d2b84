package bench

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"strings"
	"time"

	"github.com/espprov/espprov/security"
	"github.com/espprov/espprov/security/sec0"
	"github.com/espprov/espprov/security/sec1"
	"github.com/espprov/espprov/security/sec2"

	simrmaker "github.com/espprov/espprov/internal/sim/rmaker"
)

// floorExchanges is how many encrypted request/reply pairs one provision
// carries at least: SetConfig, ApplyConfig and one GetStatus (httpd), or
// one ch_resp exchange (on-network).
func floorExchanges(transport string) int {
	if transport == TransportOnNetwork {
		return 1
	}
	return 3
}

// floorPayload is the size of a typical encrypted provisioning message.
const floorPayload = 64

// cryptoOnce runs the pure cryptography of one provision of scheme secVer,
// both roles: the handshake (client and device) and the encryption and
// decryption of floorExchanges request/reply pairs on both sides; for
// on-network also the node's RSA-2048 signature of the cloud's challenge
// and the cloud's verification of it.
type cryptoOnce func() error

func newCryptoOnce(transport string, secVer int) (cryptoOnce, error) {
	var newPair func() (security.Handshaker, security.Handshaker)
	switch secVer {
	case 0:
		newPair = func() (security.Handshaker, security.Handshaker) { return sec0.NewClient(), sec0.NewDevice() }
	case 1:
		pop := []byte(PoP)
		newPair = func() (security.Handshaker, security.Handshaker) { return sec1.NewClient(pop), sec1.NewDevice(pop) }
	case 2:
		salt, err := sec2.NewSalt(rand.Reader)
		if err != nil {
			return nil, err
		}
		ver := sec2.Verifier(SRPUsername, SRPPassword, salt) // device provisioning time, not per session
		newPair = func() (security.Handshaker, security.Handshaker) {
			return sec2.NewClient(SRPUsername, SRPPassword), sec2.NewDevice(salt, ver, 1)
		}
	default:
		return nil, fmt.Errorf("bench: security %d: want 0, 1 or 2", secVer)
	}
	msg := make([]byte, floorPayload)
	exchanges := floorExchanges(transport)
	mapping := func() error { return nil }
	if transport == TransportOnNetwork {
		node, err := simrmaker.NewNode(simrmaker.Options{NodeID: "BENCHFLOOR01", KeyType: simrmaker.KeyRSA2048, ChalResp: true})
		if err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		pub, ok := node.PublicKey().(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("bench: node key is %T, want RSA", node.PublicKey())
		}
		challenge := []byte(strings.Repeat("c0ffee", 64/6+1)[:64]) // the cloud's 32 random bytes, hex
		mapping = func() error {
			sig, err := node.Sign(challenge)
			if err != nil {
				return fmt.Errorf("bench: sign: %w", err)
			}
			digest := sha256.Sum256(challenge)
			// As the simulated cloud verifies (simcloud verifySignature).
			if err := rsa.VerifyPSS(pub, crypto.SHA256, digest[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}); err != nil {
				return fmt.Errorf("bench: verify: %w", err)
			}
			return nil
		}
	}
	return func() error {
		c, d := newPair()
		if err := handshake(c, d); err != nil {
			return err
		}
		cc, dc := c.Cipher(), d.Cipher()
		for range exchanges {
			for _, p := range [][2]security.Cipher{{cc, dc}, {dc, cc}} {
				ct, err := p[0].Encrypt(msg)
				if err != nil {
					return err
				}
				if _, err := p[1].Decrypt(ct); err != nil {
					return err
				}
			}
		}
		return mapping()
	}, nil
}

// handshake runs a client and a device handshaker against each other.
func handshake(c, d security.Handshaker) error {
	var in []byte
	for range 8 {
		out, done, err := c.Step(in)
		if err != nil {
			return fmt.Errorf("bench: client handshake: %w", err)
		}
		if done {
			return nil
		}
		if in, _, err = d.Step(out); err != nil {
			return fmt.Errorf("bench: device handshake: %w", err)
		}
	}
	return fmt.Errorf("bench: handshake did not finish")
}

// floorBatches is how many batches the floor is measured in. CPU time of
// the same work only grows with interference (a busy SMT sibling, cache
// misses, a GC of other work): the cheapest batch is the best estimate of
// what the pure cryptography costs.
const floorBatches = 4

// MeasureFloor returns the CPU seconds of the pure cryptography of one
// provision of scheme secVer over transport (both roles), measured on this process for
// at least minTime in floorBatches batches of at least one iteration each;
// the cheapest batch per iteration is the floor.
func MeasureFloor(transport string, secVer int, minTime time.Duration) (float64, error) {
	once, err := newCryptoOnce(transport, secVer)
	if err != nil {
		return 0, err
	}
	if err := once(); err != nil { // warm up (tables, pools)
		return 0, err
	}
	floor := 0.0
	for b := range floorBatches {
		start, wall := processCPU(), time.Now()
		n := 0
		for n < 1 || time.Since(wall) < minTime/floorBatches {
			if err := once(); err != nil {
				return 0, err
			}
			n++
		}
		if per := (processCPU() - start) / float64(n); b == 0 || per < floor {
			floor = per
		}
	}
	return floor, nil
}
