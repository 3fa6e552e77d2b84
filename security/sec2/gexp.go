package sec2

import (
	"math/big"
	"math/bits"
	"sync"
)

// Fixed-base exponentiation of the generator. Three of the five modular
// exponentiations of a handshake raise g (client: g^a and g^x; device: g^b)
// to exponents of at most 512 bits (a and b are 256-bit, x is a SHA-512
// output). big.Int.Exp spends one squaring per exponent bit on each of
// them; with a table of g^(d·16^i) for every 4-bit digit position i and
// digit d, computed once per process, g^e is one multiplication per
// non-zero digit of e (about 120 for 512 bits instead of about 640).
//
// Like big.Int.Exp this is not constant-time (math/big never is): the
// table entry read depends on the exponent's digits.
const (
	gExpBits   = 512
	gExpWindow = 4
	gExpDigits = gExpBits / gExpWindow
)

var (
	gTableOnce sync.Once
	// gTable[i][d-1] = g^(d·16^i) mod N.
	gTable *[gExpDigits][1<<gExpWindow - 1]*big.Int
)

func buildGTable() {
	t := new([gExpDigits][1<<gExpWindow - 1]*big.Int)
	base := new(big.Int).Set(groupG)
	for i := range gExpDigits {
		t[i][0] = new(big.Int).Set(base)
		for d := 1; d < 1<<gExpWindow-1; d++ {
			t[i][d] = mulMod(new(big.Int), t[i][d-1], base)
		}
		base = mulMod(new(big.Int), t[i][1<<gExpWindow-2], base) // g^(16^(i+1))
	}
	gTable = t
}

func mulMod(z, x, y *big.Int) *big.Int {
	z.Mul(x, y)
	return z.Mod(z, groupN)
}

// gExp returns g^e mod N; e must not be negative.
func gExp(e *big.Int) *big.Int {
	if e.BitLen() > gExpBits {
		return new(big.Int).Exp(groupG, e, groupN)
	}
	gTableOnce.Do(buildGTable)
	r := big.NewInt(1)
	tmp := new(big.Int)
	const perWord = bits.UintSize / gExpWindow
	for w, word := range e.Bits() {
		for j := range perWord {
			d := uint(word>>(j*gExpWindow)) & (1<<gExpWindow - 1)
			if d == 0 {
				continue
			}
			tmp.Mul(r, gTable[w*perWord+j][d-1])
			r.Mod(tmp, groupN)
		}
	}
	return r
}
