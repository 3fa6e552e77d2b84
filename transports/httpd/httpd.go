// Package httpd is the client side of the protocomm HTTP transport
// (esp_prov `--transport softap` / `httpd`, protocol.md §8.1).
//
// Every exchange is one `POST /<endpoint>` on a single persistent keep-alive
// TCP connection, the raw protocomm bytes in the body and in the reply. The
// device keys its security session on a cookie: the value of the last
// Set-Cookie header it sent is presented verbatim in a Cookie header on every
// later request, so the session survives a reconnect.
//
// Exchanges are at-most-once: a request whose reply was lost is never resent
// (a lost Security 1 reply desynchronises the cipher stream). Only a
// connection the device closed while it was idle is re-established
// transparently before the next request is sent.
package httpd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/espprov/espprov/internal/mdns"
	"github.com/espprov/espprov/internal/tcpopt"
	"github.com/espprov/espprov/transports"
)

const (
	// DefaultSoftAPAddress is the ESP-IDF default softAP address and the
	// port protocomm_httpd listens on.
	DefaultSoftAPAddress = "192.168.4.1:80"
	// DefaultExchangeTimeout bounds one exchange when Options leave it zero.
	DefaultExchangeTimeout = 10 * time.Second
	// MaxMessage is the largest request body the device accepts
	// (protocomm_httpd MAX_REQ_BODY_LEN).
	MaxMessage = 4096
	// ScanPageSize is how many scan results to ask for per prov-scan request.
	ScanPageSize = 100

	// maxResponse is a sanity bound on reply bodies (the device itself does
	// not bound its replies, e.g. a long scan result page).
	maxResponse = 1 << 20
	// idleProbe is how long the liveness probe of an idle connection waits
	// for a pending EOF before a request is sent.
	idleProbe = time.Millisecond
)

// Options configures a Transport. The zero value is usable.
type Options struct {
	// ExchangeTimeout bounds each exchange (connect, send, reply) on top of
	// the context deadline; the earlier of the two applies. Zero means
	// DefaultExchangeTimeout.
	ExchangeTimeout time.Duration
	// DialContext opens the TCP connection (e.g. to bind to a specific
	// interface). Nil means a net.Dialer that resolves ".local" names with
	// one-shot multicast DNS queries (internal/mdns) and other names with
	// the system resolver.
	DialContext func(ctx context.Context, network, address string) (net.Conn, error)
	// Logf, when set, receives connection events. Bodies are never logged.
	Logf func(format string, args ...any)
	// NoQuickAck leaves the kernel's delayed ACK alone. By default the
	// client acknowledges every segment at once (Linux TCP_QUICKACK,
	// re-armed after each read): a device that answers in two writes with
	// Nagle on (esp_http_server on lwIP) would otherwise hold the body of
	// every reply until the client's delayed ACK, ~40 ms a request.
	NoQuickAck bool
}

// Transport is a protocomm HTTP client bound to one device address.
type Transport struct {
	addr    string // host:port dialled
	host    string // Host header value
	timeout time.Duration
	dial    func(ctx context.Context, network, address string) (net.Conn, error)
	logf    func(format string, args ...any)
	quick   bool

	exMu   sync.Mutex // serialises exchanges
	cookie string     // last Set-Cookie value; guarded by exMu

	mu     sync.Mutex // guards conn, br, closed
	conn   net.Conn
	br     *bufio.Reader
	closed bool
}

var (
	_ transports.Transport = (*Transport)(nil)
	_ transports.Limits    = (*Transport)(nil)
)

// Dial resolves addr (host:port; "[::1]:80" for IPv6; a missing port means
// 80) and connects to it. A connection failure wraps transports.ErrUnreachable.
func Dial(ctx context.Context, addr string, opts Options) (*Transport, error) {
	addr, host, err := normalizeAddress(addr)
	if err != nil {
		return nil, err
	}
	t := &Transport{
		addr:    addr,
		host:    host,
		timeout: opts.ExchangeTimeout,
		dial:    opts.DialContext,
		logf:    opts.Logf,
		quick:   !opts.NoQuickAck,
	}
	if t.timeout <= 0 {
		t.timeout = DefaultExchangeTimeout
	}
	if t.dial == nil {
		t.dial = mdns.DialContext
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("httpd: connecting to %s: %w", addr, err)
	}
	deadline, _ := t.deadline(ctx)
	if _, _, err := t.connect(ctx, deadline); err != nil {
		return nil, err
	}
	return t, nil
}

// normalizeAddress returns the address to dial and the Host header value
// (the port is left out when it is 80, as Python http.client does).
func normalizeAddress(addr string) (dial, host string, err error) {
	if addr == "" {
		return "", "", errors.New("httpd: empty device address")
	}
	if !strings.Contains(addr, ":") || (strings.HasPrefix(addr, "[") && strings.HasSuffix(addr, "]")) {
		addr += ":80"
	}
	h, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", "", fmt.Errorf("httpd: invalid device address %q: %w", addr, err)
	}
	if h == "" {
		return "", "", fmt.Errorf("httpd: invalid device address %q: no host", addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return "", "", fmt.Errorf("httpd: invalid device address %q: bad port", addr)
	}
	dial = net.JoinHostPort(h, port)
	if port == "80" {
		host = h
		if strings.Contains(h, ":") {
			host = "[" + h + "]"
		}
	} else {
		host = dial
	}
	return dial, host, nil
}

// Address is the host:port this transport talks to.
func (t *Transport) Address() string { return t.addr }

// MaxMessage implements transports.Limits.
func (t *Transport) MaxMessage() int { return MaxMessage }

// ScanPageSize implements transports.Limits.
func (t *Transport) ScanPageSize() int { return ScanPageSize }

// Close closes the connection. It is idempotent and aborts an exchange in
// progress.
func (t *Transport) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	if t.conn != nil {
		t.conn.Close()
		t.conn, t.br = nil, nil
	}
	return nil
}

func (t *Transport) log(format string, args ...any) {
	if t.logf != nil {
		t.logf(format, args...)
	}
}

// deadline is min(ctx deadline, now+ExchangeTimeout); fromCtx reports
// whether the context's deadline is the binding one.
func (t *Transport) deadline(ctx context.Context) (d time.Time, fromCtx bool) {
	d = time.Now().Add(t.timeout)
	if cd, ok := ctx.Deadline(); ok && !cd.After(d) {
		return cd, true
	}
	return d, false
}

func (t *Transport) errClosedTransport() error {
	return fmt.Errorf("httpd: transport to %s is closed: %w", t.addr, net.ErrClosed)
}

// connect dials the device and installs the new connection.
func (t *Transport) connect(ctx context.Context, deadline time.Time) (net.Conn, *bufio.Reader, error) {
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	c, err := t.dial(dctx, "tcp", t.addr)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, nil, ctxError(fmt.Sprintf("httpd: connecting to %s", t.addr), cerr)
		}
		return nil, nil, &multiError{
			msg:  fmt.Sprintf("httpd: cannot reach device at %s: %s", t.addr, causeText(err)),
			errs: []error{transports.ErrUnreachable, err},
		}
	}
	if t.quick {
		c = tcpopt.WithQuickAck(c, true)
	}
	br := bufio.NewReader(c)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		c.Close()
		return nil, nil, t.errClosedTransport()
	}
	if t.conn != nil {
		t.conn.Close()
	}
	t.conn, t.br = c, br
	return c, br, nil
}

// drop closes c if it is still the current connection.
func (t *Transport) drop(c net.Conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.conn == c {
		t.conn, t.br = nil, nil
	}
	c.Close()
}

// idleAlive reports whether an idle connection is still usable: the device
// has not closed it (esp_http_server closes the socket after an error reply,
// and evicts the least recently used socket for a new client) and sent
// nothing unsolicited.
func idleAlive(c net.Conn, br *bufio.Reader) bool {
	if br.Buffered() > 0 {
		return false
	}
	if alive, ok := peekClosed(c); ok {
		return alive
	}
	if err := c.SetReadDeadline(time.Now().Add(idleProbe)); err != nil {
		return false
	}
	_, err := br.Peek(1)
	if err == nil {
		return false // unsolicited bytes: stream out of step
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// ready returns a usable connection, re-establishing one the device closed
// while idle. Nothing has been sent when it fails.
func (t *Transport) ready(ctx context.Context, deadline time.Time) (net.Conn, *bufio.Reader, error) {
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return nil, nil, t.errClosedTransport()
	}
	c, br := t.conn, t.br
	t.mu.Unlock()
	if c != nil {
		if idleAlive(c, br) {
			return c, br, nil
		}
		t.log("httpd: connection to %s was closed by the device while idle; reconnecting", t.addr)
		t.drop(c)
	}
	return t.connect(ctx, deadline)
}

// validEndpoint accepts names that can be put verbatim in a request path.
func validEndpoint(ep string) bool {
	if ep == "" || ep[0] == '/' {
		return false
	}
	for i := 0; i < len(ep); i++ {
		ch := ep[i]
		switch {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9':
		case strings.IndexByte("-._~/!$&'()*+,;=:@", ch) >= 0:
		default:
			return false
		}
	}
	return true
}

// buildRequest renders the request exactly as it goes on the wire.
func (t *Transport) buildRequest(endpoint string, body []byte) []byte {
	var b bytes.Buffer
	b.Grow(256 + len(body))
	b.WriteString("POST /")
	b.WriteString(endpoint)
	b.WriteString(" HTTP/1.1\r\nHost: ")
	b.WriteString(t.host)
	b.WriteString("\r\nContent-Type: application/x-www-form-urlencoded\r\nAccept: text/plain\r\nContent-Length: ")
	b.WriteString(strconv.Itoa(len(body)))
	b.WriteString("\r\n")
	if t.cookie != "" {
		b.WriteString("Cookie: ")
		b.WriteString(t.cookie)
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	b.Write(body)
	return b.Bytes()
}

// Exchange sends request to /endpoint and returns the reply body.
func (t *Transport) Exchange(ctx context.Context, endpoint string, request []byte) ([]byte, error) {
	if n := len(request); n < 1 || n > MaxMessage {
		return nil, fmt.Errorf("httpd: request to /%s is %d bytes, the device accepts 1..%d: %w",
			endpoint, n, MaxMessage, transports.ErrTooLarge)
	}
	if !validEndpoint(endpoint) {
		return nil, fmt.Errorf("httpd: invalid endpoint name %q: %w", endpoint, transports.ErrNoEndpoint)
	}
	t.exMu.Lock()
	defer t.exMu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, ctxError(fmt.Sprintf("httpd: POST /%s", endpoint), err)
	}
	deadline, ctxBound := t.deadline(ctx)
	c, br, err := t.ready(ctx, deadline)
	if err != nil {
		return nil, err
	}
	if err := c.SetDeadline(deadline); err != nil {
		t.drop(c)
		return nil, t.ioError(ctx, endpoint, err, ctxBound)
	}
	// Cancellation aborts blocked socket calls by expiring the deadline.
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		c.SetDeadline(time.Unix(1, 0))
		close(fired)
	})
	defer func() {
		if !stop() {
			<-fired
		}
	}()

	if _, err := c.Write(t.buildRequest(endpoint, request)); err != nil {
		t.drop(c)
		return nil, t.ioError(ctx, endpoint, err, ctxBound)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.drop(c)
		return nil, t.ioError(ctx, endpoint, err, ctxBound)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	resp.Body.Close()
	if err != nil {
		t.drop(c)
		return nil, t.ioError(ctx, endpoint, err, ctxBound)
	}
	// esp_prov copies any Set-Cookie value verbatim, whatever the status.
	if v := resp.Header.Values("Set-Cookie"); len(v) > 0 {
		t.cookie = v[len(v)-1]
	}
	keep := resp.StatusCode == http.StatusOK && !resp.Close &&
		(resp.ContentLength >= 0 || len(resp.TransferEncoding) > 0)
	if !keep {
		// esp_http_server closes the socket after an error reply.
		t.drop(c)
	} else {
		c.SetDeadline(time.Time{})
	}
	switch {
	case len(body) > maxResponse:
		return nil, fmt.Errorf("httpd: POST /%s: reply larger than %d bytes: %w", endpoint, maxResponse, transports.ErrProtocol)
	case resp.StatusCode == http.StatusOK:
		return body, nil
	case resp.StatusCode == http.StatusNotFound:
		return nil, fmt.Errorf("httpd: POST /%s: device answered HTTP 404: %w", endpoint, transports.ErrNoEndpoint)
	default:
		return nil, fmt.Errorf("httpd: POST /%s: device answered HTTP %d: %w", endpoint, resp.StatusCode, transports.ErrProtocol)
	}
}

// ioError classifies a failure after the request may have been sent.
func (t *Transport) ioError(ctx context.Context, endpoint string, err error, ctxBound bool) error {
	prefix := "httpd: POST /" + endpoint
	t.mu.Lock()
	closed := t.closed
	t.mu.Unlock()
	if closed {
		return fmt.Errorf("%s: %w", prefix, t.errClosedTransport())
	}
	if cerr := ctx.Err(); cerr != nil {
		return ctxError(prefix, cerr)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		if ctxBound {
			// The socket deadline was the context's; its timer may lag.
			return &multiError{
				msg:  fmt.Sprintf("%s: %v: %v", prefix, transports.ErrTimeout, context.DeadlineExceeded),
				errs: []error{transports.ErrTimeout, context.DeadlineExceeded},
			}
		}
		return fmt.Errorf("%s: no reply within %v: %w", prefix, t.timeout, transports.ErrTimeout)
	}
	var opErr *net.OpError
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, net.ErrClosed) ||
		errors.As(err, &opErr) {
		return &multiError{
			msg:  fmt.Sprintf("%s: %v (%s)", prefix, transports.ErrClosed, causeText(err)),
			errs: []error{transports.ErrClosed, err},
		}
	}
	return &multiError{
		msg:  fmt.Sprintf("%s: malformed reply: %s", prefix, err),
		errs: []error{transports.ErrProtocol, err},
	}
}

// ctxError reports a cancelled or expired context; an expired deadline also
// counts as a transport timeout.
func ctxError(prefix string, cerr error) error {
	if errors.Is(cerr, context.DeadlineExceeded) {
		return &multiError{
			msg:  fmt.Sprintf("%s: %v: %v", prefix, transports.ErrTimeout, cerr),
			errs: []error{transports.ErrTimeout, cerr},
		}
	}
	return fmt.Errorf("%s: %w", prefix, cerr)
}

// causeText strips the "dial tcp a->b: connect:" decoration of a network
// error down to its cause ("connection refused").
func causeText(err error) string {
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Err != nil {
		err = opErr.Err
	}
	var sysErr *os.SyscallError
	if errors.As(err, &sysErr) && sysErr.Err != nil {
		err = sysErr.Err
	}
	return err.Error()
}

// multiError wraps several errors (sentinel and cause) with its own text.
type multiError struct {
	msg  string
	errs []error
}

func (e *multiError) Error() string   { return e.msg }
func (e *multiError) Unwrap() []error { return e.errs }
