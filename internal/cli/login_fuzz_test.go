package cli

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

// cannedCloud answers every request with one status and body.
type cannedCloud struct {
	status int
	body   []byte
}

func (c cannedCloud) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		req.Body.Close()
	}
	return &http.Response{StatusCode: c.status, Body: io.NopCloser(bytes.NewReader(c.body)), Header: http.Header{}, Request: req}, nil
}

// FuzzLoginReplies feeds arbitrary RainMaker login2 replies (status, JSON
// body) to espprov login's sign-in and MFA verification. It must never
// panic; a success carries the access and ID tokens, a 4xx is a rejection,
// and the password never appears in an error.
func FuzzLoginReplies(f *testing.F) {
	f.Add(uint16(200), []byte(`{"status":"success","accesstoken":"a","idtoken":"i","refreshtoken":"r"}`))
	f.Add(uint16(200), []byte(`{"status":"success","session":"s"}`))
	f.Add(uint16(401), []byte(`{"status":"failure","description":"Incorrect user name or password"}`))
	f.Add(uint16(500), []byte(`<html>`))
	f.Add(uint16(200), []byte(`{"accesstoken":1}`))
	const password = "pass-Secret-1"
	f.Fuzz(func(t *testing.T, status uint16, body []byte) {
		code := 100 + int(status)%500
		h := httpAuthenticator{client: &http.Client{Transport: cannedCloud{code, body}}}
		ctx := context.Background()
		tok, session, err := h.Login(ctx, "https://cloud.invalid/v1/", "maker@example.com", password)
		check := func(what string, tok Tokens, err error) {
			t.Helper()
			if err != nil {
				if strings.Contains(err.Error(), password) {
					t.Fatalf("%s error shows the password: %v", what, err)
				}
				if code >= 400 && code < 500 && !errors.Is(err, errLoginRejected) {
					t.Fatalf("%s: HTTP %d not a rejection: %v", what, code, err)
				}
				if tok != (Tokens{}) {
					t.Fatalf("%s error with tokens", what)
				}
				return
			}
			if code != http.StatusOK {
				t.Fatalf("%s accepted HTTP %d", what, code)
			}
		}
		check("login", tok, err)
		if err == nil && session == "" && (tok.AccessToken == "" || tok.IDToken == "") {
			t.Fatalf("login success without tokens or an MFA session: %+v", tok)
		}
		tok, err = h.Verify(ctx, "https://cloud.invalid/v1/", "maker@example.com", "s", "123456")
		check("verify", tok, err)
		if err == nil && (tok.AccessToken == "" || tok.IDToken == "") {
			t.Fatalf("verify success without tokens: %+v", tok)
		}
	})
}
