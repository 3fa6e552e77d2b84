package sec2

import (
	"crypto/rand"
	"testing"
)

func BenchmarkHandshake(b *testing.B) {
	salt, err := NewSalt(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	ver := Verifier(vUser, vPass, salt)
	b.ReportAllocs()
	for b.Loop() {
		if err := handshake(b, NewClient(vUser, vPass), NewDevice(salt, ver, 1)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncrypt(b *testing.B) {
	for _, patch := range []int{1, 0} {
		name := "patch1"
		if patch == 0 {
			name = "patch0"
		}
		b.Run(name, func(b *testing.B) {
			c := NewClient(vUser, vPass)
			if err := handshake(b, c, NewDevice(unhex(b, vSalt), unhex(b, vVerifier), patch)); err != nil {
				b.Fatal(err)
			}
			ci := c.Cipher()
			msg := make([]byte, 64)
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ci.Encrypt(msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
