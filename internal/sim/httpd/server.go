// Package simhttpd is the device side of the protocomm HTTP transport: it
// emulates esp_http_server configured by protocomm_httpd (protocol.md §8.1)
// in front of a simulated device's Protocomm.
//
// Emulated behaviour:
//   - one open socket (max_open_sockets = 1) with LRU purge: a new
//     connection evicts the least recently used one;
//   - requests are processed one at a time, like the single httpd task;
//   - only POST /<endpoint> for registered endpoints; an unknown path gets
//     the default 404 reply, a registered path with another method the
//     default 405 reply, and the socket is then closed;
//   - Content-Length must be 1..4096 (0, missing, chunked or larger: the
//     socket is closed without a reply), any Protocomm failure closes the
//     socket without a reply;
//   - cookie sessions exactly as protocomm_httpd: see Server.
package simhttpd

import (
	"bufio"
	"bytes"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/espprov/espprov/internal/sim/device"
	"github.com/espprov/espprov/internal/tcpopt"
)

// Fault selects a misbehaviour for one request (tests of clients).
type Fault int

const (
	// FaultNone: behave like the firmware.
	FaultNone Fault = iota
	// FaultStall: read the request, never pass it to Protocomm and never
	// answer; the socket stays open until the client closes it, a new
	// connection evicts it, or the server is closed. Other connections are
	// still served.
	FaultStall
	// FaultClose: read the request and close the socket without a reply;
	// Protocomm never sees the request.
	FaultClose
	// FaultGarbage: answer 200 with a random body instead of passing the
	// request to Protocomm.
	FaultGarbage
	// FaultDropReply: pass the request to Protocomm, then close the socket
	// without sending its reply (a reply lost after the device acted).
	FaultDropReply
	// FaultMalformed: answer bytes that are not an HTTP response, then close.
	FaultMalformed
)

func (f Fault) String() string {
	switch f {
	case FaultNone:
		return "none"
	case FaultStall:
		return "stall"
	case FaultClose:
		return "close"
	case FaultGarbage:
		return "garbage"
	case FaultDropReply:
		return "drop-reply"
	case FaultMalformed:
		return "malformed"
	}
	return "fault(" + strconv.Itoa(int(f)) + ")"
}

const (
	// MaxRequestBody is protocomm_httpd's MAX_REQ_BODY_LEN.
	MaxRequestBody = 4096
	// MaxCookieLen is the longest Cookie header value protocomm_httpd reads
	// (a 20-byte buffer); a longer value counts as no cookie.
	MaxCookieLen = 19
	// DefaultRecvTimeout is esp_http_server's recv_wait_timeout (5 s), which
	// bounds the reading of one request once it has started.
	DefaultRecvTimeout = 5 * time.Second
	// DefaultSendTimeout is esp_http_server's send_wait_timeout (5 s).
	DefaultSendTimeout = 5 * time.Second
	// MaxOpenSockets is protocomm_httpd's max_open_sockets.
	MaxOpenSockets = 1

	// noSession is PROTOCOMM_NO_SESSION_ID.
	noSession = math.MaxUint32
	// maxHeaderBytes bounds the request head (esp_http_server answers 431
	// past its much smaller scratch buffer).
	maxHeaderBytes = 8192
	// maxURILen is CONFIG_HTTPD_MAX_URI_LEN (default 512).
	maxURILen = 512
)

// ErrServerClosed is returned by Serve after Close.
var ErrServerClosed = errors.New("simhttpd: server closed")

// Options configures a Server. The zero value is usable.
type Options struct {
	// Fault, when set, is consulted for every request that reached the
	// protocomm handler (registered endpoint, POST, body 1..4096 bytes).
	// request must not be retained.
	Fault func(endpoint string, request []byte) Fault
	// Logf, when set, receives one line per event. Bodies are never logged.
	Logf func(format string, args ...any)
	// SessionID draws new session ids; nil means crypto/rand like
	// esp_random().
	SessionID func() uint32
	// RecvTimeout bounds the reading of one started request; zero means
	// DefaultRecvTimeout.
	RecvTimeout time.Duration
	// Nagle sends like esp_http_server on lwIP: Nagle's algorithm on, each
	// reply in two writes (headers, then body: the body leaves only when
	// the headers are acknowledged), and ACKs delayed rather than sent at
	// once (lwIP delays them up to 250 ms; the simulation gets Linux's
	// delayed ACK, 40 ms or more). The default sends each reply in one
	// write with Nagle off, the fastest a client can see.
	Nagle bool
}

// Server is a simulated esp_http_server + protocomm_httpd.
//
// Session rules (protocomm_httpd): for each POST to a registered endpoint,
//  1. if a Cookie header is present and at most 19 characters long, the
//     request continues the current session iff the value is exactly
//     "session=<current id>"; a match also disables the socket rule below;
//  2. otherwise the request continues the current session iff it arrives on
//     the socket that created it (until that socket closes).
//
// A request that does not continue the session closes the current one
// (Protocomm.CloseSession), draws a new random uint32 id and, when the reply
// is sent, announces it with "Set-Cookie: session=<id>". Protocomm.Handle
// receives the decimal id as session. Closing a socket never ends a session.
type Server struct {
	p           device.Protocomm
	fault       func(string, []byte) Fault
	logf        func(string, ...any)
	newID       func() uint32
	recvTimeout time.Duration
	nagle       bool

	mu        sync.Mutex // guards the fields below
	closed    bool
	done      chan struct{}
	listeners map[net.Listener]struct{}
	addr      net.Addr
	conns     map[*conn]struct{}
	nextSock  uint64
	tick      uint64 // LRU clock
	wg        sync.WaitGroup

	// task is the single httpd task: request processing, socket eviction
	// and the protocomm_httpd session state below.
	task          sync.Mutex
	cookieSession uint32 // current session id, noSession if none
	sockSession   uint64 // socket that created it, 0 if none/disabled
}

type conn struct {
	id   uint64
	nc   net.Conn
	br   *bufio.Reader
	used uint64 // LRU tick; guarded by Server.mu

	// guarded by Server.task
	closed         bool
	createdSession bool // free_ctx installed: closing resets sockSession
}

// New returns a server for p; start it with Serve.
func New(p device.Protocomm, opts Options) *Server {
	s := &Server{
		p:             p,
		fault:         opts.Fault,
		logf:          opts.Logf,
		newID:         opts.SessionID,
		recvTimeout:   opts.RecvTimeout,
		nagle:         opts.Nagle,
		done:          make(chan struct{}),
		listeners:     make(map[net.Listener]struct{}),
		conns:         make(map[*conn]struct{}),
		cookieSession: noSession,
	}
	if s.newID == nil {
		s.newID = randomID
	}
	if s.recvTimeout <= 0 {
		s.recvTimeout = DefaultRecvTimeout
	}
	return s
}

// Listen listens on addr (e.g. "127.0.0.1:0") and serves in the background
// until Close.
func Listen(addr string, p device.Protocomm, opts Options) (*Server, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("simhttpd: %w", err)
	}
	s := New(p, opts)
	if err := s.register(l); err != nil {
		l.Close()
		return nil, err
	}
	go s.serve(l)
	return s, nil
}

func randomID() uint32 {
	var b [4]byte
	if _, err := crand.Read(b[:]); err != nil {
		return rand.Uint32()
	}
	return binary.LittleEndian.Uint32(b[:])
}

func (s *Server) log(format string, args ...any) {
	if s.logf != nil {
		s.logf(format, args...)
	}
}

// Accepted counts the TCP connections accepted so far.
func (s *Server) Accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int(s.nextSock)
}

// Addr is the address of the first listener, nil before Serve.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

func (s *Server) register(l net.Listener) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	if s.addr == nil {
		s.addr = l.Addr()
	}
	s.wg.Add(1)
	return nil
}

// Serve accepts connections on l until Close; it then returns
// ErrServerClosed. l is closed when Serve returns.
func (s *Server) Serve(l net.Listener) error {
	if err := s.register(l); err != nil {
		l.Close()
		return err
	}
	return s.serve(l)
}

func (s *Server) serve(l net.Listener) error {
	defer s.wg.Done()
	defer func() {
		l.Close()
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()
	for {
		nc, err := l.Accept()
		if err != nil {
			select {
			case <-s.done:
				return ErrServerClosed
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("simhttpd: accept: %w", err)
		}
		s.accept(nc)
	}
}

// accept installs nc, evicting the least recently used socket when the
// server is full (esp_http_server lru_purge_enable).
func (s *Server) accept(nc net.Conn) {
	s.task.Lock()
	defer s.task.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		nc.Close()
		return
	}
	var victims []*conn
	for len(s.conns)-len(victims) >= MaxOpenSockets {
		var lru *conn
		for c := range s.conns {
			if slices.Contains(victims, c) {
				continue
			}
			if lru == nil || c.used < lru.used {
				lru = c
			}
		}
		victims = append(victims, lru)
	}
	if s.nagle {
		_ = tcpopt.SetNoDelay(nc, false)
		nc = tcpopt.WithQuickAck(nc, false)
	}
	s.nextSock++
	s.tick++
	c := &conn{id: s.nextSock, nc: nc, br: bufio.NewReader(nc), used: s.tick}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	for _, v := range victims {
		s.log("simhttpd: sock %d: closed by LRU purge for new sock %d", v.id, c.id)
		s.closeLocked(v)
	}
	s.log("simhttpd: sock %d: accepted from %s", c.id, nc.RemoteAddr())
	go s.serveConn(c)
}

// closeLocked closes a socket; the caller holds s.task. Like
// protocomm_httpd_session_close, closing the socket that created a session
// disables the socket rule; the security session itself lives on.
func (s *Server) closeLocked(c *conn) {
	if c.closed {
		return
	}
	c.closed = true
	c.nc.Close()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	if c.createdSession && s.sockSession != 0 {
		s.sockSession = 0
	}
}

// Close stops the server: listeners and sockets are closed and every
// goroutine has ended when it returns. Sessions are not touched.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.closed = true
	close(s.done)
	for l := range s.listeners {
		l.Close()
	}
	for c := range s.conns {
		c.nc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

type action int

const (
	actKeep action = iota
	actClosed
	actStall
)

func (s *Server) serveConn(c *conn) {
	defer s.wg.Done()
	defer func() {
		s.task.Lock()
		s.closeLocked(c)
		s.task.Unlock()
	}()
	for {
		// Idle: wait for the next request without holding the task.
		if _, err := c.br.Peek(1); err != nil {
			return
		}
		s.task.Lock()
		act := actClosed
		if !c.closed {
			act = s.process(c)
		}
		s.task.Unlock()
		switch act {
		case actClosed:
			return
		case actStall:
			// Never answer; notice the socket closing (by the peer, the
			// LRU purge or Close).
			c.nc.SetReadDeadline(time.Time{})
			io.Copy(io.Discard, c.br)
			return
		}
	}
}

// request is one parsed request head.
type request struct {
	method, uri string
	cookie      string
	hasCookie   bool
	contentLen  int64 // 0 when absent or chunked, like esp_http_server
}

// httpError is a parse failure answered with esp_http_server's default
// error reply (code) or, with code 0, by silently closing the socket.
type httpError struct {
	code int
	why  string
}

func (e *httpError) Error() string { return e.why }

// readHead parses one request head from c.
func (s *Server) readHead(c *conn) (*request, error) {
	budget := maxHeaderBytes
	readLine := func() (string, error) {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			var ne net.Error
			switch {
			case errors.Is(err, bufio.ErrBufferFull):
				return "", &httpError{431, "request line or header too long"}
			case errors.As(err, &ne) && ne.Timeout():
				return "", &httpError{408, "timed out reading the request"}
			default:
				return "", &httpError{0, "connection ended: " + err.Error()}
			}
		}
		if budget -= len(line); budget < 0 {
			return "", &httpError{431, "request head too long"}
		}
		return strings.TrimRight(string(line), "\r\n"), nil
	}
	first, err := readLine()
	for err == nil && first == "" { // http_parser skips blank lines first
		first, err = readLine()
	}
	if err != nil {
		return nil, err
	}
	method, rest, ok1 := strings.Cut(first, " ")
	uri, proto, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || method == "" || uri == "" || strings.ContainsAny(uri, " \t") {
		return nil, &httpError{400, "malformed request line"}
	}
	major, minor, ok := http.ParseHTTPVersion(proto)
	if !ok {
		return nil, &httpError{400, "malformed HTTP version"}
	}
	if len(uri) > maxURILen {
		return nil, &httpError{414, "URI too long"}
	}
	// esp_http_server's check, quirk included: HTTP/1.x and x.1 pass.
	if major != 1 && minor != 1 {
		return nil, &httpError{505, "unsupported HTTP version " + proto}
	}
	r := &request{method: method, uri: uri}
	haveLen, chunked := false, false
	for {
		line, err := readLine()
		if err != nil {
			return nil, err
		}
		if line == "" {
			break
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return nil, &httpError{400, "malformed header line"}
		}
		value = strings.Trim(value, " \t")
		switch {
		case strings.EqualFold(name, "Cookie"):
			if !r.hasCookie { // httpd_req_get_hdr_value_str: first match
				r.hasCookie, r.cookie = true, value
			}
		case strings.EqualFold(name, "Content-Length"):
			n, err := strconv.ParseInt(value, 10, 64)
			if err != nil || n < 0 || (haveLen && n != r.contentLen) {
				return nil, &httpError{400, "bad Content-Length"}
			}
			haveLen, r.contentLen = true, n
		case strings.EqualFold(name, "Transfer-Encoding"):
			if strings.Contains(strings.ToLower(value), "chunked") {
				chunked = true
			}
		}
	}
	if chunked {
		if haveLen {
			return nil, &httpError{400, "both Content-Length and chunked"}
		}
		r.contentLen = 0
	}
	return r, nil
}

// process handles one request on c; the caller holds s.task.
func (s *Server) process(c *conn) action {
	s.mu.Lock()
	s.tick++
	c.used = s.tick
	s.mu.Unlock()

	c.nc.SetReadDeadline(time.Now().Add(s.recvTimeout))
	r, err := s.readHead(c)
	if err != nil {
		var he *httpError
		if errors.As(err, &he) && he.code != 0 {
			s.log("simhttpd: sock %d: %s: answering %d", c.id, he.why, he.code)
			s.send(c, errorReply(he.code))
		}
		s.closeLocked(c)
		return actClosed
	}
	path := r.uri
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	ep, isPath := strings.CutPrefix(path, "/")
	if !isPath || !slices.Contains(s.p.Endpoints(), ep) {
		s.log("simhttpd: sock %d: %s %s: no handler, answering 404", c.id, r.method, path)
		return s.fail(c, r, 404)
	}
	if r.method != http.MethodPost {
		s.log("simhttpd: sock %d: %s %s: method not allowed, answering 405", c.id, r.method, path)
		return s.fail(c, r, 405)
	}

	// protocomm_httpd common_post_handler: session decision first.
	same := false
	if r.hasCookie && len(r.cookie) <= MaxCookieLen {
		if r.cookie == "session="+dec(s.cookieSession) {
			s.sockSession = 0 // the client does cookies: no socket rule
			same = true
		}
	} else if s.sockSession != 0 && c.id == s.sockSession {
		same = true
	}
	if !same {
		if s.cookieSession != noSession {
			s.log("simhttpd: sock %d: closing session %d", c.id, s.cookieSession)
			s.p.CloseSession(dec(s.cookieSession))
			s.cookieSession, s.sockSession = noSession, 0
		}
		s.cookieSession = s.newID()
		s.sockSession = c.id
		c.createdSession = true
		s.log("simhttpd: sock %d: new session %d", c.id, s.cookieSession)
	}
	session := dec(s.cookieSession)

	if r.contentLen <= 0 || r.contentLen > MaxRequestBody {
		s.log("simhttpd: sock %d: POST /%s: bad content length %d, closing", c.id, ep, r.contentLen)
		s.closeLocked(c)
		return actClosed
	}
	body := make([]byte, r.contentLen)
	if _, err := io.ReadFull(c.br, body); err != nil {
		s.log("simhttpd: sock %d: POST /%s: reading body: %v, closing", c.id, ep, err)
		s.closeLocked(c)
		return actClosed
	}
	c.nc.SetReadDeadline(time.Time{})

	fault := FaultNone
	if s.fault != nil {
		fault = s.fault(ep, slices.Clone(body))
	}
	setCookie := ""
	if !same {
		setCookie = "session=" + session
	}
	switch fault {
	case FaultStall:
		s.log("simhttpd: sock %d: POST /%s: fault %v", c.id, ep, fault)
		return actStall
	case FaultClose:
		s.log("simhttpd: sock %d: POST /%s: fault %v", c.id, ep, fault)
		s.closeLocked(c)
		return actClosed
	case FaultMalformed:
		s.log("simhttpd: sock %d: POST /%s: fault %v", c.id, ep, fault)
		s.send(c, []byte("\x00\x17garbage, not HTTP\r\n\r\n"))
		s.closeLocked(c)
		return actClosed
	case FaultGarbage:
		s.log("simhttpd: sock %d: POST /%s: fault %v", c.id, ep, fault)
		junk := make([]byte, 1+rand.IntN(64))
		for i := range junk {
			junk[i] = byte(rand.UintN(256))
		}
		if !s.send(c, reply("200 OK", setCookie, junk)) {
			s.closeLocked(c)
			return actClosed
		}
		return actKeep
	}

	out, err := s.p.Handle(session, ep, body)
	if errors.Is(err, device.ErrUnknownEndpoint) {
		s.log("simhttpd: sock %d: POST /%s: endpoint not registered, answering 404", c.id, ep)
		s.send(c, errorReply(404))
		s.closeLocked(c)
		return actClosed
	}
	if errors.Is(err, device.ErrStall) {
		s.log("simhttpd: sock %d: POST /%s: stalled by the device", c.id, ep)
		return actStall
	}
	if err != nil {
		s.log("simhttpd: sock %d: POST /%s: uri handler execution failed (%v), closing", c.id, ep, err)
		s.closeLocked(c)
		return actClosed
	}
	if fault == FaultDropReply {
		s.log("simhttpd: sock %d: POST /%s: fault %v", c.id, ep, fault)
		s.closeLocked(c)
		return actClosed
	}
	if !s.send(c, reply("200 OK", setCookie, out)) {
		s.closeLocked(c)
		return actClosed
	}
	s.log("simhttpd: sock %d: POST /%s: %d bytes in, %d bytes out", c.id, ep, len(body), len(out))
	return actKeep
}

// fail answers an error reply and closes the socket. The declared body is
// read first so that closing does not reset the connection before the
// client has read the reply.
func (s *Server) fail(c *conn, r *request, code int) action {
	if r.contentLen > 0 && r.contentLen <= MaxRequestBody {
		io.CopyN(io.Discard, c.br, r.contentLen)
	}
	s.send(c, errorReply(code))
	s.closeLocked(c)
	return actClosed
}

// send writes b within the send timeout: in one go, or with Nagle as
// headers then body (httpd_resp_send: one send for the head, one for the
// body).
func (s *Server) send(c *conn, b []byte) bool {
	c.nc.SetWriteDeadline(time.Now().Add(DefaultSendTimeout))
	var err error
	if i := bytes.Index(b, []byte("\r\n\r\n")); s.nagle && i >= 0 && i+4 < len(b) {
		if _, err = c.nc.Write(b[:i+4]); err == nil {
			_, err = c.nc.Write(b[i+4:])
		}
	} else {
		_, err = c.nc.Write(b)
	}
	c.nc.SetWriteDeadline(time.Time{})
	if err != nil {
		s.log("simhttpd: sock %d: send failed: %v", c.id, err)
		return false
	}
	return true
}

// dec renders a session id as protocomm_httpd does ("%u").
func dec(id uint32) string { return strconv.FormatUint(uint64(id), 10) }

// errorReply is esp_http_server's httpd_resp_send_err default reply.
func errorReply(code int) []byte {
	var status, msg string
	switch code {
	case 400:
		status, msg = "400 Bad Request", "Bad request syntax"
	case 404:
		status, msg = "404 Not Found", "Nothing matches the given URI"
	case 405:
		status, msg = "405 Method Not Allowed", "Specified method is invalid for this resource"
	case 408:
		status, msg = "408 Request Timeout", "Server closed this connection"
	case 414:
		status, msg = "414 URI Too Long", "URI is too long"
	case 431:
		status, msg = "431 Request Header Fields Too Large", "Header fields are too long"
	case 505:
		status, msg = "505 Version Not Supported", "HTTP version not supported by server"
	default:
		status, msg = "500 Internal Server Error", "Server has encountered an unexpected error"
	}
	return reply(status, "", []byte(msg))
}

// reply renders httpd_resp_send: status line, Content-Type, Content-Length,
// the extra header if any, blank line, body.
func reply(status, setCookie string, body []byte) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.1 %s\r\nContent-Type: text/html\r\nContent-Length: %d\r\n", status, len(body))
	if setCookie != "" {
		b.WriteString("Set-Cookie: ")
		b.WriteString(setCookie)
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	b.Write(body)
	return b.Bytes()
}

// ListenDevice creates a device from cfg and serves it on addr until the
// returned server is closed.
func ListenDevice(addr string, cfg device.Config, opts Options) (*device.Device, *Server, error) {
	d, err := device.New(cfg)
	if err != nil {
		return nil, nil, err
	}
	s, err := Listen(addr, d, opts)
	if err != nil {
		return nil, nil, err
	}
	return d, s, nil
}
