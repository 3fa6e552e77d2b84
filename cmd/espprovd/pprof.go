package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// startPprof serves the Go profiler (net/http/pprof) on addr, which must be
// a loopback address: profiles reveal memory contents and cost CPU, so they
// are never offered to the network (reach them with an SSH tunnel). The
// listener carries nothing else. It stops when ctx ends.
func startPprof(ctx context.Context, addr string, log *slog.Logger) (net.Addr, error) {
	if !loopbackOnly(addr) {
		return nil, usageError{fmt.Errorf("--pprof-listen %q: the profiler is served on loopback only (127.0.0.1:PORT, [::1]:PORT or localhost:PORT)", addr)}
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--pprof-listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("pprof listener stopped", "error", err)
		}
	}()
	context.AfterFunc(ctx, func() { _ = srv.Close() })
	log.Info("profiler on loopback", "address", l.Addr().String())
	return l.Addr(), nil
}
