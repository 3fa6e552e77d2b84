package sec2

import (
	"crypto/rand"
	"math/big"
	"testing"
)

// gExp agrees with big.Int.Exp for edge exponents and random ones of every
// size it serves, and for larger ones (which it hands to Exp).
func TestGExp(t *testing.T) {
	var es []*big.Int
	for _, v := range []int64{0, 1, 2, 15, 16, 17, 255, 256, 1 << 40} {
		es = append(es, big.NewInt(v))
	}
	one := big.NewInt(1)
	for _, n := range []uint{63, 64, 65, 256, 511, 512, 513, 1024} {
		es = append(es, new(big.Int).Sub(new(big.Int).Lsh(one, n), one)) // all ones
		es = append(es, new(big.Int).Lsh(one, n-1))                      // one bit
		for range 3 {
			r, err := rand.Int(rand.Reader, new(big.Int).Lsh(one, n))
			if err != nil {
				t.Fatal(err)
			}
			es = append(es, r)
		}
	}
	for _, e := range es {
		if got, want := gExp(e), new(big.Int).Exp(groupG, e, groupN); got.Cmp(want) != 0 {
			t.Fatalf("gExp(%x) = %x…, want %x…", e, got.Bytes()[:8], want.Bytes()[:8])
		}
	}
}

// BenchmarkGExp compares the fixed-base table with big.Int.Exp for the
// exponent sizes of a handshake (a, b: 256 bits; x: 512 bits).
func BenchmarkGExp(b *testing.B) {
	gTableOnce.Do(buildGTable)
	for _, n := range []int{256, 512} {
		e, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), uint(n)))
		if err != nil {
			b.Fatal(err)
		}
		b.Run("table/bits="+itoa(n), func(b *testing.B) {
			for b.Loop() {
				gExp(e)
			}
		})
		b.Run("exp/bits="+itoa(n), func(b *testing.B) {
			for b.Loop() {
				new(big.Int).Exp(groupG, e, groupN)
			}
		})
	}
}

func itoa(n int) string { return big.NewInt(int64(n)).String() }
