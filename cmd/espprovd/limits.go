package main

import (
	"flag"
	"strings"

	"github.com/espprov/espprov/internal/server"
)

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(s string) error {
	*l = append(*l, s)
	return nil
}

// limitFlags registers the REST gateway's and gRPC's security limits;
// the returned function reads them after parsing.
func limitFlags(fs *flag.FlagSet) func() (server.HTTPOptions, server.GRPCLimits) {
	var origins, hosts listFlag
	fs.Var(&origins, "http-allowed-origin", "a browser `ORIGIN` (scheme://host[:port]) whose pages may call the REST API cross-site (repeatable; default none)")
	fs.Var(&hosts, "http-allowed-host", "a host `NAME` clients use in the Host header besides the listen address (repeatable; e.g. the name of a reverse proxy)")
	maxBody := fs.Int64("http-max-body", server.DefaultMaxBodyBytes, "largest REST request body in `BYTES` (413 beyond)")
	maxConns := fs.Int("http-max-conns", server.DefaultMaxConns, "most open REST connections")
	hdrTimeout := fs.Duration("http-header-timeout", server.DefaultReadHeaderTimeout, "time allowed to send the request headers")
	bodyTimeout := fs.Duration("http-body-timeout", server.DefaultBodyReadTimeout, "time allowed to send a request body (responses may stream longer)")
	idle := fs.Duration("http-idle-timeout", server.DefaultIdleTimeout, "idle keep-alive connections are closed after this")
	grpcMax := fs.Int("grpc-max-recv", server.DefaultGRPCMaxRecvBytes, "largest gRPC request message in `BYTES`")
	return func() (server.HTTPOptions, server.GRPCLimits) {
		return server.HTTPOptions{AllowedOrigins: origins, AllowedHosts: hosts, MaxBodyBytes: *maxBody, MaxConns: *maxConns,
				ReadHeaderTimeout: *hdrTimeout, BodyReadTimeout: *bodyTimeout, IdleTimeout: *idle},
			server.GRPCLimits{MaxRecvMsgBytes: *grpcMax}
	}
}
