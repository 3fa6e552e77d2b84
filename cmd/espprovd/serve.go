package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/espprov/espprov/internal/rainmaker"
	"github.com/espprov/espprov/internal/server"
	"github.com/espprov/espprov/internal/server/auth"
	"github.com/espprov/espprov/internal/server/logging"
	"github.com/espprov/espprov/internal/server/metrics"
	"github.com/espprov/espprov/internal/station"
	"github.com/espprov/espprov/internal/version"
	"github.com/espprov/espprov/services/jobs"
	"github.com/espprov/espprov/services/profiles"
	"github.com/espprov/espprov/services/provisioning"
)

func serve(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	s := newSettings("espprovd", stderr)
	if err := s.parse(args, getenv); err != nil {
		return err
	}
	if s.version {
		fmt.Fprintln(stdout, version.Line("espprovd"))
		return nil
	}
	level := s.logLevel
	if s.demo && !s.isSet("log-level") {
		level = "warn" // keep the demo's output to its progress
	}
	log, err := logging.New(stderr, s.logFormat, level)
	if err != nil {
		return usageError{err}
	}
	if s.demo {
		return runDemo(ctx, stdout, log)
	}
	guard, tlsFiles, err := s.security(log)
	if err != nil {
		return err
	}
	rm, err := rainmaker.LoadConfig(s.rainmakerEnv(getenv))
	if err != nil {
		return usageError{fmt.Errorf("RainMaker configuration: %w", err)}
	}
	if !rm.Credentials.IsZero() {
		log.Info("RainMaker mapping enabled", "cloud", rm.BaseURL, "account", rm.Credentials)
	}
	if s.pprofListen != "" {
		pctx, stopPprof := context.WithCancel(ctx)
		defer stopPprof()
		if _, err := startPprof(pctx, s.pprofListen, log); err != nil {
			return err
		}
	}
	profs, err := profiles.Load(s.profiles)
	if err != nil {
		return usageError{err}
	}
	if s.profiles != "" {
		log.Info("station profiles loaded", "file", s.profiles, "profiles", profs.Len())
	}
	met := metrics.New()
	modules, err := s.modules()
	if err != nil {
		return err
	}
	svc := provisioning.New(provisioning.Config{Modules: modules, Logger: log, Profiles: profs,
		Cloud: provisioning.CloudConfig{Server: rm, Client: rainmaker.Config{Logger: log,
			HTTPClient: &http.Client{Transport: met.CloudTransport(nil)}},
			Clouds: s.clouds, AllowHTTP: s.cloudAllowHTTP, RefuseCustomURLs: s.cloudRefuseURLs}})
	s.jobs.limits = s.bleJobLimits()
	jobsrv, closeJobs, err := startJobs(ctx, s.jobs, svc, log, met)
	if err != nil {
		return err
	}
	httpOpts, grpcLimits := s.limits()
	srv, err := server.Start(ctx, server.Options{HTTP: httpOpts, GRPC: grpcLimits,
		GRPCListen: s.grpcListen, HTTPListen: s.httpListen, Service: jobsrv, Logger: log,
		Guard: guard, TLS: tlsFiles, Metrics: met, MetricsListen: s.metricsListen, MetricsOpen: s.metricsOpen,
		GatewayRoutes: jobs.GatewayRoutes,
		UI:            station.Handler(), UIPrefix: station.Prefix,
	})
	if err != nil {
		closeJobs(context.Background())
		return err
	}
	log.Info("espprovd serving", "version", version.Get().Version, "grpc", srv.GRPCAddr(), "http", srv.HTTPAddr(),
		"metrics", metricsWhere(srv, s), "tls", tlsFiles != nil, "auth", authMode(guard, tlsFiles))

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-hup:
			reload(log, guard, tlsFiles, profs)
		}
	}
	log.Info("shutting down: no new calls; running calls may finish", "grace", s.shutdownGrace)
	sctx, cancel := context.WithTimeout(context.Background(), s.shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("shutdown grace ran out: remaining calls were cancelled", "grace", s.shutdownGrace)
	}
	closeJobs(sctx)
	log.Info("espprovd stopped")
	return nil
}

// security checks the listen addresses against the authentication
// configured and loads tokens and certificates.
func (s *settings) security(log *slog.Logger) (*auth.Guard, *server.TLSFiles, error) {
	if (s.tlsCert == "") != (s.tlsKey == "") {
		return nil, nil, usageError{errors.New("--tls-cert and --tls-key go together")}
	}
	if s.tlsClientCA != "" && s.tlsCert == "" {
		return nil, nil, usageError{errors.New("--tls-client-ca needs server TLS: pass --tls-cert and --tls-key")}
	}
	if s.tlsClientCA != "" && s.authTokens == "" {
		return nil, nil, usageError{errors.New("--tls-client-ca needs --auth-tokens: certificate subjects get their scopes from the tokens file")}
	}
	var tlsFiles *server.TLSFiles
	if s.tlsCert != "" {
		var err error
		if tlsFiles, err = server.NewTLSFiles(s.tlsCert, s.tlsKey, s.tlsClientCA); err != nil {
			return nil, nil, usageError{err}
		}
	}
	var guard *auth.Guard
	if s.authTokens != "" {
		a, err := auth.NewAuthenticator(s.authTokens)
		if err != nil {
			return nil, nil, usageError{err}
		}
		guard = &auth.Guard{Auth: a, TLSClientAuth: s.tlsClientCA != ""}
		if n, c := a.Counts(); n == 0 && c == 0 {
			log.Warn("the tokens file has no tokens or certificates: every call will be refused; add one with `espprovd token create`", "file", s.authTokens)
		}
	}
	exposed := s.exposed()
	switch {
	case guard == nil && len(exposed) > 0 && !s.insecureNoAuth:
		return nil, nil, usageError{fmt.Errorf("refusing to listen on %s without authentication: "+
			"pass --auth-tokens FILE (create a token with `espprovd token create --file FILE --name NAME --scopes provision,map`), "+
			"or listen on loopback (127.0.0.1), or accept unauthenticated calls from the network with --insecure-no-auth", exposed[0])}
	case guard == nil && len(exposed) > 0:
		log.Warn("INSECURE: --insecure-no-auth: listening on non-loopback addresses without authentication; anyone who can connect may provision and map devices", "addresses", exposed)
	case guard == nil && s.insecureNoAuth:
		log.Warn("--insecure-no-auth given: calls are not authenticated")
	case guard != nil && tlsFiles == nil && len(exposed) > 0:
		log.Warn("bearer tokens travel in plaintext on non-loopback addresses: configure --tls-cert and --tls-key", "addresses", exposed)
	}
	return guard, tlsFiles, nil
}

// exposed lists the listen addresses that are not loopback-only.
func (s *settings) exposed() []string {
	var out []string
	for _, a := range []string{s.grpcListen, s.httpListen, s.metricsListen} {
		if a != "" && !loopbackOnly(a) {
			out = append(out, a)
		}
	}
	return out
}

// loopbackOnly: "127.0.0.1:x", "[::1]:x", "localhost:x". An empty host
// ("":x, 0.0.0.0, ::) or any other name is not.
func loopbackOnly(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func reload(log *slog.Logger, guard *auth.Guard, tlsFiles *server.TLSFiles, profs *profiles.Set) {
	log.Info("SIGHUP: reloading tokens, TLS and profiles files")
	if profs.Path() != "" {
		if err := profs.Reload(); err != nil {
			log.Error("profiles file not reloaded; the previous profiles stay in force", "error", err)
		} else {
			log.Info("profiles file reloaded", "file", profs.Path(), "profiles", profs.Len())
		}
	}
	if guard.Enabled() {
		if err := guard.Auth.Reload(); err != nil {
			log.Error("tokens file not reloaded; the previous one stays in force", "error", err)
		} else {
			n, c := guard.Auth.Counts()
			log.Info("tokens file reloaded", "file", guard.Auth.Path(), "tokens", n, "certificates", c)
		}
	}
	if tlsFiles != nil {
		if err := tlsFiles.Reload(); err != nil {
			log.Error("TLS files not reloaded; the previous ones stay in use", "error", err)
		} else {
			log.Info("TLS certificate reloaded", "subject", tlsFiles.Leaf().Subject.String(), "not_after", tlsFiles.Leaf().NotAfter)
		}
	}
}

func authMode(g *auth.Guard, t *server.TLSFiles) string {
	switch {
	case !g.Enabled():
		return "none"
	case t != nil && t.ClientCAFile != "":
		return "tokens+client-certificates"
	default:
		return "tokens"
	}
}

func metricsWhere(srv *server.Server, s *settings) string {
	if a := srv.MetricsAddr(); a != "" {
		return a + "/metrics"
	}
	if srv.HTTPAddr() != "" {
		return srv.HTTPAddr() + "/metrics"
	}
	return "off"
}
