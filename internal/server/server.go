// Package server hosts an espprov.v1 service: gRPC (with reflection and the
// standard health service) and the REST gateway, on two listeners, with the
// layers a production service needs around it: request ids and access logs
// (package logging), authentication (package auth), metrics (package
// metrics), TLS with reload, and a graceful stop that cancels what is left
// with a typed error.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/encoding/protojson"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/server/auth"
	"github.com/espprov/espprov/internal/server/logging"
	"github.com/espprov/espprov/internal/server/metrics"
)

// Options configure a Server.
type Options struct {
	// GRPCListen and HTTPListen are host:port; port 0 picks a free port.
	// An empty HTTPListen disables the REST gateway.
	GRPCListen string
	HTTPListen string
	Service    espprovv1.ProvisioningServiceServer
	Logger     *slog.Logger
	// GRPCOptions are extra server options for the public gRPC listener.
	GRPCOptions []grpc.ServerOption
	// Guard authenticates and authorizes calls (nil: everyone is anonymous
	// with every scope; the caller decides whether that is safe).
	Guard *auth.Guard
	// TLS serves both listeners over TLS (nil: plaintext).
	TLS *TLSFiles
	// Metrics, when set, is served at /metrics on the HTTP listener, or on
	// MetricsListen when that is set; behind Guard unless MetricsOpen.
	Metrics       *metrics.Metrics
	MetricsListen string
	MetricsOpen   bool
	// HTTP hardens the REST gateway (origins, hosts, body and header caps,
	// timeouts, connection bound); see httpguard.go.
	HTTP HTTPOptions
	// GRPC caps request and header sizes; see limits.go.
	GRPC GRPCLimits
	// GatewayRoutes add hand-written REST routes to the gateway mux (e.g.
	// the jobs export, whose body is a file, not JSON); they call the API
	// through conn like the generated routes, behind the same guards.
	GatewayRoutes []func(mux *runtime.ServeMux, conn grpc.ClientConnInterface) error
	// UI, when set, serves a web page's static assets at UIPrefix ("/ui/")
	// on the HTTP listener, without authentication (the assets hold no
	// data; every API call the page makes is authenticated as usual).
	UI       http.Handler
	UIPrefix string
}

// Server is a running espprov server.
type Server struct {
	grpc     *grpc.Server
	gwGRPC   *grpc.Server // in-process server the REST gateway calls
	health   *health.Server
	http     *http.Server
	metrics  *http.Server
	grpcLis  net.Listener
	httpLis  net.Listener
	metLis   net.Listener
	gwLis    *bufconn.Listener
	gwConn   *grpc.ClientConn
	wg       sync.WaitGroup
	log      *slog.Logger
	stopOnce sync.Once
	// hardCtx is cancelled when the shutdown grace has run out.
	hardCtx    context.Context
	hardCancel context.CancelFunc
}

// Start listens on both addresses and serves until Shutdown.
func Start(ctx context.Context, o Options) (*Server, error) {
	if o.Service == nil {
		return nil, errors.New("server: no service")
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{log: log}
	s.hardCtx, s.hardCancel = context.WithCancel(context.Background())
	var err error
	if s.grpcLis, err = net.Listen("tcp", o.GRPCListen); err != nil {
		return nil, fmt.Errorf("server: gRPC listen on %s: %w", o.GRPCListen, err)
	}
	opts := s.chain(o, o.Guard.UnaryInterceptor(), o.Guard.StreamInterceptor())
	if o.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(o.TLS.config("h2"))))
	}
	opts = append(opts, o.GRPC.serverOptions()...)
	s.grpc = grpc.NewServer(append(opts, o.GRPCOptions...)...)
	espprovv1.RegisterProvisioningServiceServer(s.grpc, o.Service)
	s.health = health.NewServer()
	healthpb.RegisterHealthServer(s.grpc, s.health)
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	s.health.SetServingStatus(espprovv1.ProvisioningService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	reflection.Register(s.grpc)
	s.serve("gRPC", func() error { return s.grpc.Serve(s.grpcLis) })
	if o.HTTPListen != "" || o.MetricsListen != "" {
		if err := s.startHTTP(ctx, o); err != nil {
			s.grpc.Stop()
			if s.gwGRPC != nil {
				s.gwGRPC.Stop()
			}
			s.wg.Wait()
			return nil, err
		}
	}
	return s, nil
}

// chain is the interceptor order of both gRPC servers: request id, access
// log and call metrics (they see refusals too), authentication, caller noted
// for the log, provisioning metrics, and the shutdown canceller closest to
// the service.
func (s *Server) chain(o Options, authU grpc.UnaryServerInterceptor, authS grpc.StreamServerInterceptor) []grpc.ServerOption {
	unary := []grpc.UnaryServerInterceptor{logging.UnaryRequestID(s.log), logging.UnaryAccessLog(s.log)}
	stream := []grpc.StreamServerInterceptor{logging.StreamRequestID(s.log), logging.StreamAccessLog(s.log)}
	if o.Metrics != nil {
		unary = append(unary, o.Metrics.UnaryInterceptor())
		stream = append(stream, o.Metrics.StreamInterceptor())
	}
	unary = append(unary, authU, logging.UnaryNoteCaller())
	stream = append(stream, authS, logging.StreamNoteCaller())
	if o.Metrics != nil {
		stream = append(stream, o.Metrics.ProvisionInterceptor())
	}
	unary = append(unary, s.unaryShutdown())
	stream = append(stream, s.streamShutdown())
	return []grpc.ServerOption{grpc.ChainUnaryInterceptor(unary...), grpc.ChainStreamInterceptor(stream...)}
}

func (s *Server) serve(what string, serve func() error) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := serve(); err != nil && !errors.Is(err, grpc.ErrServerStopped) && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error(what+" server stopped", "error", err)
		}
	}()
}

func (s *Server) listen(addr, what string, o Options, nextProtos ...string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("server: %s listen on %s: %w", what, addr, err)
	}
	// The bound is under TLS, so that the server still sees *tls.Conn.
	l = limitConns(l, o.HTTP.withDefaults().MaxConns)
	if o.TLS != nil {
		l = tlsListener(l, o.TLS.config(nextProtos...))
	}
	return l, nil
}

func (s *Server) startHTTP(ctx context.Context, o Options) error {
	// The gateway calls an in-process gRPC server (same service and
	// interceptors) that trusts the principal the HTTP middleware admitted.
	s.gwLis = bufconn.Listen(1 << 20)
	s.gwGRPC = grpc.NewServer(s.chain(o, o.Guard.GatewayUnaryInterceptor(), o.Guard.GatewayStreamInterceptor())...)
	espprovv1.RegisterProvisioningServiceServer(s.gwGRPC, o.Service)
	s.serve("gateway gRPC", func() error { return s.gwGRPC.Serve(s.gwLis) })
	var err error
	s.gwConn, err = grpc.NewClient("passthrough:///espprovd-gateway",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return s.gwLis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("server: gateway client: %w", err)
	}
	// Omit unset fields (the default emits every field as null or zero) and
	// reject unknown request fields, so that a typo is an error, not a no-op.
	ho := o.HTTP.withDefaults()
	rt, err := newRoutes(espprovv1.OpenAPI, map[string][]string{"/openapi.json": {http.MethodGet}, "/healthz": {http.MethodGet}, "/metrics": {http.MethodGet}})
	if err != nil {
		return err
	}
	hg := &guard{o: ho, routes: rt}
	gw := runtime.NewServeMux(runtime.WithMarshalerOption(runtime.MIMEWildcard, errorShapeMarshaler{&runtime.HTTPBodyMarshaler{
		Marshaler: &runtime.JSONPb{MarshalOptions: protojson.MarshalOptions{}, UnmarshalOptions: protojson.UnmarshalOptions{}},
	}}), runtime.WithMetadata(auth.GatewayMetadata), runtime.WithMetadata(logging.GatewayMetadata),
		runtime.WithErrorHandler(gatewayError), runtime.WithRoutingErrorHandler(hg.routingError))
	if err := espprovv1.RegisterProvisioningServiceHandler(ctx, gw, s.gwConn); err != nil {
		return fmt.Errorf("server: gateway: %w", err)
	}
	for _, add := range o.GatewayRoutes {
		if err := add(gw, s.gwConn); err != nil {
			return fmt.Errorf("server: gateway route: %w", err)
		}
	}
	writeErr := func(w http.ResponseWriter, r *http.Request, err error) {
		_, out := runtime.MarshalerForRequest(gw, r)
		runtime.HTTPError(r.Context(), gw, out, w, r, err)
	}
	metricsOpen := func(r *http.Request) bool { return o.MetricsOpen && r.URL.Path == "/metrics" }
	wrap := func(h http.Handler, open func(*http.Request) bool) http.Handler {
		return logging.HTTP(o.Guard.HTTP(h, open, writeErr))
	}
	if o.HTTPListen != "" {
		mux := http.NewServeMux()
		mux.Handle("/v1/", gw)
		mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(espprovv1.OpenAPI)
		})
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte("ok\n"))
		})
		if o.Metrics != nil && o.MetricsListen == "" {
			mux.Handle("GET /metrics", o.Metrics.Handler())
		}
		uiOpen := func(*http.Request) bool { return false }
		if o.UI != nil {
			prefix := o.UIPrefix
			if prefix == "" {
				prefix = "/ui/"
			}
			mux.Handle("GET "+prefix, o.UI)
			mux.Handle("GET "+strings.TrimSuffix(prefix, "/"), http.RedirectHandler(prefix, http.StatusMovedPermanently))
			uiOpen = func(r *http.Request) bool { return r.URL.Path+"/" == prefix || strings.HasPrefix(r.URL.Path, prefix) }
		}
		open := func(r *http.Request) bool {
			return r.URL.Path == "/healthz" || r.URL.Path == "/openapi.json" || metricsOpen(r) || uiOpen(r)
		}
		if s.httpLis, err = s.listen(o.HTTPListen, "HTTP", o, "http/1.1"); err != nil {
			return err
		}
		*hg = *newGuard(ho, s.httpLis.Addr(), rt)
		s.http = ho.httpServer(logging.HTTP(hg.wrap(o.Guard.HTTP(mux, open, writeErr))))
		s.serve("HTTP gateway", func() error { return s.http.Serve(s.httpLis) })
	}
	if o.Metrics != nil && o.MetricsListen != "" {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", o.Metrics.Handler())
		if s.metLis, err = s.listen(o.MetricsListen, "metrics", o, "http/1.1"); err != nil {
			return err
		}
		s.metrics = ho.httpServer(wrap(mux, metricsOpen))
		s.serve("metrics", func() error { return s.metrics.Serve(s.metLis) })
	}
	return nil
}

// GRPCAddr is the gRPC listener's address.
func (s *Server) GRPCAddr() string { return s.grpcLis.Addr().String() }

// HTTPAddr is the REST gateway's address ("" when disabled).
func (s *Server) HTTPAddr() string {
	if s.httpLis == nil {
		return ""
	}
	return s.httpLis.Addr().String()
}

// MetricsAddr is the separate metrics listener's address ("" when
// metrics are served on the HTTP listener or not at all).
func (s *Server) MetricsAddr() string {
	if s.metLis == nil {
		return ""
	}
	return s.metLis.Addr().String()
}
