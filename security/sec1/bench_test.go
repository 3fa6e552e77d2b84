package sec1

import (
	"testing"

	"github.com/espprov/espprov/security"
)

func BenchmarkHandshake(b *testing.B) {
	b.ReportAllocs()
	pop := []byte(vPoP)
	for b.Loop() {
		if err := handshake(b, NewClient(pop), NewDevice(pop)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncrypt(b *testing.B) {
	c := NewClient([]byte(vPoP))
	if err := handshake(b, c, NewDevice([]byte(vPoP))); err != nil {
		b.Fatal(err)
	}
	var ci security.Cipher = c.Cipher()
	msg := make([]byte, 64)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ci.Encrypt(msg); err != nil {
			b.Fatal(err)
		}
	}
}
