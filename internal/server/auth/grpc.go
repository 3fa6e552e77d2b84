package auth

import (
	"context"
	"crypto/x509"
	"net/http"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/espprov/espprov/internal/identity"
)

// Guard authenticates and authorizes calls. A Guard with a nil
// Authenticator serves everyone as Anonymous (no authentication configured).
type Guard struct {
	Auth *Authenticator
	// TLSClientAuth is true when client certificates are verified
	// (--tls-client-ca); it only changes error messages.
	TLSClientAuth bool
}

// Enabled reports whether calls are authenticated.
func (g *Guard) Enabled() bool { return g != nil && g.Auth != nil }

type principalKey struct{}

// PrincipalFromContext is the principal the guard admitted for this call.
func PrincipalFromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

func withPrincipal(ctx context.Context, p Principal) context.Context {
	return identity.NewContext(context.WithValue(ctx, principalKey{}, p), p.Identity)
}

// authenticateGRPC identifies the caller of a call on the public listener.
func (g *Guard) authenticateGRPC(ctx context.Context) (Principal, error) {
	if !g.Enabled() {
		return Anonymous, nil
	}
	var bearer string
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get("authorization"); len(v) > 0 {
			tok, ok := BearerToken(v[0])
			if !ok {
				return Principal{}, status.Error(codes.Unauthenticated, "authorization metadata must be `Bearer <token>`")
			}
			bearer = tok
		}
	}
	var chain []*x509.Certificate
	if p, ok := peer.FromContext(ctx); ok {
		if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(ti.State.VerifiedChains) > 0 {
			chain = ti.State.VerifiedChains[0]
		}
	}
	pr, err := g.Auth.Authenticate(bearer, chain)
	if err != nil {
		return Principal{}, status.Error(codes.Unauthenticated, g.hint(err))
	}
	return pr, nil
}

func (g *Guard) hint(err error) string {
	msg := "espprovd: " + err.Error()
	if err == ErrNoCredentials && !g.TLSClientAuth {
		msg = "espprovd: no credentials: send `authorization: Bearer <token>` (espprov: --token or ESPPROV_TOKEN)"
	}
	return msg
}

func authorize(p Principal, fullMethod string) error {
	need := MethodScope(fullMethod)
	if p.Allows(need) {
		return nil
	}
	return status.Errorf(codes.PermissionDenied, "espprovd: %s lacks scope %q needed by %s (holds: %s)",
		p.Identity, need, fullMethod, scopeListOrNone(p.Scopes))
}

func scopeListOrNone(s []Scope) string {
	if len(s) == 0 {
		return "none; add the identity to the tokens file"
	}
	return JoinScopes(s)
}

// UnaryInterceptor guards unary calls on the public listener.
func (g *Guard) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return g.unary(g.authenticateGRPC)
}

// StreamInterceptor guards streaming calls on the public listener.
func (g *Guard) StreamInterceptor() grpc.StreamServerInterceptor {
	return g.stream(g.authenticateGRPC)
}

// GatewayUnaryInterceptor and GatewayStreamInterceptor guard the in-process
// gRPC server the REST gateway calls: the HTTP middleware authenticated the
// caller and the gateway forwards its principal as metadata; scopes are
// checked here like on the public listener.
func (g *Guard) GatewayUnaryInterceptor() grpc.UnaryServerInterceptor {
	return g.unary(principalFromGateway)
}

// GatewayStreamInterceptor: see GatewayUnaryInterceptor.
func (g *Guard) GatewayStreamInterceptor() grpc.StreamServerInterceptor {
	return g.stream(principalFromGateway)
}

func (g *Guard) unary(authn func(context.Context) (Principal, error)) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if Open(info.FullMethod) {
			return h(ctx, req)
		}
		p, err := authn(ctx)
		if err != nil {
			return nil, err
		}
		ctx = withPrincipal(ctx, p)
		if err := authorize(p, info.FullMethod); err != nil {
			return nil, err
		}
		return h(ctx, req)
	}
}

func (g *Guard) stream(authn func(context.Context) (Principal, error)) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		if Open(info.FullMethod) {
			return h(srv, ss)
		}
		p, err := authn(ss.Context())
		if err != nil {
			return err
		}
		ss = &ctxStream{ServerStream: ss, ctx: withPrincipal(ss.Context(), p)}
		if err := authorize(p, info.FullMethod); err != nil {
			return err
		}
		return h(srv, ss)
	}
}

type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *ctxStream) Context() context.Context { return s.ctx }

// Metadata keys the gateway sets for the in-process server. The HTTP
// middleware deletes request headers of these names, so a client cannot
// set them.
const (
	mdKind   = "x-espprov-gateway-identity-kind"
	mdName   = "x-espprov-gateway-identity-name"
	mdScopes = "x-espprov-gateway-identity-scopes"
)

func principalFromGateway(ctx context.Context) (Principal, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	kind, name, scopes := md.Get(mdKind), md.Get(mdName), md.Get(mdScopes)
	if len(kind) != 1 || len(name) != 1 || len(scopes) > 1 {
		return Principal{}, status.Error(codes.Unauthenticated, "espprovd: gateway call without a principal")
	}
	p := Principal{Identity: identity.Identity{Kind: identity.Kind(kind[0]), Name: name[0]}}
	if len(scopes) == 1 && scopes[0] != "" {
		for _, s := range strings.Split(scopes[0], ",") {
			p.Scopes = append(p.Scopes, Scope(s))
		}
	}
	return p, nil
}

// GatewayMetadata is the grpc-gateway annotator (runtime.WithMetadata) that
// forwards the principal the HTTP middleware admitted.
func GatewayMetadata(ctx context.Context, _ *http.Request) metadata.MD {
	p, ok := PrincipalFromContext(ctx)
	if !ok {
		return nil
	}
	return metadata.Pairs(mdKind, string(p.Kind), mdName, p.Name, mdScopes, JoinScopes(p.Scopes))
}
