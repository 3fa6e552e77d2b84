package simhttpd_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/espprov/espprov/internal/sim/device"
	simhttpd "github.com/espprov/espprov/internal/sim/httpd"
)

// scripted is a Protocomm: "echo" answers "echo:<request>", "fail" fails,
// "ghost" is listed but Handle calls it unknown.
type scripted struct {
	mu     sync.Mutex
	calls  []string // "session endpoint request"
	closed []string
}

func (d *scripted) Endpoints() []string {
	return []string{"prov-ctrl", "prov-session", "echo", "fail", "ghost", "esp_local_ctrl/session"}
}

func (d *scripted) Handle(session, endpoint string, request []byte) ([]byte, error) {
	if endpoint == "ghost" || !slices.Contains(d.Endpoints(), endpoint) {
		return nil, device.ErrUnknownEndpoint
	}
	d.mu.Lock()
	d.calls = append(d.calls, session+" "+endpoint+" "+string(request))
	d.mu.Unlock()
	if endpoint == "fail" {
		return nil, errors.New("handler failed")
	}
	return append([]byte("echo:"), request...), nil
}

func (d *scripted) CloseSession(session string) {
	d.mu.Lock()
	d.closed = append(d.closed, session)
	d.mu.Unlock()
}

func (d *scripted) state() (calls, closed []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.calls), slices.Clone(d.closed)
}

func checkGoroutines(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(3 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				t.Errorf("goroutine leak: %d before, %d after\n%s", before, runtime.NumGoroutine(),
					buf[:runtime.Stack(buf, true)])
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

func start(t *testing.T, opts simhttpd.Options) (*scripted, string) {
	t.Helper()
	checkGoroutines(t)
	d := &scripted{}
	var mu sync.Mutex
	next := uint32(1000)
	if opts.SessionID == nil {
		opts.SessionID = func() uint32 {
			mu.Lock()
			defer mu.Unlock()
			next++
			return next
		}
	}
	opts.Logf = t.Logf
	s, err := simhttpd.Listen("127.0.0.1:0", d, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return d, s.Addr().String()
}

type raw struct {
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *raw {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	// Let the server accept it (and evict older sockets) in order.
	time.Sleep(20 * time.Millisecond)
	return &raw{c: c, br: bufio.NewReader(c)}
}

func (r *raw) send(t *testing.T, s string) {
	t.Helper()
	if _, err := io.WriteString(r.c, s); err != nil {
		t.Fatal(err)
	}
}

// post sends POST /ep; cookie "-" means no Cookie header.
func (r *raw) post(t *testing.T, ep, cookie, body string) {
	t.Helper()
	h := "POST /" + ep + " HTTP/1.1\r\nHost: 192.168.4.1\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n"
	if cookie != "-" {
		h += "Cookie: " + cookie + "\r\n"
	}
	r.send(t, h+"\r\n"+body)
}

// reply reads one response verbatim; "" means the socket closed first.
func (r *raw) reply(t *testing.T) string {
	t.Helper()
	r.c.SetReadDeadline(time.Now().Add(3 * time.Second))
	var b strings.Builder
	n := 0
	for {
		line, err := r.br.ReadString('\n')
		b.WriteString(line)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "reset") {
				if b.Len() != 0 {
					t.Fatalf("partial reply %q", b.String())
				}
				return ""
			}
			t.Fatalf("reading reply: %v (got %q)", err, b.String())
		}
		if v, ok := strings.CutPrefix(line, "Content-Length: "); ok {
			n, _ = strconv.Atoi(strings.TrimSpace(v))
		}
		if line == "\r\n" {
			break
		}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r.br, body); err != nil {
		t.Fatalf("reading body: %v", err)
	}
	return b.String() + string(body)
}

func (r *raw) expectClosed(t *testing.T) {
	t.Helper()
	r.c.SetReadDeadline(time.Now().Add(3 * time.Second))
	b, err := r.br.ReadByte()
	if err == nil {
		t.Fatalf("got byte %q, want the socket closed", b)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("socket still open")
	}
}

func ok200(setCookie, body string) string {
	s := "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n"
	if setCookie != "" {
		s += "Set-Cookie: " + setCookie + "\r\n"
	}
	return s + "\r\n" + body
}

func TestReplyBytes(t *testing.T) {
	_, addr := start(t, simhttpd.Options{})
	r := dialRaw(t, addr)
	r.post(t, "echo", "-", "abcd")
	if got, want := r.reply(t), ok200("session=1001", "echo:abcd"); got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	// Same socket, no cookie: same session, no Set-Cookie.
	r.post(t, "echo", "-", "\x00\xff")
	if got, want := r.reply(t), ok200("", "echo:\x00\xff"); got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	// Endpoint names with a slash (esp_local_ctrl).
	r.post(t, "esp_local_ctrl/session", "session=1001", "s")
	if got, want := r.reply(t), ok200("", "echo:s"); got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	// Blank lines before a request are skipped.
	r.send(t, "\r\n\r\nPOST /echo HTTP/1.1\r\nContent-Length: 1\r\nCookie: session=1001\r\n\r\nz")
	if got, want := r.reply(t), ok200("", "echo:z"); got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	// Pipelined requests in one segment are answered in order.
	r.send(t, "POST /echo HTTP/1.1\r\nContent-Length: 1\r\nCookie: session=1001\r\n\r\nA"+
		"POST /echo HTTP/1.1\r\nContent-Length: 1\r\nCookie: session=1001\r\n\r\nB")
	if got := r.reply(t) + r.reply(t); got != ok200("", "echo:A")+ok200("", "echo:B") {
		t.Fatalf("pipelined: %q", got)
	}
}

func errReply(status, msg string) string {
	return "HTTP/1.1 " + status + "\r\nContent-Type: text/html\r\nContent-Length: " + strconv.Itoa(len(msg)) + "\r\n\r\n" + msg
}

// Requests the device refuses: the default error reply (or nothing), then
// the socket is closed.
func TestRefusedRequests(t *testing.T) {
	notFound := errReply("404 Not Found", "Nothing matches the given URI")
	tests := []struct {
		name, request string
		reply         string // "" = closed without reply
		handled       int    // Protocomm.Handle calls recorded
	}{
		{"GET registered", "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n",
			errReply("405 Method Not Allowed", "Specified method is invalid for this resource"), 0},
		{"PUT registered with body", "PUT /echo HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
			errReply("405 Method Not Allowed", "Specified method is invalid for this resource"), 0},
		{"GET unknown", "GET /nope HTTP/1.1\r\n\r\n", notFound, 0},
		{"POST unknown", "POST /nope HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", notFound, 0},
		{"POST root", "POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", notFound, 0},
		{"POST absolute URI", "POST http://x/echo HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", notFound, 0},
		{"unknown to Handle", "POST /ghost HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", notFound, 0},
		{"malformed request line", "HELLO\r\n\r\n", errReply("400 Bad Request", "Bad request syntax"), 0},
		{"malformed header", "POST /echo HTTP/1.1\r\nno colon here\r\n\r\n", errReply("400 Bad Request", "Bad request syntax"), 0},
		{"HTTP/2.0", "POST /echo HTTP/2.0\r\nContent-Length: 1\r\n\r\na",
			errReply("505 Version Not Supported", "HTTP version not supported by server"), 0},
		{"URI too long", "POST /" + strings.Repeat("a", 600) + " HTTP/1.1\r\n\r\n", errReply("414 URI Too Long", "URI is too long"), 0},
		{"empty body", "POST /echo HTTP/1.1\r\nContent-Length: 0\r\n\r\n", "", 0},
		{"no Content-Length", "POST /echo HTTP/1.1\r\nHost: x\r\n\r\n", "", 0},
		{"chunked", "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", "", 0},
		{"4097 bytes", "POST /echo HTTP/1.1\r\nContent-Length: 4097\r\n\r\n" + strings.Repeat("x", 4097), "", 0},
		{"handler failure", "POST /fail HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", "", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, addr := start(t, simhttpd.Options{})
			r := dialRaw(t, addr)
			r.send(t, tc.request)
			if got := r.reply(t); got != tc.reply {
				t.Fatalf("reply %q\nwant %q", got, tc.reply)
			}
			r.expectClosed(t)
			if calls, _ := d.state(); len(calls) != tc.handled {
				t.Fatalf("Handle calls %q, want %d", calls, tc.handled)
			}
		})
	}
}

func TestRecvTimeouts(t *testing.T) {
	tests := []struct {
		name, partial, reply string
	}{
		{"head", "POST /echo HTTP/1.1\r\nContent-Le", errReply("408 Request Timeout", "Server closed this connection")},
		{"body", "POST /echo HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, addr := start(t, simhttpd.Options{RecvTimeout: 200 * time.Millisecond})
			r := dialRaw(t, addr)
			begin := time.Now()
			r.send(t, tc.partial)
			if got := r.reply(t); got != tc.reply {
				t.Fatalf("reply %q, want %q", got, tc.reply)
			}
			r.expectClosed(t)
			if el := time.Since(begin); el < 150*time.Millisecond {
				t.Fatalf("gave up after %v", el)
			}
		})
	}
	// An idle keep-alive socket is not timed out.
	_, addr := start(t, simhttpd.Options{RecvTimeout: 100 * time.Millisecond})
	r := dialRaw(t, addr)
	time.Sleep(300 * time.Millisecond)
	r.post(t, "echo", "-", "late")
	if got := r.reply(t); got != ok200("session=1001", "echo:late") {
		t.Fatalf("idle socket: %q", got)
	}
}

// One step of a cookie-session scenario.
type step struct {
	sock      string // socket label; a new label opens a new connection
	cookie    string // "-" = no Cookie header
	body      string // "" = Content-Length: 0 (refused, socket closed)
	session   string // session id Handle must see
	setCookie string // expected Set-Cookie value, "" none
}

func runSteps(t *testing.T, steps []step) *scripted {
	t.Helper()
	d, addr := start(t, simhttpd.Options{})
	socks := map[string]*raw{}
	for i, s := range steps {
		r, ok := socks[s.sock]
		if !ok {
			r = dialRaw(t, addr)
			socks[s.sock] = r
		}
		r.post(t, "echo", s.cookie, s.body)
		got := r.reply(t)
		if s.body == "" {
			if got != "" {
				t.Fatalf("step %d: reply %q to an empty body", i, got)
			}
			r.expectClosed(t)
			continue
		}
		if want := ok200(s.setCookie, "echo:"+s.body); got != want {
			t.Fatalf("step %d: reply %q\nwant %q", i, got, want)
		}
		calls, _ := d.state()
		if last := calls[len(calls)-1]; last != s.session+" echo "+s.body {
			t.Fatalf("step %d: Handle saw %q, want session %s", i, last, s.session)
		}
	}
	return d
}

func TestCookieSessionsOnOneSocket(t *testing.T) {
	d := runSteps(t, []step{
		{"A", "-", "1", "1001", "session=1001"},
		{"A", "-", "2", "1001", ""},            // socket rule
		{"A", "session=1001", "3", "1001", ""}, // cookie rule; disables the socket rule
		{"A", "-", "4", "1002", "session=1002"},
		{"A", "-", "5", "1002", ""},
		{"A", "session=999", "6", "1003", "session=1003"},       // wrong cookie
		{"A", "session=1003; lang=en", "7", "1003", ""},         // 21 chars: ignored, socket rule
		{"A", "x=1; session=1003", "8", "1004", "session=1004"}, // 17 chars, not exact
		{"A", "", "9", "1005", "session=1005"},                  // empty cookie
	})
	if _, closed := d.state(); !slices.Equal(closed, []string{"1001", "1002", "1003", "1004"}) {
		t.Fatalf("closed sessions %v", closed)
	}
}

func TestCookieSessionsAcrossSockets(t *testing.T) {
	d := runSteps(t, []step{
		{"A", "-", "1", "1001", "session=1001"},
		{"B", "-", "2", "1002", "session=1002"},                        // new socket, no cookie
		{"C", "session=1002", "3", "1002", ""},                         // cookie continues on a new socket
		{"D", "session=1002; theme=dark", "4", "1003", "session=1003"}, // too long, not D's session
		{"D", "-", "5", "1003", ""},
		{"E", "session=1003", "6", "1003", ""},
		{"F", "session=1001", "7", "1004", "session=1004"}, // stale cookie
	})
	if _, closed := d.state(); !slices.Equal(closed, []string{"1001", "1002", "1003"}) {
		t.Fatalf("closed sessions %v", closed)
	}
}

// protocomm_httpd decides the session before it checks the body: a refused
// request from a stranger still ends the current session.
func TestRefusedRequestStillSwitchesSession(t *testing.T) {
	d := runSteps(t, []step{
		{"A", "-", "1", "1001", "session=1001"},
		{"A", "session=999", "", "", ""}, // Content-Length 0: closed; session 1002 started silently
		{"B", "session=1001", "2", "1003", "session=1003"},
	})
	if _, closed := d.state(); !slices.Equal(closed, []string{"1001", "1002"}) {
		t.Fatalf("closed sessions %v", closed)
	}
}

func TestLRUPurge(t *testing.T) {
	_, addr := start(t, simhttpd.Options{Fault: func(_ string, req []byte) simhttpd.Fault {
		if string(req) == "stall" {
			return simhttpd.FaultStall
		}
		return simhttpd.FaultNone
	}})
	a := dialRaw(t, addr)
	a.post(t, "echo", "-", "a")
	if got := a.reply(t); got != ok200("session=1001", "echo:a") {
		t.Fatal(got)
	}
	b := dialRaw(t, addr) // evicts a
	a.expectClosed(t)
	b.post(t, "echo", "-", "stall")
	b.c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := b.br.ReadByte(); err == nil || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("stalled socket answered: %v", err)
	}
	c := dialRaw(t, addr) // evicts the stalled socket
	b.expectClosed(t)
	c.post(t, "echo", "session=1002", "c")
	if got := c.reply(t); got != ok200("", "echo:c") {
		t.Fatalf("after stall: %q", got)
	}
}

func TestFaults(t *testing.T) {
	tests := []struct {
		fault   simhttpd.Fault
		check   func(t *testing.T, r *raw)
		handled int
	}{
		{simhttpd.FaultClose, func(t *testing.T, r *raw) {
			if got := r.reply(t); got != "" {
				t.Fatalf("reply %q", got)
			}
		}, 0},
		{simhttpd.FaultDropReply, func(t *testing.T, r *raw) {
			if got := r.reply(t); got != "" {
				t.Fatalf("reply %q", got)
			}
		}, 1},
		{simhttpd.FaultGarbage, func(t *testing.T, r *raw) {
			got := r.reply(t)
			if !strings.HasPrefix(got, "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: ") ||
				!strings.Contains(got, "Set-Cookie: session=1001\r\n") || strings.HasSuffix(got, "echo:x") {
				t.Fatalf("reply %q", got)
			}
			r.post(t, "echo", "-", "y") // socket stays usable
			if got := r.reply(t); got != ok200("", "echo:y") {
				t.Fatalf("after garbage: %q", got)
			}
		}, 1},
		{simhttpd.FaultMalformed, func(t *testing.T, r *raw) {
			r.c.SetReadDeadline(time.Now().Add(3 * time.Second))
			b, _ := io.ReadAll(r.br)
			if len(b) == 0 || strings.HasPrefix(string(b), "HTTP/") {
				t.Fatalf("reply %q", b)
			}
		}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.fault.String(), func(t *testing.T) {
			d, addr := start(t, simhttpd.Options{Fault: func(ep string, req []byte) simhttpd.Fault {
				if ep == "echo" && string(req) == "x" {
					return tc.fault
				}
				return simhttpd.FaultNone
			}})
			r := dialRaw(t, addr)
			r.post(t, "echo", "-", "x")
			tc.check(t, r)
			if tc.fault != simhttpd.FaultGarbage {
				r.expectClosed(t)
			}
			if calls, _ := d.state(); len(calls) != tc.handled {
				t.Fatalf("Handle calls %q, want %d", calls, tc.handled)
			}
		})
	}
}

func TestServeStopsOnClose(t *testing.T) {
	checkGoroutines(t)
	d := &scripted{}
	s := simhttpd.New(d, simhttpd.Options{Fault: func(_ string, req []byte) simhttpd.Fault {
		if string(req) == "stall" {
			return simhttpd.FaultStall
		}
		return simhttpd.FaultNone
	}})
	if s.Addr() != nil {
		t.Fatal("Addr before Serve")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	addr := l.Addr().String()
	for s.Addr() == nil {
		time.Sleep(time.Millisecond)
	}
	if s.Addr().String() != addr {
		t.Fatalf("Addr %v, want %s", s.Addr(), addr)
	}
	r := dialRaw(t, addr)
	r.post(t, "echo", "-", "stall")
	time.Sleep(50 * time.Millisecond)
	partial := dialRaw(t, addr) // evicts r; then stuck mid-head
	partial.send(t, "POST /echo HTTP/1.1\r\nCont")
	time.Sleep(50 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-served:
		if !errors.Is(err, simhttpd.ErrServerClosed) {
			t.Fatalf("Serve returned %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Serve did not return")
	}
	partial.expectClosed(t)
	if err := s.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	if err := s.Serve(l); !errors.Is(err, simhttpd.ErrServerClosed) {
		t.Fatalf("Serve after Close: %v", err)
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Fatal("listener still open")
	}
}

func TestFaultString(t *testing.T) {
	for f, want := range map[simhttpd.Fault]string{
		simhttpd.FaultNone: "none", simhttpd.FaultStall: "stall", simhttpd.FaultClose: "close",
		simhttpd.FaultGarbage: "garbage", simhttpd.FaultDropReply: "drop-reply",
		simhttpd.FaultMalformed: "malformed", simhttpd.Fault(42): "fault(42)",
	} {
		if got := f.String(); got != want {
			t.Errorf("%d: %q, want %q", int(f), got, want)
		}
	}
	_ = fmt.Sprint
}
