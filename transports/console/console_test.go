package console

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/espprov/espprov/internal/sim/console"
	"github.com/espprov/espprov/internal/sim/device"
	"github.com/espprov/espprov/transports"
)

// scripted is a device.Protocomm with fixed answers: "echo" returns
// "ok:"+request, "empty" returns nothing, "fail" fails, anything else is an
// unknown endpoint.
type scripted struct {
	mu    sync.Mutex
	calls []call
}

type call struct {
	session, endpoint string
	req               []byte
}

func (s *scripted) Handle(session, endpoint string, req []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, call{session, endpoint, append([]byte(nil), req...)})
	switch endpoint {
	case "echo", "prov-session", "prov-config":
		return append([]byte("ok:"), req...), nil
	case "empty":
		return []byte{}, nil
	case "fail":
		return nil, errors.New("handler failed")
	}
	return nil, device.ErrUnknownEndpoint
}

func (s *scripted) Endpoints() []string { return []string{"echo", "empty", "fail"} }

func (s *scripted) CloseSession(string) {}

func (s *scripted) Calls() []call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]call(nil), s.calls...)
}

func startSim(t *testing.T, p device.Protocomm, opts simconsole.Options) *simconsole.Console {
	t.Helper()
	c, err := simconsole.Serve(context.Background(), p, opts)
	if err != nil {
		t.Fatalf("simconsole.Serve: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("sim Close: %v", err)
		}
		if err := c.Err(); err != nil {
			t.Errorf("sim stopped with %v", err)
		}
	})
	return c
}

func open(t *testing.T, path string, opts Options) *Transport {
	t.Helper()
	tr, err := Open(context.Background(), path, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { _ = tr.Close() })
	return tr
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestExchange(t *testing.T) {
	seq := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i * 7)
		}
		return b
	}
	tests := []struct {
		name     string
		noise    bool
		endpoint string
		req      []byte
		want     []byte
		wantErr  error
	}{
		{"one byte", false, "echo", []byte{0}, []byte("ok:\x00"), nil},
		{"one byte with noise", true, "echo", []byte{0xff}, []byte("ok:\xff"), nil},
		{"largest request", false, "echo", seq(122), append([]byte("ok:"), seq(122)...), nil},
		{"largest request with noise", true, "echo", seq(122), append([]byte("ok:"), seq(122)...), nil},
		{"empty response", false, "empty", []byte{1}, []byte{}, nil},
		{"empty response with noise", true, "empty", []byte{1}, []byte{}, nil},
		{"handler failure", false, "fail", []byte{1}, nil, transports.ErrClosed},
		{"handler failure with noise", true, "fail", []byte{1}, nil, transports.ErrClosed},
		{"unknown endpoint", true, "nope", []byte{1}, nil, transports.ErrClosed},
		{"one byte too large", false, "echo", seq(123), nil, transports.ErrTooLarge},
		{"empty request", false, "echo", nil, nil, transports.ErrProtocol},
		{"endpoint with space", false, "ec ho", []byte{1}, nil, transports.ErrNoEndpoint},
		{"empty endpoint", false, "", []byte{1}, nil, transports.ErrNoEndpoint},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dev := &scripted{}
			sim := startSim(t, dev, simconsole.Options{Noise: tc.noise})
			// Session id 12345: "echo 12345 " + hex + CR ≤ 256 → 244 hex chars.
			tr := open(t, sim.Path(), Options{SessionID: 12345, ExchangeTimeout: 2 * time.Second})
			if got := tr.MaxRequest("echo"); got != 122 {
				t.Fatalf("MaxRequest(echo) = %d, want 122", got)
			}
			got, err := tr.Exchange(ctxT(t), tc.endpoint, tc.req)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			if !bytes.Equal(got, tc.want) || got == nil {
				t.Errorf("reply %x, want %x", got, tc.want)
			}
			calls := dev.Calls()
			if len(calls) != 1 || calls[0].session != "12345" || calls[0].endpoint != tc.endpoint || !bytes.Equal(calls[0].req, tc.req) {
				t.Errorf("device saw %+v", calls)
			}
		})
	}
}

// The largest request per MaxRequest must really fit the device's buffer,
// for every session-id length; one more byte is refused before sending.
func TestLineLimitBoundary(t *testing.T) {
	for _, tc := range []struct {
		maxLine int
		id      uint32
	}{{256, 1}, {256, 12}, {256, 99999}, {256, 2147483647}, {255, 7}, {255, 88}, {300, 3}} {
		t.Run(strconv.Itoa(tc.maxLine)+"/"+strconv.Itoa(int(tc.id)), func(t *testing.T) {
			dev := &scripted{}
			sim := startSim(t, dev, simconsole.Options{LineMax: tc.maxLine})
			tr := open(t, sim.Path(), Options{SessionID: tc.id, MaxLine: tc.maxLine, ExchangeTimeout: 2 * time.Second})
			n := tr.MaxRequest("prov-config")
			line := len("prov-config ") + len(strconv.Itoa(int(tc.id))) + 1 + 2*n + 1
			if line > tc.maxLine || line+2 <= tc.maxLine {
				t.Fatalf("MaxRequest %d gives a %d-byte line for limit %d", n, line, tc.maxLine)
			}
			req := bytes.Repeat([]byte{0xa5}, n)
			if _, err := tr.Exchange(ctxT(t), "prov-config", req); err != nil {
				t.Fatalf("largest request: %v", err)
			}
			_, err := tr.Exchange(ctxT(t), "prov-config", append(req, 1))
			if !errors.Is(err, transports.ErrTooLarge) {
				t.Fatalf("one byte more: %v", err)
			}
			if !strings.Contains(err.Error(), strconv.Itoa(tc.maxLine)+" bytes including CR") {
				t.Errorf("error does not name the line limit: %v", err)
			}
			if s := sim.Stats(); s.Lines != 1 || s.Overflows != 0 {
				t.Errorf("device stats %+v, want exactly one line", s)
			}
		})
	}
}

// A device whose buffer is smaller than the client believes (IDF 6.x: 255)
// discards the line; the client reports a rejected exchange, not a hang.
func TestDeviceOverflow(t *testing.T) {
	sim := startSim(t, &scripted{}, simconsole.Options{LineMax: 255})
	tr := open(t, sim.Path(), Options{SessionID: 1, MaxLine: 256, ExchangeTimeout: 2 * time.Second})
	req := bytes.Repeat([]byte{1}, tr.MaxRequest("echo"))
	_, err := tr.Exchange(ctxT(t), "echo", req)
	if !errors.Is(err, transports.ErrClosed) {
		t.Fatalf("err = %v, want ErrClosed", err)
	}
	if s := sim.Stats(); s.Overflows != 1 {
		t.Errorf("device stats %+v", s)
	}
	// The transport keeps working afterwards.
	if got, err := tr.Exchange(ctxT(t), "echo", []byte{9}); err != nil || string(got) != "ok:\x09" {
		t.Errorf("after overflow: %q, %v", got, err)
	}
}

// Security 2 cannot go through the console: the 406-byte Command0 is refused
// before anything is written, and the error names the line limit.
func TestSecurity2Command0Refused(t *testing.T) {
	sim := startSim(t, &scripted{}, simconsole.Options{})
	tr := open(t, sim.Path(), Options{})
	if m := tr.MaxRequest("prov-session"); m >= 406 || m != tr.MaxMessage() {
		t.Fatalf("MaxRequest(prov-session) = %d, MaxMessage = %d", m, tr.MaxMessage())
	}
	_, err := tr.Exchange(ctxT(t), "prov-session", make([]byte, 406))
	if !errors.Is(err, transports.ErrTooLarge) || !strings.Contains(err.Error(), "256 bytes") || !strings.Contains(err.Error(), "Security 2") {
		t.Fatalf("err = %v", err)
	}
	time.Sleep(50 * time.Millisecond)
	if s := sim.Stats(); s.Lines != 0 {
		t.Errorf("device received %d lines", s.Lines)
	}
}

func TestSessionIDs(t *testing.T) {
	dev := &scripted{}
	sim := startSim(t, dev, simconsole.Options{Noise: true})

	a := open(t, sim.Path(), Options{})
	if id := a.SessionID(); id == 0 || id > randomSessionIDs {
		t.Fatalf("random session id %d out of range", id)
	}
	if _, err := a.Exchange(ctxT(t), "echo", []byte{1}); err != nil {
		t.Fatal(err)
	}
	first := a.SessionID()
	second := a.NewSession()
	if second == first {
		t.Fatal("NewSession kept the id")
	}
	if _, err := a.Exchange(ctxT(t), "echo", []byte{2}); err != nil {
		t.Fatal(err)
	}
	_ = a.Close()

	b := open(t, sim.Path(), Options{SessionID: 2147483647})
	if _, err := b.Exchange(ctxT(t), "echo", []byte{3}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range dev.Calls() {
		got = append(got, c.session)
	}
	want := []string{strconv.Itoa(int(first)), strconv.Itoa(int(second)), "2147483647"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("device sessions %v, want %v", got, want)
	}

	if _, err := Open(context.Background(), sim.Path(), Options{SessionID: 2147483648}); err == nil {
		t.Error("session id beyond atoi range accepted")
	}
}

// A stalled device: the exchange times out with ErrTimeout; its late reply
// must not be taken for the answer to the next exchange.
func TestTimeoutAndLateReply(t *testing.T) {
	// The device needs 400 ms for the first command; the transport waits 300.
	// The second exchange starts at 300 ms, the late reply comes at 400 ms,
	// the second reply right after it.
	sim := startSim(t, &scripted{}, simconsole.Options{Noise: true, Delay: 400 * time.Millisecond})
	tr := open(t, sim.Path(), Options{ExchangeTimeout: 300 * time.Millisecond})
	start := time.Now()
	_, err := tr.Exchange(ctxT(t), "echo", []byte("first"))
	if !errors.Is(err, transports.ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if el := time.Since(start); el < 300*time.Millisecond || el > time.Second {
		t.Errorf("timeout after %v", el)
	}
	sim.SetDelay(0)
	got, err := tr.Exchange(ctxT(t), "echo", []byte("second"))
	if err != nil {
		t.Fatalf("second exchange: %v", err)
	}
	if string(got) != "ok:second" {
		t.Errorf("second exchange got %q (late reply of the first?)", got)
	}
}

func TestContext(t *testing.T) {
	sim := startSim(t, &scripted{}, simconsole.Options{Delay: 5 * time.Second})
	tr := open(t, sim.Path(), Options{ExchangeTimeout: 10 * time.Second})

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err := tr.Exchange(ctx, "echo", []byte{1})
	if !errors.Is(err, context.Canceled) || errors.Is(err, transports.ErrTimeout) {
		t.Fatalf("cancel: %v", err)
	}
	if el := time.Since(start); el > time.Second {
		t.Errorf("cancel noticed after %v", el)
	}

	ctx2, cancel2 := context.WithTimeout(context.Background(), 80*time.Millisecond)
	defer cancel2()
	_, err = tr.Exchange(ctx2, "echo", []byte{1})
	if !errors.Is(err, transports.ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("deadline: %v", err)
	}

	done, cancel3 := context.WithCancel(context.Background())
	cancel3()
	if _, err := tr.Exchange(done, "echo", []byte{1}); !errors.Is(err, context.Canceled) {
		t.Fatalf("done ctx: %v", err)
	}
}

func TestCloseDuringExchange(t *testing.T) {
	before := runtime.NumGoroutine()
	sim, err := simconsole.Serve(context.Background(), &scripted{}, simconsole.Options{Delay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := Open(context.Background(), sim.Path(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := tr.Exchange(context.Background(), "echo", []byte{1})
		errc <- err
	}()
	time.Sleep(100 * time.Millisecond)
	if err := tr.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, transports.ErrClosed) {
			t.Errorf("pending exchange: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not unblock Exchange")
	}
	if err := tr.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := tr.Exchange(context.Background(), "echo", []byte{1}); !errors.Is(err, transports.ErrClosed) {
		t.Errorf("Exchange after Close: %v", err)
	}
	if err := sim.Close(); err != nil {
		t.Errorf("sim Close: %v", err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutine leak: %d → %d\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestOpenErrors(t *testing.T) {
	_, err := Open(context.Background(), "/dev/nonexistent-espprov-tty", Options{})
	if !errors.Is(err, transports.ErrUnreachable) {
		t.Errorf("missing port: %v", err)
	}
	sim := startSim(t, &scripted{}, simconsole.Options{})
	for name, o := range map[string]Options{
		"data bits": {DataBits: 9},
		"stop bits": {StopBits: 3},
		"parity":    {Parity: 7},
		"baud":      {BaudRate: -1},
		"timeout":   {ExchangeTimeout: -1},
		"max line":  {MaxLine: -1},
	} {
		if _, err := Open(context.Background(), sim.Path(), o); err == nil {
			t.Errorf("%s: invalid options accepted", name)
		}
	}
	// 7E2 and other line settings open fine on the pty.
	tr := open(t, sim.Path(), Options{BaudRate: 921600, DataBits: 7, Parity: ParityEven, StopBits: 2})
	_ = tr.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Open(ctx, sim.Path(), Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Open with done ctx: %v", err)
	}
}

func TestLimits(t *testing.T) {
	sim := startSim(t, &scripted{}, simconsole.Options{})
	tr := open(t, sim.Path(), Options{SessionID: 1})
	var l transports.Limits = tr
	// "prov-session 1 " + hex + CR ≤ 256 → 240 hex chars.
	if l.MaxMessage() != 120 || l.ScanPageSize() != 4 {
		t.Errorf("MaxMessage %d, ScanPageSize %d", l.MaxMessage(), l.ScanPageSize())
	}
	if tr.MaxRequest(strings.Repeat("x", 300)) != 0 {
		t.Error("MaxRequest with a huge endpoint name is not 0")
	}
}
