package server

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func tlsListener(l net.Listener, cfg *tls.Config) net.Listener { return tls.NewListener(l, cfg) }

// errShuttingDown is what a call still running when the shutdown grace ran
// out ends with.
var errShuttingDown = status.Error(codes.Unavailable,
	"espprovd is shutting down and the shutdown grace (--shutdown-grace) ran out: the call was cancelled; check the device's state and retry on a running server")

// shutdownCtx derives a call context that is cancelled when the grace
// period runs out.
func (s *Server) shutdownCtx(ctx context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(s.hardCtx, cancel)
	return ctx, func() { stop(); cancel() }
}

func (s *Server) mapShutdown(err error) error {
	if err != nil && s.hardCtx.Err() != nil {
		return errShuttingDown
	}
	return err
}

func (s *Server) unaryShutdown() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		ctx, done := s.shutdownCtx(ctx)
		defer done()
		resp, err := h(ctx, req)
		return resp, s.mapShutdown(err)
	}
}

func (s *Server) streamShutdown() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		ctx, done := s.shutdownCtx(ss.Context())
		defer done()
		return s.mapShutdown(h(srv, &stream{ServerStream: ss, ctx: ctx}))
	}
}

type stream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *stream) Context() context.Context { return s.ctx }

// afterGrace bounds how long cancelled calls get to return their typed
// error before connections are closed under them.
const afterGrace = 3 * time.Second

// Shutdown stops accepting work (health turns NOT_SERVING, listeners
// close), lets running calls finish until ctx ends, then cancels the rest:
// they end with Unavailable "espprovd is shutting down…". It returns
// ctx.Err() when calls had to be cancelled.
func (s *Server) Shutdown(ctx context.Context) error {
	var err error
	s.stopOnce.Do(func() {
		s.health.Shutdown()
		var wg sync.WaitGroup
		for _, hs := range []*http.Server{s.http, s.metrics} {
			if hs != nil {
				wg.Add(1)
				go func() { defer wg.Done(); _ = hs.Shutdown(ctx) }()
			}
		}
		for _, gs := range []*grpc.Server{s.grpc, s.gwGRPC} {
			if gs != nil {
				wg.Add(1)
				go func() { defer wg.Done(); gs.GracefulStop() }()
			}
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			err = ctx.Err()
			s.hardCancel()
			select {
			case <-done:
			case <-time.After(afterGrace):
				for _, gs := range []*grpc.Server{s.grpc, s.gwGRPC} {
					if gs != nil {
						gs.Stop()
					}
				}
				for _, hs := range []*http.Server{s.http, s.metrics} {
					if hs != nil {
						_ = hs.Close()
					}
				}
				<-done
			}
		}
		if s.gwConn != nil {
			_ = s.gwConn.Close()
		}
		s.wg.Wait()
		s.hardCancel()
	})
	return err
}
