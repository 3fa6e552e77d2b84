package httpd_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/espprov/espprov/internal/sim/device"
	simhttpd "github.com/espprov/espprov/internal/sim/httpd"
	"github.com/espprov/espprov/transports"
	"github.com/espprov/espprov/transports/httpd"
)

// echoDevice is a scripted Protocomm: "echo" answers "echo:<request>",
// "fail" fails like a decryption error, anything not listed is unknown.
type echoDevice struct {
	mu     sync.Mutex
	calls  []call
	closed []string
}

type call struct {
	session, endpoint string
	request           string
}

func (d *echoDevice) Endpoints() []string {
	return []string{"proto-ver", "prov-session", "echo", "fail"}
}

func (d *echoDevice) Handle(session, endpoint string, request []byte) ([]byte, error) {
	if !slices.Contains(d.Endpoints(), endpoint) {
		return nil, device.ErrUnknownEndpoint
	}
	d.mu.Lock()
	d.calls = append(d.calls, call{session, endpoint, string(request)})
	d.mu.Unlock()
	if endpoint == "fail" {
		return nil, errors.New("decryption failed")
	}
	return append([]byte("echo:"), request...), nil
}

func (d *echoDevice) CloseSession(session string) {
	d.mu.Lock()
	d.closed = append(d.closed, session)
	d.mu.Unlock()
}

func (d *echoDevice) sessions() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, c := range d.calls {
		out = append(out, c.session)
	}
	return out
}

func (d *echoDevice) closedSessions() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.closed)
}

func (d *echoDevice) ncalls() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.calls)
}

// checkGoroutines fails t if goroutines started during the test are still
// running at cleanup (after every other cleanup, registered first).
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(3 * time.Second)
		for {
			n := runtime.NumGoroutine()
			if n <= before {
				return
			}
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<16)
				buf = buf[:runtime.Stack(buf, true)]
				t.Errorf("goroutine leak: %d before, %d after\n%s", before, n, buf)
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

type fixture struct {
	dev    *echoDevice
	srv    *simhttpd.Server
	addr   string
	faults sync.Map // request string -> simhttpd.Fault
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	checkGoroutines(t)
	f := &fixture{dev: &echoDevice{}}
	var next uint32 = 1000
	var mu sync.Mutex
	srv, err := simhttpd.Listen("127.0.0.1:0", f.dev, simhttpd.Options{
		Fault: func(_ string, req []byte) simhttpd.Fault {
			if v, ok := f.faults.Load(string(req)); ok {
				return v.(simhttpd.Fault)
			}
			return simhttpd.FaultNone
		},
		SessionID: func() uint32 {
			mu.Lock()
			defer mu.Unlock()
			next++
			return next
		},
		Logf: t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	f.srv, f.addr = srv, srv.Addr().String()
	return f
}

func (f *fixture) dial(t *testing.T, opts httpd.Options) *httpd.Transport {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	tr, err := httpd.Dial(ctx, f.addr, opts)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

func exchange(t *testing.T, tr *httpd.Transport, ep, req string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := tr.Exchange(ctx, ep, []byte(req))
	return string(out), err
}

func mustExchange(t *testing.T, tr *httpd.Transport, ep, req string) {
	t.Helper()
	out, err := exchange(t, tr, ep, req)
	if err != nil {
		t.Fatalf("Exchange(%s, %q): %v", ep, req, err)
	}
	if want := "echo:" + req; out != want {
		t.Fatalf("Exchange(%s, %q) = %q, want %q", ep, req, out, want)
	}
}

func TestLimits(t *testing.T) {
	f := newFixture(t)
	tr := f.dial(t, httpd.Options{})
	var l transports.Limits = tr
	if l.MaxMessage() != 4096 || l.ScanPageSize() != 100 {
		t.Fatalf("limits = %d, %d", l.MaxMessage(), l.ScanPageSize())
	}
}

func TestSessionKeptOnOneConnection(t *testing.T) {
	f := newFixture(t)
	tr := f.dial(t, httpd.Options{})
	for i := range 3 {
		mustExchange(t, tr, "echo", fmt.Sprint("m", i))
	}
	if got := f.dev.sessions(); !slices.Equal(got, []string{"1001", "1001", "1001"}) {
		t.Fatalf("sessions = %v", got)
	}
}

// The device closes the socket (handler failure, 404, idle eviction); the
// next exchange reconnects and the cookie continues the session.
func TestSessionContinuesAcrossReconnect(t *testing.T) {
	tests := []struct {
		name    string
		disrupt func(t *testing.T, f *fixture, tr *httpd.Transport)
	}{
		{"after handler failure", func(t *testing.T, f *fixture, tr *httpd.Transport) {
			_, err := exchange(t, tr, "fail", "x")
			if !errors.Is(err, transports.ErrClosed) {
				t.Fatalf("fail endpoint: err = %v, want ErrClosed", err)
			}
		}},
		{"after 404", func(t *testing.T, f *fixture, tr *httpd.Transport) {
			_, err := exchange(t, tr, "nope", "x")
			if !errors.Is(err, transports.ErrNoEndpoint) {
				t.Fatalf("unknown endpoint: err = %v, want ErrNoEndpoint", err)
			}
		}},
		{"after idle eviction", func(t *testing.T, f *fixture, tr *httpd.Transport) {
			// Another client connects (sends nothing): LRU purge closes ours.
			c, err := net.Dial("tcp", f.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			time.Sleep(50 * time.Millisecond)
		}},
		{"after device-side close fault", func(t *testing.T, f *fixture, tr *httpd.Transport) {
			f.faults.Store("close-me", simhttpd.FaultClose)
			_, err := exchange(t, tr, "echo", "close-me")
			if !errors.Is(err, transports.ErrClosed) {
				t.Fatalf("err = %v, want ErrClosed", err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			tr := f.dial(t, httpd.Options{})
			mustExchange(t, tr, "echo", "one")
			tc.disrupt(t, f, tr)
			mustExchange(t, tr, "echo", "two")
			mustExchange(t, tr, "echo", "three")
			for _, s := range f.dev.sessions() {
				if s != "1001" {
					t.Fatalf("sessions = %v, want all 1001", f.dev.sessions())
				}
			}
			if c := f.dev.closedSessions(); c != nil {
				t.Fatalf("sessions closed: %v", c)
			}
		})
	}
}

// A second client takes over (evicting the first and starting its own
// session); the first client's cookie no longer matches, so it gets a new
// session and a new cookie.
func TestNewSessionWhenCookieDiffers(t *testing.T) {
	f := newFixture(t)
	a := f.dial(t, httpd.Options{})
	mustExchange(t, a, "echo", "a1")
	b := f.dial(t, httpd.Options{})
	mustExchange(t, b, "echo", "b1")
	mustExchange(t, a, "echo", "a2")
	mustExchange(t, a, "echo", "a3")
	if got, want := f.dev.sessions(), []string{"1001", "1002", "1003", "1003"}; !slices.Equal(got, want) {
		t.Fatalf("sessions = %v, want %v", got, want)
	}
	if got, want := f.dev.closedSessions(), []string{"1001", "1002"}; !slices.Equal(got, want) {
		t.Fatalf("closed sessions = %v, want %v", got, want)
	}
	// b still holds cookie 1002: it is now a stranger too.
	mustExchange(t, b, "echo", "b2")
	if got := f.dev.sessions(); got[len(got)-1] != "1004" {
		t.Fatalf("sessions = %v", got)
	}
}

func TestLRUEvictionClosesOlderConnection(t *testing.T) {
	f := newFixture(t)
	old, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	time.Sleep(20 * time.Millisecond) // accepted before the next one
	tr := f.dial(t, httpd.Options{})
	mustExchange(t, tr, "echo", "x")
	old.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, err := old.Read(make([]byte, 1))
	if n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("old connection: read %d, %v; want EOF", n, err)
	}
}

func TestStatusErrors(t *testing.T) {
	f := newFixture(t)
	tr := f.dial(t, httpd.Options{})
	_, err := exchange(t, tr, "nope", "x")
	if !errors.Is(err, transports.ErrNoEndpoint) || !strings.Contains(err.Error(), "404") {
		t.Fatalf("err = %v, want ErrNoEndpoint with 404", err)
	}
	_, err = exchange(t, tr, "bad endpoint", "x")
	if !errors.Is(err, transports.ErrNoEndpoint) {
		t.Fatalf("err = %v, want ErrNoEndpoint", err)
	}
}

// rawDevice accepts one connection and answers each request with the given
// replies in order, capturing the raw request bytes.
type rawDevice struct {
	l        net.Listener
	requests chan []byte
	done     chan struct{}
}

func newRawDevice(t *testing.T, replies ...string) *rawDevice {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &rawDevice{l: l, requests: make(chan []byte, 16), done: make(chan struct{})}
	go func() {
		defer close(d.done)
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		br := bufio.NewReader(c)
		for _, rep := range replies {
			var raw bytes.Buffer
			n := -1
			for {
				line, err := br.ReadString('\n')
				raw.WriteString(line)
				if err != nil {
					d.requests <- raw.Bytes()
					return
				}
				if after, ok := strings.CutPrefix(line, "Content-Length: "); ok {
					fmt.Sscan(after, &n)
				}
				if line == "\r\n" {
					break
				}
			}
			body := make([]byte, max(n, 0))
			io.ReadFull(br, body)
			raw.Write(body)
			d.requests <- raw.Bytes()
			if _, err := io.WriteString(c, rep); err != nil {
				return
			}
		}
		// Then report anything else received until the client closes.
		rest, _ := io.ReadAll(br)
		d.requests <- rest
	}()
	t.Cleanup(func() {
		l.Close()
		<-d.done
	})
	return d
}

func (d *rawDevice) next(t *testing.T) string {
	t.Helper()
	select {
	case b := <-d.requests:
		return string(b)
	case <-time.After(5 * time.Second):
		t.Fatal("no request captured")
		return ""
	}
}

func TestRequestBytesOnTheWire(t *testing.T) {
	checkGoroutines(t)
	d := newRawDevice(t,
		"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 2\r\nSet-Cookie: session=42\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 3\r\n\r\nyes",
		"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 0\r\nSet-Cookie: session=7; Path=/\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 1\r\n\r\nz",
	)
	addr := d.l.Addr().String()
	ctx := context.Background()
	tr, err := httpd.Dial(ctx, addr, httpd.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	steps := []struct {
		ep, body, want, wire string
	}{
		{"prov-session", "\x08\x00", "ok", "POST /prov-session HTTP/1.1\r\nHost: " + addr +
			"\r\nContent-Type: application/x-www-form-urlencoded\r\nAccept: text/plain\r\nContent-Length: 2\r\n\r\n\x08\x00"},
		{"proto-ver", "abc", "yes", "POST /proto-ver HTTP/1.1\r\nHost: " + addr +
			"\r\nContent-Type: application/x-www-form-urlencoded\r\nAccept: text/plain\r\nContent-Length: 3\r\nCookie: session=42\r\n\r\nabc"},
		{"esp_local_ctrl/session", "q", "", "POST /esp_local_ctrl/session HTTP/1.1\r\nHost: " + addr +
			"\r\nContent-Type: application/x-www-form-urlencoded\r\nAccept: text/plain\r\nContent-Length: 1\r\nCookie: session=42\r\n\r\nq"},
		{"prov-config", "r", "z", "POST /prov-config HTTP/1.1\r\nHost: " + addr +
			"\r\nContent-Type: application/x-www-form-urlencoded\r\nAccept: text/plain\r\nContent-Length: 1\r\nCookie: session=7; Path=/\r\n\r\nr"},
	}
	for i, s := range steps {
		out, err := tr.Exchange(ctx, s.ep, []byte(s.body))
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if string(out) != s.want {
			t.Fatalf("step %d: reply %q, want %q", i, out, s.want)
		}
		if got := d.next(t); got != s.wire {
			t.Fatalf("step %d: wire\n%q\nwant\n%q", i, got, s.wire)
		}
	}
	tr.Close()
	tr.Close() // idempotent
	if rest := d.next(t); rest != "" {
		t.Fatalf("unexpected bytes after the exchanges: %q", rest)
	}
	if _, err := tr.Exchange(ctx, "proto-ver", []byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Exchange after Close: %v", err)
	}
}

func TestBodySizeRejectedBeforeSending(t *testing.T) {
	checkGoroutines(t)
	d := newRawDevice(t) // answers nothing, reports what it received
	tr, err := httpd.Dial(context.Background(), d.l.Addr().String(), httpd.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 4097, 10000} {
		_, err := tr.Exchange(context.Background(), "prov-session", make([]byte, n))
		if !errors.Is(err, transports.ErrTooLarge) {
			t.Fatalf("%d bytes: err = %v, want ErrTooLarge", n, err)
		}
	}
	tr.Close()
	if rest := d.next(t); rest != "" {
		t.Fatalf("bytes were sent: %q", rest)
	}
}

func TestMaxBodyAccepted(t *testing.T) {
	f := newFixture(t)
	tr := f.dial(t, httpd.Options{})
	big := strings.Repeat("A", 4096)
	mustExchange(t, tr, "echo", big)
}

func TestDeviceFaults(t *testing.T) {
	tests := []struct {
		fault     simhttpd.Fault
		want      error
		processed int // requests Protocomm saw
	}{
		{simhttpd.FaultClose, transports.ErrClosed, 0},
		{simhttpd.FaultDropReply, transports.ErrClosed, 1}, // never retried
		{simhttpd.FaultMalformed, transports.ErrProtocol, 0},
	}
	for _, tc := range tests {
		t.Run(tc.fault.String(), func(t *testing.T) {
			f := newFixture(t)
			tr := f.dial(t, httpd.Options{})
			f.faults.Store("bad", tc.fault)
			_, err := exchange(t, tr, "echo", "bad")
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if n := f.dev.ncalls(); n != tc.processed {
				t.Fatalf("Protocomm saw %d requests, want %d", n, tc.processed)
			}
			mustExchange(t, tr, "echo", "good")
		})
	}
}

func TestGarbageReply(t *testing.T) {
	f := newFixture(t)
	tr := f.dial(t, httpd.Options{})
	f.faults.Store("junk", simhttpd.FaultGarbage)
	out, err := exchange(t, tr, "echo", "junk")
	if err != nil {
		t.Fatal(err)
	}
	if out == "echo:junk" || len(out) == 0 {
		t.Fatalf("reply %q is not garbage", out)
	}
	if f.dev.ncalls() != 0 {
		t.Fatal("garbage reply reached Protocomm")
	}
	mustExchange(t, tr, "echo", "after")
}

func TestStallTimesOut(t *testing.T) {
	// The exchange timeout bounds every exchange of the transport, also the
	// ordinary one after the stall (a fresh connection: dial, request,
	// reply). It must be one that a loaded machine under -race cannot cross
	// on loopback; 300 ms was crossed.
	const timeout = 2 * time.Second
	f := newFixture(t)
	tr := f.dial(t, httpd.Options{ExchangeTimeout: timeout})
	f.faults.Store("stall", simhttpd.FaultStall)
	start := time.Now()
	_, err := tr.Exchange(context.Background(), "echo", []byte("stall"))
	elapsed := time.Since(start)
	if !errors.Is(err, transports.ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if elapsed < timeout || elapsed > 5*timeout {
		t.Fatalf("timed out after %v, want about %v", elapsed, timeout)
	}
	// Not retried; the next exchange works on a fresh connection.
	mustExchange(t, tr, "echo", "after")
}

func TestContextDeadlineShorterThanExchangeTimeout(t *testing.T) {
	f := newFixture(t)
	tr := f.dial(t, httpd.Options{ExchangeTimeout: 10 * time.Second})
	f.faults.Store("stall", simhttpd.FaultStall)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := tr.Exchange(ctx, "echo", []byte("stall"))
	if !errors.Is(err, transports.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrTimeout and DeadlineExceeded", err)
	}
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Fatalf("took %v", elapsed)
	}
}

func TestCancelAbortsPromptly(t *testing.T) {
	f := newFixture(t)
	tr := f.dial(t, httpd.Options{ExchangeTimeout: 10 * time.Second})
	f.faults.Store("stall", simhttpd.FaultStall)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := tr.Exchange(ctx, "echo", []byte("stall"))
	elapsed := time.Since(start)
	if !errors.Is(err, context.Canceled) || errors.Is(err, transports.ErrTimeout) {
		t.Fatalf("err = %v, want context.Canceled only", err)
	}
	if elapsed > 2*time.Second {
		t.Fatalf("cancel took %v", elapsed)
	}
	// Already cancelled: nothing happens.
	if _, err := tr.Exchange(ctx, "echo", []byte("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	mustExchange(t, tr, "echo", "after")
}

func TestCloseAbortsExchange(t *testing.T) {
	f := newFixture(t)
	tr := f.dial(t, httpd.Options{ExchangeTimeout: 10 * time.Second})
	f.faults.Store("stall", simhttpd.FaultStall)
	time.AfterFunc(100*time.Millisecond, func() { tr.Close() })
	start := time.Now()
	_, err := tr.Exchange(context.Background(), "echo", []byte("stall"))
	if err == nil || time.Since(start) > 2*time.Second {
		t.Fatalf("err = %v after %v", err, time.Since(start))
	}
	if !errors.Is(err, net.ErrClosed) {
		t.Fatalf("err = %v, want net.ErrClosed", err)
	}
}

func TestUnreachable(t *testing.T) {
	checkGoroutines(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = httpd.Dial(ctx, addr, httpd.Options{})
	if !errors.Is(err, transports.ErrUnreachable) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
	if want := "httpd: cannot reach device at " + addr + ": connection refused"; err.Error() != want {
		t.Fatalf("message %q, want %q", err, want)
	}
	// IPv6 literal form parses (may be unreachable if the host has no ::1).
	_, err = httpd.Dial(ctx, "[::1]:1", httpd.Options{})
	if !errors.Is(err, transports.ErrUnreachable) || !strings.Contains(err.Error(), "[::1]:1") {
		t.Fatalf("err = %v", err)
	}
}

// After the device goes away entirely, the next exchange fails as
// unreachable rather than hanging or claiming success.
func TestReconnectFailsWhenDeviceGone(t *testing.T) {
	f := newFixture(t)
	tr := f.dial(t, httpd.Options{})
	mustExchange(t, tr, "echo", "x")
	f.srv.Close()
	_, err := exchange(t, tr, "echo", "y")
	if !errors.Is(err, transports.ErrUnreachable) {
		t.Fatalf("err = %v, want ErrUnreachable", err)
	}
}

func TestNoGoroutineLeakAfterClose(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		f := &fixture{dev: &echoDevice{}}
		srv, err := simhttpd.Listen("127.0.0.1:0", f.dev, simhttpd.Options{
			Fault: func(_ string, req []byte) simhttpd.Fault {
				if string(req) == "stall" {
					return simhttpd.FaultStall
				}
				return simhttpd.FaultNone
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		addr := srv.Addr().String()
		var trs []*httpd.Transport
		for range 3 {
			tr, err := httpd.Dial(context.Background(), addr, httpd.Options{ExchangeTimeout: 200 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			trs = append(trs, tr)
			tr.Exchange(context.Background(), "echo", []byte("x"))
		}
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		trs[2].Exchange(ctx, "echo", []byte("stall"))
		trs[1].Exchange(context.Background(), "echo", []byte("stall"))
		srv.Close()
		for _, tr := range trs {
			tr.Close()
		}
	}()
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
