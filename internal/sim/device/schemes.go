package device

import (
	"fmt"

	"github.com/espprov/espprov/security"
	"github.com/espprov/espprov/security/sec0"
	"github.com/espprov/espprov/security/sec1"
)

// newHandshaker returns a fresh device-role handshaker for the configured
// scheme (one per security session).
func (d *Device) newHandshaker() (security.Handshaker, error) {
	if d.cfg.NewHandshaker != nil {
		return d.cfg.NewHandshaker()
	}
	switch d.cfg.SecVer {
	case 0:
		return sec0.NewDevice(), nil
	case 1:
		return sec1.NewDevice([]byte(d.cfg.PoP), security.WithRand(d.cfg.Rand)), nil
	}
	return nil, fmt.Errorf("security scheme %d not available yet", d.cfg.SecVer)
}

// srpCredentials computes the Security 2 salt and verifier from the
// configured username and password.
func srpCredentials(c Config) (salt, verifier []byte, err error) {
	return nil, nil, fmt.Errorf("security 2 not available yet")
}
