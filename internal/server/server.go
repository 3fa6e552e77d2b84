// Package server hosts an espprov.v1 service: gRPC (with reflection and the
// standard health service) and the REST gateway, on two listeners.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/protobuf/encoding/protojson"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
)

// Options configure a Server.
type Options struct {
	// GRPCListen and HTTPListen are host:port; port 0 picks a free port.
	// An empty HTTPListen disables the REST gateway.
	GRPCListen string
	HTTPListen string
	Service    espprovv1.ProvisioningServiceServer
	Logger     *slog.Logger
	// GRPCOptions are extra server options (TLS credentials, interceptors).
	GRPCOptions []grpc.ServerOption
}

// Server is a running espprov server.
type Server struct {
	grpc     *grpc.Server
	health   *health.Server
	http     *http.Server
	grpcLis  net.Listener
	httpLis  net.Listener
	gwConn   *grpc.ClientConn
	wg       sync.WaitGroup
	log      *slog.Logger
	stopOnce sync.Once
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
	var err error
	if s.grpcLis, err = net.Listen("tcp", o.GRPCListen); err != nil {
		return nil, fmt.Errorf("server: gRPC listen on %s: %w", o.GRPCListen, err)
	}
	opts := append([]grpc.ServerOption{grpc.ChainStreamInterceptor(logStream(log)), grpc.ChainUnaryInterceptor(logUnary(log))}, o.GRPCOptions...)
	s.grpc = grpc.NewServer(opts...)
	espprovv1.RegisterProvisioningServiceServer(s.grpc, o.Service)
	s.health = health.NewServer()
	healthpb.RegisterHealthServer(s.grpc, s.health)
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	s.health.SetServingStatus(espprovv1.ProvisioningService_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	reflection.Register(s.grpc)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.grpc.Serve(s.grpcLis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			log.Error("gRPC server stopped", "error", err)
		}
	}()
	if o.HTTPListen != "" {
		if err := s.startGateway(ctx, o.HTTPListen); err != nil {
			s.grpc.Stop()
			s.wg.Wait()
			return nil, err
		}
	}
	return s, nil
}

func (s *Server) startGateway(ctx context.Context, addr string) error {
	var err error
	if s.httpLis, err = net.Listen("tcp", addr); err != nil {
		return fmt.Errorf("server: HTTP listen on %s: %w", addr, err)
	}
	s.gwConn, err = grpc.NewClient(s.grpcLis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		s.httpLis.Close()
		return fmt.Errorf("server: gateway client: %w", err)
	}
	// Omit unset fields (the default emits every field as null or zero) and
	// reject unknown request fields, so that a typo is an error, not a no-op.
	gw := runtime.NewServeMux(runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.HTTPBodyMarshaler{
		Marshaler: &runtime.JSONPb{MarshalOptions: protojson.MarshalOptions{}, UnmarshalOptions: protojson.UnmarshalOptions{}},
	}))
	if err := espprovv1.RegisterProvisioningServiceHandler(ctx, gw, s.gwConn); err != nil {
		s.httpLis.Close()
		s.gwConn.Close()
		return fmt.Errorf("server: gateway: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/v1/", gw)
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(espprovv1.OpenAPI)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.http.Serve(s.httpLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("HTTP gateway stopped", "error", err)
		}
	}()
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

// Shutdown stops accepting work, lets running calls finish until ctx ends,
// then stops everything.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopOnce.Do(func() {
		s.health.Shutdown()
		if s.http != nil {
			_ = s.http.Shutdown(ctx)
		}
		done := make(chan struct{})
		go func() { s.grpc.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			s.grpc.Stop()
			<-done
		}
		if s.gwConn != nil {
			_ = s.gwConn.Close()
		}
		s.wg.Wait()
	})
	return ctx.Err()
}

func logUnary(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := h(ctx, req)
		log.InfoContext(ctx, "rpc", "method", info.FullMethod, "elapsed", time.Since(start), "error", errString(err))
		return resp, err
	}
}

func logStream(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		start := time.Now()
		err := h(srv, ss)
		log.InfoContext(ss.Context(), "rpc", "method", info.FullMethod, "elapsed", time.Since(start), "error", errString(err))
		return err
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
