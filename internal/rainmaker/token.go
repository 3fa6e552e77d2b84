package rainmaker

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Claims are the JWT claims the client reads (without verifying signatures,
// like every RainMaker client: the tokens are opaque bearer credentials).
type Claims struct {
	// UserID is "custom:user_id" of the ID token.
	UserID string
	// Email and PhoneNumber identify the account for display.
	Email       string
	PhoneNumber string
	// Issuer is "iss".
	Issuer string
	// Expiry is "exp" (zero if absent).
	Expiry time.Time
}

// ErrMalformedToken: a token is not a JWT whose payload decodes to a JSON object.
var ErrMalformedToken = errors.New("rainmaker: malformed token")

// DecodeClaims decodes the payload segment of a JWT. The segment is base64url
// with optional padding (reference CLI defect D8 uses the standard alphabet;
// the standard alphabet is still accepted as a fallback). The error never
// contains the token.
func DecodeClaims(token string) (Claims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return Claims{}, fmt.Errorf("%w: want 3 dot-separated segments, got %d", ErrMalformedToken, len(parts))
	}
	raw, err := decodeSegment(parts[1])
	if err != nil {
		return Claims{}, fmt.Errorf("%w: payload is not base64url", ErrMalformedToken)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return Claims{}, fmt.Errorf("%w: payload is not a JSON object", ErrMalformedToken)
	}
	var c Claims
	c.UserID, _ = m["custom:user_id"].(string)
	c.Email, _ = m["email"].(string)
	c.PhoneNumber, _ = m["phone_number"].(string)
	c.Issuer, _ = m["iss"].(string)
	switch exp := m["exp"].(type) {
	case float64:
		if exp > 0 && exp < 1e13 {
			sec, frac := math.Modf(exp)
			c.Expiry = time.Unix(int64(sec), int64(frac*1e9))
		}
	case string:
		var n int64
		if _, err := fmt.Sscanf(exp, "%d", &n); err == nil && n > 0 {
			c.Expiry = time.Unix(n, 0)
		}
	}
	return c, nil
}

func decodeSegment(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if b, err := base64.RawURLEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(s)
}
