package logging

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

func peerAddr(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return ""
}

func incomingID(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	v := md.Get(HeaderName)
	if len(v) == 0 {
		return AcceptRequestID("")
	}
	return AcceptRequestID(v[0])
}

// UnaryRequestID gives a unary call its request id (sent back as header
// metadata x-request-id) and logs its start at debug level.
func UnaryRequestID(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		id := incomingID(ctx)
		_ = grpc.SetHeader(ctx, metadata.Pairs(HeaderName, id))
		ctx = WithRequestID(ctx, id)
		log.DebugContext(ctx, "rpc started", "method", info.FullMethod, "peer", peerAddr(ctx))
		return h(ctx, req)
	}
}

// StreamRequestID gives a streaming call its request id and logs its
// start at debug level.
func StreamRequestID(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		id := incomingID(ss.Context())
		_ = ss.SetHeader(metadata.Pairs(HeaderName, id))
		ctx := WithRequestID(ss.Context(), id)
		log.DebugContext(ctx, "rpc started", "method", info.FullMethod, "peer", peerAddr(ctx))
		return h(srv, &ctxStream{ServerStream: ss, ctx: ctx})
	}
}

type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *ctxStream) Context() context.Context { return s.ctx }

// UnaryNoteCaller, placed after authentication, lets the access log name
// the caller.
func UnaryNoteCaller() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		NoteCaller(ctx)
		return h(ctx, req)
	}
}

// StreamNoteCaller: see UnaryNoteCaller.
func StreamNoteCaller() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		NoteCaller(ss.Context())
		return h(srv, ss)
	}
}

// UnaryAccessLog logs one line per unary call (method, code, elapsed;
// request id and caller come from the context).
func UnaryAccessLog(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := h(ctx, req)
		logCall(ctx, log, info.FullMethod, start, err)
		return resp, err
	}
}

// StreamAccessLog logs one line per streaming call; it sits before
// authentication (so refusals are logged too) and names the caller through
// NoteCaller.
func StreamAccessLog(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		start := time.Now()
		err := h(srv, ss)
		logCall(ss.Context(), log, info.FullMethod, start, err)
		return err
	}
}

func logCall(ctx context.Context, log *slog.Logger, method string, start time.Time, err error) {
	st := status.Convert(err)
	level := slog.LevelInfo
	if err != nil {
		level = slog.LevelWarn
	}
	attrs := []any{"method", method, "code", st.Code().String(), "elapsed", time.Since(start)}
	if err != nil {
		attrs = append(attrs, "error", st.Message())
	}
	log.Log(ctx, level, "rpc", attrs...)
}

// HTTP gives each HTTP request a request id (a well-formed X-Request-Id from
// the client, or a new one), returned in the X-Request-Id response header
// and carried in the request's context.
func HTTP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := AcceptRequestID(r.Header.Get(HeaderName))
		w.Header().Set(HeaderName, id)
		next.ServeHTTP(w, r.WithContext(WithRequestID(r.Context(), id)))
	})
}

// GatewayMetadata forwards the HTTP request id to the gRPC call behind the
// REST gateway (runtime.WithMetadata).
func GatewayMetadata(ctx context.Context, _ *http.Request) metadata.MD {
	if id := RequestID(ctx); id != "" {
		return metadata.Pairs(HeaderName, id)
	}
	return nil
}
