package auth

import (
	"crypto/x509"
	"net/http"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// HTTPErrorWriter writes an error (a gRPC status) in the REST error shape.
type HTTPErrorWriter func(w http.ResponseWriter, r *http.Request, err error)

// HTTP is the middleware for the REST gateway and the other HTTP routes:
// requests for which open returns true pass unauthenticated; any other
// request needs a valid bearer token or client certificate (else 401 with a
// WWW-Authenticate header). The admitted principal is in the request's
// context for GatewayMetadata and for handlers (RequireScope). Scopes of API
// calls are checked by the in-process gRPC server behind the gateway.
func (g *Guard) HTTP(next http.Handler, open func(*http.Request) bool, writeErr HTTPErrorWriter) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k := range r.Header {
			lk := strings.ToLower(k)
			if strings.HasPrefix(strings.TrimPrefix(lk, "grpc-metadata-"), "x-espprov-gateway-") {
				r.Header.Del(k)
			}
		}
		if open(r) {
			next.ServeHTTP(w, r)
			return
		}
		p, err := g.authenticateHTTP(r)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="espprovd"`)
			writeErr(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(withPrincipal(r.Context(), p)))
	})
}

func (g *Guard) authenticateHTTP(r *http.Request) (Principal, error) {
	if !g.Enabled() {
		return Anonymous, nil
	}
	var bearer string
	if v := r.Header.Get("Authorization"); v != "" {
		tok, ok := BearerToken(v)
		if !ok {
			return Principal{}, status.Error(codes.Unauthenticated, "Authorization header must be `Bearer <token>`")
		}
		bearer = tok
	}
	var chain []*x509.Certificate
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		chain = r.TLS.VerifiedChains[0]
	}
	p, err := g.Auth.Authenticate(bearer, chain)
	if err != nil {
		return Principal{}, status.Error(codes.Unauthenticated, g.hint(err))
	}
	return p, nil
}

// RequireScope wraps a plain HTTP handler (not an API call) behind the
// middleware: a caller without scope gets 403.
func RequireScope(scope Scope, next http.Handler, writeErr HTTPErrorWriter) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := PrincipalFromContext(r.Context())
		if !ok || !p.Allows(scope) {
			writeErr(w, r, status.Errorf(codes.PermissionDenied, "espprovd: %s lacks scope %q needed by %s", p.Identity, scope, r.URL.Path))
			return
		}
		next.ServeHTTP(w, r)
	})
}
