package onnetwork

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/espprov/espprov/transports"
	"github.com/espprov/espprov/transports/httpd"
)

// HTTP endpoints of the on-network service (rainmaker.md §3.1–§3.4). Both
// device variants serve them with protocomm_httpd framing and cookie session
// rules (protocol.md §8.1); ch_resp has no esp_local_ctrl/ prefix.
const (
	EndpointVersion  = "esp_local_ctrl/version"
	EndpointSession  = "esp_local_ctrl/session"
	EndpointChalResp = "ch_resp"
	// EndpointControl is the Local Control variant's property endpoint.
	EndpointControl = "esp_local_ctrl/control"

	// Provisioning endpoint names the session layer uses, translated by
	// EndpointPath.
	provSession = "prov-session"
	protoVer    = "proto-ver"
)

// EndpointPath maps a protocomm endpoint name to the HTTP path the
// on-network service serves it on:
//
//	prov-session            -> /esp_local_ctrl/session
//	proto-ver               -> /esp_local_ctrl/version
//	esp_local_ctrl/session  -> /esp_local_ctrl/session
//	esp_local_ctrl/version  -> /esp_local_ctrl/version
//	ch_resp                 -> /ch_resp
//	anything else (e.g. esp_local_ctrl/control) -> /<name>
//
// so the generic session layer (which speaks prov-session and proto-ver) runs
// unchanged over this transport. Note that the version reply is not the
// provisioning proto-ver JSON: use ParseVersion.
func EndpointPath(endpoint string) string {
	switch endpoint {
	case provSession:
		return "/" + EndpointSession
	case protoVer:
		return "/" + EndpointVersion
	}
	return "/" + strings.TrimPrefix(endpoint, "/")
}

// Options configures Open.
type Options struct {
	// ExchangeTimeout bounds each exchange (default
	// httpd.DefaultExchangeTimeout).
	ExchangeTimeout time.Duration
	// Logf receives connection events (never message bodies).
	Logf func(format string, args ...any)
}

// Transport talks to one on-network device. It implements
// transports.Transport and transports.Limits.
type Transport struct {
	http *httpd.Transport
}

var (
	_ transports.Transport = (*Transport)(nil)
	_ transports.Limits    = (*Transport)(nil)
)

// Open connects to addr ("ip:port", "[ipv6]:port" or "host:port", as
// returned by Resolve). A connection failure wraps transports.ErrUnreachable.
func Open(ctx context.Context, addr string, opts Options) (*Transport, error) {
	h, err := httpd.Dial(ctx, addr, httpd.Options{ExchangeTimeout: opts.ExchangeTimeout, Logf: opts.Logf})
	if err != nil {
		return nil, fmt.Errorf("onnetwork: %w", err)
	}
	return &Transport{http: h}, nil
}

// Exchange sends request to the HTTP path of endpoint (see EndpointPath) and
// returns the reply.
func (t *Transport) Exchange(ctx context.Context, endpoint string, request []byte) ([]byte, error) {
	resp, err := t.http.Exchange(ctx, strings.TrimPrefix(EndpointPath(endpoint), "/"), request)
	if err != nil {
		return nil, fmt.Errorf("onnetwork: %w", err)
	}
	return resp, nil
}

// Version queries esp_local_ctrl/version (sending "---" like the session
// layer's proto-ver probe) and parses the reply.
func (t *Transport) Version(ctx context.Context) (VersionInfo, error) {
	resp, err := t.Exchange(ctx, EndpointVersion, []byte("---"))
	if err != nil {
		return VersionInfo{Raw: "", SecVer: -1, SecPatchVer: -1}, err
	}
	return ParseVersion(resp)
}

// Address is the host:port this transport talks to.
func (t *Transport) Address() string { return t.http.Address() }

// MaxMessage implements transports.Limits (protocomm_httpd accepts request
// bodies of 1..4096 bytes).
func (t *Transport) MaxMessage() int { return t.http.MaxMessage() }

// ScanPageSize implements transports.Limits. The on-network service has no
// Wi-Fi scan endpoint; the value is that of the HTTP transport.
func (t *Transport) ScanPageSize() int { return t.http.ScanPageSize() }

// Close closes the connection.
func (t *Transport) Close() error { return t.http.Close() }
