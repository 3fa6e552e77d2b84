package sec2

import (
	"testing"

	"github.com/espprov/espprov/security"
	"github.com/espprov/espprov/security/securitytest"
)

// BenchmarkHandshakeRole measures the client and the device role alone.
func BenchmarkHandshakeRole(b *testing.B) {
	salt, ver := unhex(b, vSalt), unhex(b, vVerifier)
	securitytest.BenchmarkRoles(b,
		func() security.Handshaker { return NewClient(vUser, vPass, securitytest.FixedRand(1)) },
		func() security.Handshaker { return NewDevice(salt, ver, 1, securitytest.FixedRand(2)) })
}

// BenchmarkDecrypt measures one encrypt and one decrypt of 64 bytes.
func BenchmarkDecrypt(b *testing.B) {
	c, d := NewClient(vUser, vPass), NewDevice(unhex(b, vSalt), unhex(b, vVerifier), 1)
	if err := handshake(b, c, d); err != nil {
		b.Fatal(err)
	}
	securitytest.BenchmarkEncryptDecrypt(b, c.Cipher(), d.Cipher())
}
