package device

import (
	"fmt"

	"github.com/espprov/espprov/security"
	"github.com/espprov/espprov/security/sec0"
	"github.com/espprov/espprov/security/sec1"
	"github.com/espprov/espprov/security/sec2"
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
	case 2:
		return sec2.NewDevice(d.salt, d.verifier, d.cfg.SecPatchVer, security.WithRand(d.cfg.Rand)), nil
	}
	return nil, fmt.Errorf("security scheme %d not supported", d.cfg.SecVer)
}

// srpCredentials computes the Security 2 salt (unless configured) and the
// verifier from the configured username and password; the device keeps
// only these two, like firmware provisioned with esp_prov --sec2_gen_cred.
func srpCredentials(c Config) (salt, verifier []byte, err error) {
	salt = append([]byte(nil), c.SRPSalt...)
	if len(salt) == 0 {
		if salt, err = sec2.NewSalt(c.Rand); err != nil {
			return nil, nil, err
		}
	}
	return salt, sec2.Verifier(c.SRPUsername, c.SRPPassword, salt), nil
}
