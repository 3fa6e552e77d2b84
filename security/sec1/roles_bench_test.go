package sec1

import (
	"testing"

	"github.com/espprov/espprov/security"
	"github.com/espprov/espprov/security/securitytest"
)

// BenchmarkHandshakeRole measures the client and the device role alone.
func BenchmarkHandshakeRole(b *testing.B) {
	pop := []byte(vPoP)
	securitytest.BenchmarkRoles(b,
		func() security.Handshaker { return NewClient(pop, securitytest.FixedRand(1)) },
		func() security.Handshaker { return NewDevice(pop, securitytest.FixedRand(2)) })
}

// BenchmarkDecrypt measures one encrypt and one decrypt of 64 bytes.
func BenchmarkDecrypt(b *testing.B) {
	c, d := NewClient([]byte(vPoP)), NewDevice([]byte(vPoP))
	if err := handshake(b, c, d); err != nil {
		b.Fatal(err)
	}
	securitytest.BenchmarkEncryptDecrypt(b, c.Cipher(), d.Cipher())
}
