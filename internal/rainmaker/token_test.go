package rainmaker

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

func seg(s string, enc *base64.Encoding) string { return enc.EncodeToString([]byte(s)) }

func TestDecodeClaims(t *testing.T) {
	// This payload's base64 contains both '-' and '_' in the URL alphabet
	// ('+' and '/' in the standard one): the case the reference CLI fails on (D8).
	tricky := `{"custom:user_id":"u>>>???","exp":1700000000,"iss":"https://cognito-idp.us-east-1.amazonaws.com/x","email":"a@b.c","k":"~~~???>>>"}`
	urlSeg := seg(tricky, base64.RawURLEncoding)
	if !strings.ContainsAny(urlSeg, "-_") {
		t.Fatalf("test payload does not exercise the URL alphabet: %s", urlSeg)
	}
	tests := []struct {
		name    string
		token   string
		wantUID string
		wantExp int64
		wantErr bool
	}{
		{"base64url unpadded with - and _", "h." + urlSeg + ".s", "u>>>???", 1700000000, false},
		{"base64url padded", "h." + seg(tricky, base64.URLEncoding) + ".s", "u>>>???", 1700000000, false},
		{"standard alphabet padded", "h." + seg(tricky, base64.StdEncoding) + ".s", "u>>>???", 1700000000, false},
		{"standard alphabet unpadded", "h." + seg(tricky, base64.RawStdEncoding) + ".s", "u>>>???", 1700000000, false},
		{"float exp", "h." + seg(`{"exp":1700000000.5}`, base64.RawURLEncoding) + ".s", "", 1700000000, false},
		{"no exp", "h." + seg(`{"custom:user_id":"x"}`, base64.RawURLEncoding) + ".s", "x", 0, false},
		{"two segments", "h." + urlSeg, "", 0, true},
		{"four segments", "a.b.c.d", "", 0, true},
		{"not base64", "h.!!!!.s", "", 0, true},
		{"not JSON", "h." + seg("hello", base64.RawURLEncoding) + ".s", "", 0, true},
		{"JSON array", "h." + seg("[1,2]", base64.RawURLEncoding) + ".s", "", 0, true},
		{"empty", "", "", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := DecodeClaims(tc.token)
			if tc.wantErr {
				if !errors.Is(err, ErrMalformedToken) {
					t.Fatalf("err = %v, want ErrMalformedToken", err)
				}
				if tc.token != "" && strings.Contains(err.Error(), tc.token) {
					t.Fatalf("error leaks the token: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.UserID != tc.wantUID {
				t.Errorf("UserID = %q, want %q", c.UserID, tc.wantUID)
			}
			var got int64
			if !c.Expiry.IsZero() {
				got = c.Expiry.Unix()
			}
			if got != tc.wantExp {
				t.Errorf("exp = %d, want %d", got, tc.wantExp)
			}
		})
	}
}

func TestCheckRegion(t *testing.T) {
	tests := []struct {
		base, iss string
		wantErr   bool
	}{
		{"global", "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_abc", false},
		{"global", "https://cognito-idp.cn-north-1.amazonaws.com.cn/cn-north-1_abc", true},
		{"china", "https://cognito-idp.cn-north-1.amazonaws.com.cn/cn-north-1_abc", false},
		{"china", "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_abc", true},
		{"http://127.0.0.1:1", "https://cognito-idp.cn-north-1.amazonaws.com.cn/x", false},
		{"global", "", false},
	}
	for _, tc := range tests {
		c, err := New(Config{BaseURL: tc.base}, Credentials{RefreshToken: "r-token"})
		if err != nil {
			t.Fatal(err)
		}
		err = c.checkRegion(tc.iss)
		if (err != nil) != tc.wantErr || (err != nil && !errors.Is(err, ErrRegionMismatch)) {
			t.Errorf("base %s iss %s: err = %v, want error %v", tc.base, tc.iss, err, tc.wantErr)
		}
	}
	_ = time.Second
}
