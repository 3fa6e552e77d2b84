package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
)

// HTTPOptions harden the REST gateway. Zero fields take the Default*
// values. Each field is one configuration key (see README, "Security").
type HTTPOptions struct {
	// AllowedOrigins are the browser origins ("https://mes.example:8443",
	// scheme://host[:port], compared exactly) whose pages may call the REST
	// API cross-site. Default: none; a page served from the gateway's own
	// origin and non-browser clients (no Origin header) are always allowed.
	AllowedOrigins []string
	// AllowedHosts are host names (without port) accepted in the Host
	// header besides the listen address (any IP literal when listening on
	// all interfaces, localhost when on loopback). A name a browser would
	// send and that is not listed is refused (DNS rebinding).
	AllowedHosts []string
	// MaxBodyBytes caps a request body; larger bodies are refused with 413
	// before more is read.
	MaxBodyBytes int64
	// MaxHeaderBytes caps the request line and headers (431 beyond).
	MaxHeaderBytes int
	// ReadHeaderTimeout bounds reading the request line and headers.
	ReadHeaderTimeout time.Duration
	// BodyReadTimeout bounds reading a request body (408 beyond). It does
	// not limit the response: a streaming response stays open as long as
	// its call runs.
	BodyReadTimeout time.Duration
	// IdleTimeout closes a keep-alive connection with no request.
	IdleTimeout time.Duration
	// MaxConns bounds the open connections; further clients wait in the
	// listen backlog until one closes.
	MaxConns int
}

// Defaults for HTTPOptions and GRPCLimits.
const (
	DefaultMaxBodyBytes       = 1 << 20
	DefaultMaxHeaderBytes     = 64 << 10
	DefaultReadHeaderTimeout  = 10 * time.Second
	DefaultBodyReadTimeout    = 30 * time.Second
	DefaultIdleTimeout        = 2 * time.Minute
	DefaultMaxConns           = 256
	DefaultGRPCMaxRecvBytes   = 1 << 20
	DefaultGRPCMaxHeaderBytes = 64 << 10
)

func (o HTTPOptions) withDefaults() HTTPOptions {
	orDefault(&o.MaxBodyBytes, DefaultMaxBodyBytes)
	orDefault(&o.MaxHeaderBytes, DefaultMaxHeaderBytes)
	orDefault(&o.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	orDefault(&o.BodyReadTimeout, DefaultBodyReadTimeout)
	orDefault(&o.IdleTimeout, DefaultIdleTimeout)
	orDefault(&o.MaxConns, DefaultMaxConns)
	return o
}

// orDefault sets *v to d when it is zero or negative.
func orDefault[T int | int64 | uint32 | time.Duration](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}

// httpServer is the gateway's http.Server with the timeouts of o. There is
// deliberately no ReadTimeout or WriteTimeout: they would cut streaming
// responses; bodies are bounded by the guard instead.
func (o HTTPOptions) httpServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: o.ReadHeaderTimeout, IdleTimeout: o.IdleTimeout, MaxHeaderBytes: o.MaxHeaderBytes}
}

// guard checks every REST request before the gateway sees it: Host,
// Origin, method, Content-Type and body size, in that order.
type guard struct {
	o       HTTPOptions
	routes  *routes
	origins map[string]bool
	hosts   map[string]bool
	listen  net.IP // nil or unspecified: any IP literal
}

func newGuard(o HTTPOptions, listen net.Addr, rt *routes) *guard {
	g := &guard{o: o.withDefaults(), routes: rt, origins: map[string]bool{}, hosts: map[string]bool{}}
	for _, or := range o.AllowedOrigins {
		g.origins[normOrigin(or)] = true
	}
	for _, h := range o.AllowedHosts {
		g.hosts[strings.ToLower(strings.TrimSuffix(h, "."))] = true
	}
	if ta, ok := listen.(*net.TCPAddr); ok {
		g.listen = ta.IP
	}
	return g
}

func normOrigin(s string) string {
	return strings.ToLower(strings.TrimRight(strings.TrimSpace(s), "/"))
}

// hostAllowed implements the Host check.
func (g *guard) hostAllowed(hostport string) bool {
	if hostport == "" {
		return true // HTTP/1.0 without Host: no browser sends that
	}
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if g.hosts[host] {
		return true
	}
	ip := net.ParseIP(host)
	switch {
	case g.listen == nil || g.listen.IsUnspecified():
		return ip != nil || host == "localhost"
	case g.listen.IsLoopback():
		return host == "localhost" || (ip != nil && ip.IsLoopback())
	}
	return ip != nil && ip.Equal(g.listen)
}

// originAllowed: no Origin (not a browser, or a same-origin GET), the
// gateway's own origin, or a configured one. cross tells whether CORS
// headers are needed.
func (g *guard) originAllowed(r *http.Request) (ok, cross bool) {
	origin := r.Header.Get("Origin")
	if origin == "" {
		// A browser that sends no Origin on an unsafe method still says
		// where the request comes from.
		site := r.Header.Get("Sec-Fetch-Site")
		return !unsafeMethod(r.Method) || site == "" || site == "same-origin" || site == "none", false
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if normOrigin(origin) == strings.ToLower(scheme+"://"+r.Host) {
		return true, false
	}
	return g.origins[normOrigin(origin)], true
}

func unsafeMethod(m string) bool {
	return m != http.MethodGet && m != http.MethodHead && m != http.MethodOptions
}

func hasBody(m string) bool {
	return m == http.MethodPost || m == http.MethodPut || m == http.MethodPatch
}

func (g *guard) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	allowed := g.routes.allowed(r.URL.Path)
	w.Header().Set("Allow", strings.Join(allowed, ", "))
	writeError(w, http.StatusMethodNotAllowed, codes.Unimplemented,
		fmt.Sprintf("%s is not allowed on %s; allowed: %s", r.Method, r.URL.Path, strings.Join(allowed, ", ")))
}

// wrap returns h behind the guard.
func (g *guard) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.hostAllowed(r.Host) {
			writeError(w, http.StatusForbidden, codes.PermissionDenied,
				fmt.Sprintf("Host %q is not a name of this server; add it to the allowed hosts (espprovd --http-allowed-host) if clients use it", r.Host))
			return
		}
		ok, cross := g.originAllowed(r)
		if !ok {
			writeError(w, http.StatusForbidden, codes.PermissionDenied,
				"cross-site request refused: the origin is not allowed to call this API (espprovd --http-allowed-origin adds one)")
			return
		}
		if cross {
			w.Header().Set("Access-Control-Allow-Origin", r.Header.Get("Origin"))
			w.Header().Add("Vary", "Origin")
		}
		allowed := g.routes.allowed(r.URL.Path)
		if r.Method == http.MethodOptions {
			g.options(w, r, allowed, cross)
			return
		}
		if allowed != nil && !slices.Contains(allowed, r.Method) {
			g.methodNotAllowed(w, r)
			return
		}
		if hasBody(r.Method) {
			if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
				writeError(w, http.StatusUnsupportedMediaType, codes.InvalidArgument,
					fmt.Sprintf("REST calls need Content-Type: application/json (got %q)", r.Header.Get("Content-Type")))
				return
			}
			if !g.readBody(w, r) {
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// options answers OPTIONS: a CORS preflight for an allowed origin, or the
// Allow list.
func (g *guard) options(w http.ResponseWriter, r *http.Request, allowed []string, cross bool) {
	if allowed == nil {
		writeError(w, http.StatusNotFound, codes.NotFound, "no REST method at "+r.URL.Path+" (see /openapi.json)")
		return
	}
	w.Header().Set("Allow", strings.Join(allowed, ", "))
	if cross {
		w.Header().Set("Access-Control-Allow-Methods", strings.Join(allowed, ", "))
		if h := r.Header.Get("Access-Control-Request-Headers"); h != "" {
			w.Header().Set("Access-Control-Allow-Headers", h)
		}
		w.Header().Set("Access-Control-Max-Age", "600")
	}
	w.WriteHeader(http.StatusNoContent)
}

// readBody reads the whole body within the limits and puts it back on r;
// false when it has answered with an error.
func (g *guard) readBody(w http.ResponseWriter, r *http.Request) bool {
	if r.ContentLength > g.o.MaxBodyBytes {
		w.Header().Set("Connection", "close")
		writeError(w, http.StatusRequestEntityTooLarge, codes.ResourceExhausted,
			fmt.Sprintf("request body of %d bytes exceeds the limit of %d bytes", r.ContentLength, g.o.MaxBodyBytes))
		return false
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(g.o.BodyReadTimeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, g.o.MaxBodyBytes))
	if err == nil {
		_ = rc.SetReadDeadline(time.Time{}) // the response may stream for long
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeError(w, http.StatusRequestEntityTooLarge, codes.ResourceExhausted,
			fmt.Sprintf("request body exceeds the limit of %d bytes", g.o.MaxBodyBytes))
		return false
	case errors.Is(err, os.ErrDeadlineExceeded):
		w.Header().Set("Connection", "close")
		writeError(w, http.StatusRequestTimeout, codes.DeadlineExceeded,
			fmt.Sprintf("request body not received within %s", g.o.BodyReadTimeout))
		return false
	case err != nil:
		w.Header().Set("Connection", "close")
		writeError(w, http.StatusBadRequest, codes.InvalidArgument, "reading the request body: "+err.Error())
		return false
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	return true
}
