package simconsole

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.bug.st/serial"

	"github.com/espprov/espprov/internal/sim/device"
)

// scripted is a device.Protocomm that answers "ok:" + request, fails on
// endpoint "fail" and knows only a few endpoints.
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
	case "fail":
		return nil, errors.New("handler failed")
	case "echo", "proto-ver":
		return append([]byte("ok:"), req...), nil
	}
	return nil, device.ErrUnknownEndpoint
}

func (s *scripted) Endpoints() []string { return []string{"echo", "fail", "proto-ver"} }

func (s *scripted) CloseSession(string) {}

func (s *scripted) Calls() []call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]call(nil), s.calls...)
}

// openPort opens the console like a real client: go.bug.st/serial, 115200,
// InitialStatusBits unset.
func openPort(t *testing.T, c *Console) serial.Port {
	t.Helper()
	p, err := serial.Open(c.Path(), &serial.Mode{BaudRate: 115200})
	if err != nil {
		t.Fatalf("serial.Open(%s): %v", c.Path(), err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// readUntil reads until want appears in the output or 3 s pass.
func readUntil(t *testing.T, p serial.Port, want string) string {
	t.Helper()
	var got []byte
	buf := make([]byte, 512)
	deadline := time.Now().Add(3 * time.Second)
	if err := p.SetReadTimeout(20 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	for time.Now().Before(deadline) {
		n, err := p.Read(buf)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		got = append(got, buf[:n]...)
		if bytes.Contains(got, []byte(want)) {
			return string(got)
		}
	}
	t.Fatalf("did not see %q; got %q", want, got)
	return ""
}

func serve(t *testing.T, p device.Protocomm, opts Options) *Console {
	t.Helper()
	c, err := Serve(context.Background(), p, opts)
	if err != nil {
		t.Fatalf("Serve: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := c.Err(); err != nil {
			t.Errorf("console stopped with %v", err)
		}
	})
	return c
}

func TestTranscripts(t *testing.T) {
	long := strings.Repeat("ab", 200)
	tests := []struct {
		name    string
		opts    Options
		input   string
		want    string // exact device output after the initial prompt, up to the last prompt
		stats   Stats
		session string // session passed to Handle, if any
	}{
		{
			name:    "success",
			input:   "echo 7 0102\r",
			want:    "echo 7 0102\r\n\r\r\n6f6b3a0102\r\r\n\n>> ",
			stats:   Stats{Lines: 1, Replies: 1},
			session: "7",
		},
		{
			name:    "upper-case hex and extra args",
			input:   "echo 12 ABCD x y\r",
			want:    "echo 12 ABCD x y\r\n\r\r\n6f6b3aabcd\r\r\n\n>> ",
			stats:   Stats{Lines: 1, Replies: 1},
			session: "12",
		},
		{
			name:  "handler failure prints nothing",
			input: "fail 7 00\r",
			want:  "fail 7 00\r\n\n>> ",
			stats: Stats{Lines: 1, Failures: 1},
		},
		{
			name:  "unknown endpoint prints nothing",
			input: "nope 7 00\r",
			want:  "nope 7 00\r\n\n>> ",
			stats: Stats{Lines: 1, Failures: 1},
		},
		{
			name:  "too few arguments",
			input: "echo 7\r",
			want:  "echo 7\r\n\n>> ",
			stats: Stats{Lines: 1, Failures: 1},
		},
		{
			name:  "odd hex",
			input: "echo 7 abc\r",
			want:  "echo 7 abc\r\n\n>> ",
			stats: Stats{Lines: 1, Failures: 1},
		},
		{
			name:  "empty line",
			input: "\r",
			want:  "\r\n\n>> ",
			stats: Stats{Lines: 1},
		},
		{
			name:  "overflow discarded",
			input: "echo 7 " + long + "\r",
			want:  "echo 7 " + long + "\r\n\n>> ",
			stats: Stats{Lines: 1, Overflows: 1},
		},
		{
			name:    "line of exactly LineMax with CR",
			opts:    Options{LineMax: 16},
			input:   "echo 1 01020304\r", // 15 + CR
			want:    "echo 1 01020304\r\n\r\r\n6f6b3a01020304\r\r\n\n>> ",
			stats:   Stats{Lines: 1, Replies: 1},
			session: "1",
		},
		{
			name:  "one over LineMax",
			opts:  Options{LineMax: 15},
			input: "echo 1 01020304\r",
			want:  "echo 1 01020304\r\n\n>> ",
			stats: Stats{Lines: 1, Overflows: 1},
		},
		{
			name:  "noise around the reply",
			opts:  Options{Noise: true},
			input: "echo 7 01\r",
			want: "\x1b[0;32mI (*) wifi: state: init -> auth (b0)\x1b[0m\r\n" +
				"echo 7 01\r\n\x1b[0;32mI (*) wifi: sta start\x1b[0m\r\n\r\r\n6f6b3a01\r\r\n" +
				"\x1b[0;33mW (*) wifi: Haven't to connect to a suitable AP now!\x1b[0m\r\n\n>> ",
			stats:   Stats{Lines: 1, Replies: 1},
			session: "7",
		},
		{
			name:  "noise on failure",
			opts:  Options{Noise: true},
			input: "fail 7 01\r",
			want: "\x1b[0;32mI (*) wifi: state: init -> auth (b0)\x1b[0m\r\n" +
				"fail 7 01\r\n\x1b[0;32mI (*) wifi: sta start\x1b[0m\r\n" +
				"\x1b[0;31mE (*) protocomm_console: Error in protocomm_req_handle\x1b[0m\r\n\n>> ",
			stats: Stats{Lines: 1, Failures: 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dev := &scripted{}
			c := serve(t, dev, tc.opts)
			p := openPort(t, c)
			readUntil(t, p, "\n>> ") // initial prompt
			if _, err := p.Write([]byte(tc.input)); err != nil {
				t.Fatal(err)
			}
			got := readUntil(t, p, "\n>> ")
			if !matchStars(tc.want, got) {
				t.Errorf("output\n got %q\nwant %q", got, tc.want)
			}
			if s := c.Stats(); s != tc.stats {
				t.Errorf("stats %+v, want %+v", s, tc.stats)
			}
			calls := dev.Calls()
			if tc.session != "" {
				if len(calls) != 1 || calls[0].session != tc.session {
					t.Errorf("calls %+v, want one with session %q", calls, tc.session)
				}
			}
		})
	}
}

// matchStars compares want and got where '*' in want matches a run of digits.
func matchStars(want, got string) bool {
	for want != "" {
		if want[0] == '*' {
			i := 0
			for i < len(got) && got[i] >= '0' && got[i] <= '9' {
				i++
			}
			if i == 0 {
				return false
			}
			want, got = want[1:], got[i:]
			continue
		}
		if got == "" || got[0] != want[0] {
			return false
		}
		want, got = want[1:], got[1:]
	}
	return got == ""
}

func TestEchoIsByteByByteAndCRLF(t *testing.T) {
	c := serve(t, &scripted{}, Options{})
	p := openPort(t, c)
	readUntil(t, p, "\n>> ")
	// Typed slowly, like a human: each byte is echoed as it arrives.
	for _, b := range []byte("ech") {
		if _, err := p.Write([]byte{b}); err != nil {
			t.Fatal(err)
		}
		readUntil(t, p, string(b))
	}
	if _, err := p.Write([]byte("o 3 ff\r")); err != nil {
		t.Fatal(err)
	}
	got := readUntil(t, p, "\n>> ")
	if want := "o 3 ff\r\n\r\r\n6f6b3aff\r\r\n\n>> "; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestSessionIDs(t *testing.T) {
	dev := &scripted{}
	c := serve(t, dev, Options{})
	p := openPort(t, c)
	readUntil(t, p, "\n>> ")
	for _, id := range []string{"0", "5", "5", "4294967295", "-1", "12abc", "x"} {
		if _, err := fmt.Fprintf(p, "echo %s 00\r", id); err != nil {
			t.Fatal(err)
		}
		readUntil(t, p, "\n>> ")
	}
	var got []string
	for _, cl := range dev.Calls() {
		got = append(got, cl.session)
	}
	want := []string{"0", "5", "5", "2147483647", "4294967295", "12", "0"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("sessions %v, want %v", got, want)
	}
}

func TestAtoi(t *testing.T) {
	tests := []struct {
		in   string
		want uint32
	}{
		{"0", 0}, {"42", 42}, {"+42", 42}, {" 7", 7}, {"2147483647", 2147483647},
		{"2147483648", 2147483647}, {"99999999999999999999", 2147483647},
		{"-1", 4294967295}, {"-2147483648", 2147483648}, {"-99999999999", 2147483648},
		{"", 0}, {"abc", 0}, {"12abc", 12},
	}
	for _, tc := range tests {
		if got := atoi(tc.in); got != tc.want {
			t.Errorf("atoi(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func TestHelp(t *testing.T) {
	c := serve(t, &scripted{}, Options{})
	p := openPort(t, c)
	readUntil(t, p, "\n>> ")
	if _, err := p.Write([]byte("help\r")); err != nil {
		t.Fatal(err)
	}
	got := readUntil(t, p, "\n>> ")
	for _, want := range []string{"help  [<string>]", "echo \r\n", "fail \r\n", "proto-ver \r\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("help output %q lacks %q", got, want)
		}
	}
	if s := c.Stats(); s.Help != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestDelayQueuesInput(t *testing.T) {
	dev := &scripted{}
	c := serve(t, dev, Options{Delay: 150 * time.Millisecond})
	p := openPort(t, c)
	readUntil(t, p, "\n>> ")
	start := time.Now()
	if _, err := p.Write([]byte("echo 1 01\recho 1 02\r")); err != nil {
		t.Fatal(err)
	}
	got := readUntil(t, p, "6f6b3a02")
	if el := time.Since(start); el < 300*time.Millisecond {
		t.Errorf("two delayed commands answered after %v", el)
	}
	if !strings.Contains(got, "6f6b3a01\r\r\n\n>> echo 1 02\r\n") {
		t.Errorf("second command not run after the first: %q", got)
	}
}

func TestClientReopen(t *testing.T) {
	c := serve(t, &scripted{}, Options{})
	for i := range 3 {
		p, err := serial.Open(c.Path(), &serial.Mode{BaudRate: 115200})
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		if err := p.ResetInputBuffer(); err != nil {
			t.Fatal(err)
		}
		if _, err := fmt.Fprintf(p, "echo %d 0%d\r", i, i); err != nil {
			t.Fatal(err)
		}
		readUntil(t, p, fmt.Sprintf("6f6b3a0%d", i))
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCloseNoLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	for _, opts := range []Options{{}, {Delay: time.Hour}} {
		c, err := Serve(context.Background(), &scripted{}, opts)
		if err != nil {
			t.Fatal(err)
		}
		p, err := serial.Open(c.Path(), &serial.Mode{BaudRate: 115200})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Write([]byte("echo 1 01\r")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond) // let the console pick the line up
		done := make(chan error, 1)
		go func() { done <- c.Close() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Close: %v", err)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("Close hangs")
		}
		if err := c.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		_ = p.Close()
	}
	waitGoroutines(t, before)
}

func TestContextStopsConsole(t *testing.T) {
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	c, err := Serve(ctx, &scripted{}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case <-c.exited:
	case <-time.After(2 * time.Second):
		t.Fatal("console still running after ctx cancel")
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close after cancel: %v", err)
	}
	waitGoroutines(t, before)

	if _, err := Serve(ctx, &scripted{}, Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Serve with done ctx: %v", err)
	}
}

func waitGoroutines(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
