// Package identity carries the authenticated caller of an API call in its
// context. The server's authentication interceptors put it there; anything
// below the API (the job runner recording who started a job, log lines) reads
// it with FromContext and never needs to know how the caller authenticated.
package identity

import "context"

// Kind says how a caller authenticated.
type Kind string

const (
	// KindToken is a bearer token from the --auth-tokens file.
	KindToken Kind = "token"
	// KindCertificate is a TLS client certificate signed by --tls-client-ca.
	KindCertificate Kind = "certificate"
	// KindAnonymous is a call to a server running without authentication
	// (loopback only, or --insecure-no-auth).
	KindAnonymous Kind = "anonymous"
)

// Identity is who made a call. It never holds a secret: Name is the token's
// name from the tokens file or the certificate's subject.
type Identity struct {
	Kind Kind
	Name string
}

// String is "token:NAME", "certificate:SUBJECT" or "anonymous", the form
// used in logs and job records.
func (i Identity) String() string {
	if i.Kind == "" || i.Kind == KindAnonymous {
		return string(KindAnonymous)
	}
	return string(i.Kind) + ":" + i.Name
}

type ctxKey struct{}

// NewContext returns ctx carrying id.
func NewContext(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext returns the caller of the call ctx belongs to; ok is false when
// no authentication layer ran (in-process use, tests).
func FromContext(ctx context.Context) (id Identity, ok bool) {
	id, ok = ctx.Value(ctxKey{}).(Identity)
	return id, ok
}
