// Package auth authenticates and authorizes API calls: bearer tokens from a
// tokens file (stored as hashes) and TLS client certificates, each identity
// with scopes. It provides gRPC interceptors and an HTTP middleware for the
// server; the provisioning service never sees it, only the caller's
// identity in the context (package identity).
package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/espprov/espprov/internal/identity"
)

// Principal is an authenticated caller and what it may do.
type Principal struct {
	identity.Identity
	Scopes []Scope
}

// Allows reports whether p holds scope (admin holds every scope).
func (p Principal) Allows(scope Scope) bool {
	return slices.Contains(p.Scopes, ScopeAdmin) || slices.Contains(p.Scopes, scope)
}

// Anonymous is the caller of a server without authentication: every scope.
var Anonymous = Principal{Identity: identity.Identity{Kind: identity.KindAnonymous}, Scopes: []Scope{ScopeAdmin}}

// Errors of Authenticate. Their text never includes the presented token.
var (
	ErrNoCredentials = errors.New("no credentials: send `authorization: Bearer <token>` or a TLS client certificate")
	ErrBadToken      = errors.New("the bearer token is not valid (unknown or revoked)")
)

type tokenHash struct {
	sum    [sha256.Size]byte
	name   string
	scopes []Scope
}

type policy struct {
	tokens []tokenHash
	certs  map[string][]Scope
}

// Authenticator holds the current tokens file; Reload swaps it atomically.
// A zero path means no tokens (certificates then have no scopes).
type Authenticator struct {
	path string
	cur  atomic.Pointer[policy]
}

// NewAuthenticator reads the tokens file at path.
func NewAuthenticator(path string) (*Authenticator, error) {
	a := &Authenticator{path: path}
	if err := a.Reload(); err != nil {
		return nil, err
	}
	return a, nil
}

// Path is the tokens file.
func (a *Authenticator) Path() string { return a.path }

// Reload re-reads the tokens file. On error the previous one stays in force.
func (a *Authenticator) Reload() error {
	f, err := ReadFile(a.path)
	if err != nil {
		return err
	}
	p := &policy{certs: map[string][]Scope{}}
	for _, t := range f.Tokens {
		var th tokenHash
		h, _ := hex.DecodeString(strings.TrimPrefix(t.Hash, hashPrefix))
		copy(th.sum[:], h)
		th.name, th.scopes = t.Name, t.Scopes
		p.tokens = append(p.tokens, th)
	}
	for _, c := range f.Certificates {
		p.certs[c.Subject] = c.Scopes
	}
	a.cur.Store(p)
	return nil
}

// Counts reports how many tokens and certificate subjects are loaded.
func (a *Authenticator) Counts() (tokens, certificates int) {
	p := a.cur.Load()
	return len(p.tokens), len(p.certs)
}

// Authenticate identifies a caller by its bearer token (the value after
// "Bearer ") or, when it sent none, by its verified client certificate
// chain. A token is compared with every stored hash in constant time.
func (a *Authenticator) Authenticate(bearer string, verified []*x509.Certificate) (Principal, error) {
	p := a.cur.Load()
	if bearer != "" {
		sum := sha256.Sum256([]byte(bearer))
		found := -1
		for i := range p.tokens {
			if subtle.ConstantTimeCompare(sum[:], p.tokens[i].sum[:]) == 1 {
				found = i
			}
		}
		if found < 0 {
			return Principal{}, ErrBadToken
		}
		t := p.tokens[found]
		return Principal{Identity: identity.Identity{Kind: identity.KindToken, Name: t.name}, Scopes: t.scopes}, nil
	}
	if len(verified) > 0 {
		subject := verified[0].Subject.String()
		scopes, ok := p.certs[subject]
		// A subject without an entry is authenticated (its CA signed it)
		// but holds no scope: every call is PermissionDenied.
		_ = ok
		return Principal{Identity: identity.Identity{Kind: identity.KindCertificate, Name: subject}, Scopes: scopes}, nil
	}
	return Principal{}, ErrNoCredentials
}

// BearerToken extracts the token of an "authorization: Bearer <token>"
// value; ok is false for any other form.
func BearerToken(header string) (token string, ok bool) {
	scheme, tok, found := strings.Cut(strings.TrimSpace(header), " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}
