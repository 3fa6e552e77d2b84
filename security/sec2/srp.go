package sec2

import (
	"crypto/sha512"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
)

// The SRP-6a group of spec §7.1: the RFC 5054 3072-bit prime (identical to
// the RFC 3526 group 15 MODP prime) with generator 5. Tests prove the value by
// reproducing the published k and verifier.
const primeHex = "" +
	"FFFFFFFF FFFFFFFF C90FDAA2 2168C234 C4C6628B 80DC1CD1 29024E08 8A67CC74" +
	"020BBEA6 3B139B22 514A0879 8E3404DD EF9519B3 CD3A431B 302B0A6D F25F1437" +
	"4FE1356D 6D51C245 E485B576 625E7EC6 F44C42E9 A637ED6B 0BFF5CB6 F406B7ED" +
	"EE386BFB 5A899FA5 AE9F2411 7C4B1FE6 49286651 ECE45B3D C2007CB8 A163BF05" +
	"98DA4836 1C55D39A 69163FA8 FD24CF5F 83655D23 DCA3AD96 1C62F356 208552BB" +
	"9ED52907 7096966D 670C354E 4ABC9804 F1746C08 CA18217C 32905E46 2E36CE3B" +
	"E39E772C 180E8603 9B2783A2 EC07A28F B5C55DF0 6F4C52C9 DE2BCBF6 95581718" +
	"3995497C EA956AE5 15D22618 98FA0510 15728E5A 8AAAC42D AD33170D 04507A33" +
	"A85521AB DF1CBA64 ECFB8504 58DBEF0A 8AEA7157 5D060C7D B3970F85 A6E1E4C7" +
	"ABF5AE8C DB0933D7 1E8C94E0 4A25619D CEE3D226 1AD2EE6B F12FFA06 D98A0864" +
	"D8760273 3EC86A64 521F2B18 177B200C BBE11757 7A615D6C 770988C0 BAD946E2" +
	"08E24FA0 74E5AB31 43DB5BFC E0FD108E 4B82D120 A93AD2CA FFFFFFFF FFFFFFFF"

const (
	// PubKeyLen is the length of N, of PAD(x), and of A on the wire.
	PubKeyLen = 384
	// ProofLen is the length of M and HAMK (SHA-512).
	ProofLen = sha512.Size
	// SaltLen is the length of salts made by NewSalt.
	SaltLen = 16
	// secretLen is the length of the client and device secrets a and b.
	secretLen = 32
)

var (
	groupN = func() *big.Int {
		n, ok := new(big.Int).SetString(strings.ReplaceAll(primeHex, " ", ""), 16)
		if !ok || n.BitLen() != 8*PubKeyLen {
			panic("sec2: bad group prime")
		}
		return n
	}()
	groupG    = big.NewInt(5)
	nBytes    = groupN.FillBytes(make([]byte, PubKeyLen))
	padG      = groupG.FillBytes(make([]byte, PubKeyLen))
	multK     = new(big.Int).SetBytes(hash(nBytes, padG)) // k = H(N ‖ PAD(g))
	hNxorHg   = xorBytes(hash(nBytes), hash(padG))        // H(N) XOR H(PAD(g)), the ESP form
	bigZero   = new(big.Int)
	errRedraw = errors.New("sec2: random source keeps yielding short public keys")
)

func hash(parts ...[]byte) []byte {
	h := sha512.New()
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

func xorBytes(a, b []byte) []byte {
	out := make([]byte, len(a))
	for i := range a {
		out[i] = a[i] ^ b[i]
	}
	return out
}

// pad left-pads b with zeros to PubKeyLen bytes; len(b) must be ≤ PubKeyLen.
func pad(b []byte) []byte {
	out := make([]byte, PubKeyLen)
	copy(out[PubKeyLen-len(b):], b)
	return out
}

// computeX returns x = H(s ‖ H(I ‖ ":" ‖ p)) as an integer.
func computeX(username, password string, salt []byte) *big.Int {
	inner := sha512.New()
	inner.Write([]byte(username))
	inner.Write([]byte{':'})
	inner.Write([]byte(password))
	return new(big.Int).SetBytes(hash(salt, inner.Sum(nil)))
}

// computeU returns u = H(PAD(A) ‖ PAD(B)).
func computeU(a, b []byte) *big.Int {
	return new(big.Int).SetBytes(hash(pad(a), pad(b)))
}

// computeM returns M = H((H(N) XOR H(PAD(g))) ‖ H(I) ‖ s ‖ A ‖ B ‖ K), where
// s, A and B are the exact bytes on the wire.
func computeM(username, salt, a, b, key []byte) []byte {
	return hash(hNxorHg, hash(username), salt, a, b, key)
}

// computeHAMK returns H(A ‖ M ‖ K).
func computeHAMK(a, m, key []byte) []byte { return hash(a, m, key) }

// Verifier returns the SRP verifier v = g^x mod N (minimal big-endian) that a
// device stores for username/password with the given salt (spec §7.4).
// Usernames and passwords should be ASCII (spec §13.1 pitfall 10).
func Verifier(username, password string, salt []byte) []byte {
	x := computeX(username, password, salt)
	return gExp(x).Bytes()
}

// NewSalt draws a SaltLen-byte salt whose first byte is non-zero (spec §13.1
// pitfall 9) from r.
func NewSalt(r io.Reader) ([]byte, error) {
	s := make([]byte, SaltLen)
	if _, err := io.ReadFull(r, s); err != nil {
		return nil, fmt.Errorf("sec2: draw salt: %w", err)
	}
	for i := 0; s[0] == 0; i++ {
		if i == 64 {
			return nil, errors.New("sec2: draw salt: random source keeps yielding zero bytes")
		}
		if _, err := io.ReadFull(r, s[:1]); err != nil {
			return nil, fmt.Errorf("sec2: draw salt: %w", err)
		}
	}
	return s, nil
}

// clientSecret draws a (32 bytes, top bit set, as esp_prov) and returns a and
// A = g^a mod N as exactly PubKeyLen bytes. a is re-drawn while A would have
// a leading zero byte, so that the 384 bytes on the wire are also A's minimal
// encoding (spec §13.1 pitfall 1).
func clientSecret(r io.Reader) (*big.Int, []byte, error) {
	raw := make([]byte, secretLen)
	for range 64 {
		if _, err := io.ReadFull(r, raw); err != nil {
			return nil, nil, fmt.Errorf("sec2: draw client secret: %w", err)
		}
		raw[0] |= 0x80
		a := new(big.Int).SetBytes(raw)
		pub := gExp(a)
		if pub.BitLen() > 8*(PubKeyLen-1) {
			return a, pub.FillBytes(make([]byte, PubKeyLen)), nil
		}
	}
	return nil, nil, errRedraw
}
