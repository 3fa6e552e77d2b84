// Package console is the UART console transport (protocol.md §8.3): it talks
// to an ESP-IDF device running protocomm_console over a serial port, one
// command line per exchange.
//
// Each exchange writes `<endpoint> <session-id> <hex-request>` followed by CR,
// then reads what the device prints until its next `>> ` prompt: the echo of
// the line, optional ESP log lines (`I (1234) wifi: ...`, possibly coloured),
// and on success one line of hex holding the response. A prompt without a hex
// line means the device failed the exchange (protocomm prints nothing then).
//
// The firmware reads commands into a 256-byte line buffer (255 bytes on IDF
// 6.x), CR included. Every request is checked against that limit before
// anything is written; in practice only Security 0 and Security 1 fit (a
// Security 2 Command0 is 406 bytes, i.e. 812 hex characters).
package console

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"go.bug.st/serial"

	"github.com/espprov/espprov/transports"
)

// Defaults for Options.
const (
	DefaultBaudRate        = 115200
	DefaultExchangeTimeout = 10 * time.Second
	// DefaultMaxLine is the firmware's console line buffer (LINE_BUF_SIZE in
	// protocomm_console.c), CR included. IDF 6.x accepts one byte less (255).
	DefaultMaxLine = 256
	// IDF6MaxLine is the line limit of the IDF 6.x console (protocol.md §13.1
	// item 13); pass it as Options.MaxLine for such firmware.
	IDF6MaxLine = 255
	// DefaultScanPageSize is the number of Wi-Fi scan results requested per
	// prov-scan exchange. Responses are not limited by the line buffer (the
	// device prints them in full); 4 matches what esp_prov uses on BLE.
	DefaultScanPageSize = 4

	// maxSessionID keeps ids within the device's atoi() range.
	maxSessionID = math.MaxInt32
	// randomSessionIDs bounds random ids to 5 digits so that they cost little
	// of the line budget.
	randomSessionIDs = 99999
	// pollInterval bounds how long a Read blocks, so that ctx cancellation and
	// Close are noticed promptly.
	pollInterval = 50 * time.Millisecond
)

// Parity of the serial line.
type Parity int

// Parity values.
const (
	ParityNone Parity = iota
	ParityOdd
	ParityEven
)

// Options configure Open. Zero values select the defaults.
type Options struct {
	// BaudRate of the UART (default 115200). The line is 8N1 unless DataBits,
	// Parity or StopBits say otherwise.
	BaudRate int
	DataBits int    // 5..8, default 8
	Parity   Parity // default none
	StopBits int    // 1 or 2, default 1
	// ExchangeTimeout bounds one exchange, from the write of the command line
	// to the device's next prompt (default 10 s). A shorter ctx deadline wins.
	ExchangeTimeout time.Duration
	// SessionID is the console session id sent with every command. A session
	// id different from the device's last one makes it start a new security
	// session. 0 picks a random id in 1..99999. At most 2147483647 (the device
	// parses it with atoi).
	SessionID uint32
	// MaxLine is the device's command line limit in bytes including the CR
	// (default 256). Use 255 for IDF 6.x firmware; use a larger value only when
	// the firmware was built with a larger console buffer.
	MaxLine int
}

// Transport is a console transport on one serial port. It implements
// transports.Transport and transports.Limits. Exchanges are serialised.
type Transport struct {
	port    serial.Port
	name    string
	timeout time.Duration
	maxLine int

	mu        sync.Mutex // serialises exchanges
	sessionID uint32

	closeOnce sync.Once
	closed    chan struct{}
	closeErr  error

	buf []byte // read buffer, reused
}

var (
	_ transports.Transport = (*Transport)(nil)
	_ transports.Limits    = (*Transport)(nil)
)

// Open opens the serial port (e.g. /dev/ttyUSB0, COM3) for the console
// transport. It leaves DTR/RTS as the OS sets them (InitialStatusBits unset),
// which is also what makes it work on a pseudo-terminal. Opening does not
// talk to the device.
func Open(ctx context.Context, port string, opts Options) (*Transport, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("console: open %s: %w", port, err)
	}
	mode, err := opts.mode()
	if err != nil {
		return nil, fmt.Errorf("console: open %s: %w", port, err)
	}
	if opts.ExchangeTimeout < 0 {
		return nil, fmt.Errorf("console: open %s: negative exchange timeout", port)
	}
	if opts.MaxLine < 0 {
		return nil, fmt.Errorf("console: open %s: negative line limit", port)
	}
	if opts.SessionID > maxSessionID {
		return nil, fmt.Errorf("console: open %s: session id %d above %d (the device parses it with atoi)", port, opts.SessionID, maxSessionID)
	}
	t := &Transport{
		name:      port,
		timeout:   opts.ExchangeTimeout,
		maxLine:   opts.MaxLine,
		sessionID: opts.SessionID,
		closed:    make(chan struct{}),
		buf:       make([]byte, 4096),
	}
	if t.timeout == 0 {
		t.timeout = DefaultExchangeTimeout
	}
	if t.maxLine == 0 {
		t.maxLine = DefaultMaxLine
	}
	if t.sessionID == 0 {
		t.sessionID = randomSessionID()
	}
	p, err := serial.Open(port, mode)
	if err != nil {
		return nil, fmt.Errorf("console: open %s: %w: %w", port, transports.ErrUnreachable, err)
	}
	t.port = p
	return t, nil
}

func (o Options) mode() (*serial.Mode, error) {
	m := &serial.Mode{BaudRate: o.BaudRate, DataBits: o.DataBits}
	if m.BaudRate == 0 {
		m.BaudRate = DefaultBaudRate
	}
	if m.BaudRate < 0 {
		return nil, fmt.Errorf("invalid baud rate %d", o.BaudRate)
	}
	if m.DataBits == 0 {
		m.DataBits = 8
	}
	if m.DataBits < 5 || m.DataBits > 8 {
		return nil, fmt.Errorf("invalid data bits %d", o.DataBits)
	}
	switch o.Parity {
	case ParityNone:
		m.Parity = serial.NoParity
	case ParityOdd:
		m.Parity = serial.OddParity
	case ParityEven:
		m.Parity = serial.EvenParity
	default:
		return nil, fmt.Errorf("invalid parity %d", o.Parity)
	}
	switch o.StopBits {
	case 0, 1:
		m.StopBits = serial.OneStopBit
	case 2:
		m.StopBits = serial.TwoStopBits
	default:
		return nil, fmt.Errorf("invalid stop bits %d", o.StopBits)
	}
	// InitialStatusBits stays nil on purpose (landscape.md §5.8).
	return m, nil
}

func randomSessionID() uint32 {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 1
	}
	return binary.BigEndian.Uint32(b[:])%randomSessionIDs + 1
}

// Port returns the serial port name given to Open.
func (t *Transport) Port() string { return t.name }

// SessionID returns the console session id in use.
func (t *Transport) SessionID() uint32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.sessionID
}

// NewSession switches to a fresh random session id, so that the device
// discards its security state on the next exchange. It returns the new id.
func (t *Transport) NewSession() uint32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.sessionID
	for t.sessionID == old {
		t.sessionID = randomSessionID()
	}
	return t.sessionID
}

// MaxLine is the device line limit in use, CR included.
func (t *Transport) MaxLine() int { return t.maxLine }

// MaxRequest is the largest request in bytes that fits the device's line
// buffer on endpoint with the current session id: the command line
// `<endpoint> <id> <hex>` plus CR must not exceed MaxLine.
func (t *Transport) MaxRequest(endpoint string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.maxRequest(endpoint)
}

func (t *Transport) maxRequest(endpoint string) int {
	room := t.maxLine - 1 - len(endpoint) - 1 - len(strconv.FormatUint(uint64(t.sessionID), 10)) - 1
	if room < 0 {
		return 0
	}
	return room / 2
}

// MaxMessage implements transports.Limits: the largest request that fits the
// line on every built-in endpoint (the longest name is "prov-session").
// Responses are not limited by the line buffer.
func (t *Transport) MaxMessage() int { return t.MaxRequest("prov-session") }

// ScanPageSize implements transports.Limits.
func (t *Transport) ScanPageSize() int { return DefaultScanPageSize }

// Close closes the serial port; a pending Exchange returns ErrClosed.
func (t *Transport) Close() error {
	t.closeOnce.Do(func() {
		close(t.closed)
		if err := t.port.Close(); err != nil {
			t.closeErr = fmt.Errorf("console: close %s: %w", t.name, err)
		}
	})
	return t.closeErr
}

func (t *Transport) isClosed() bool {
	select {
	case <-t.closed:
		return true
	default:
		return false
	}
}

// Exchange sends request to endpoint and returns the device's response.
func (t *Transport) Exchange(ctx context.Context, endpoint string, request []byte) ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.isClosed() {
		return nil, fmt.Errorf("console: %s: %w: transport closed", endpoint, transports.ErrClosed)
	}
	if err := validEndpoint(endpoint); err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	if len(request) == 0 {
		// The firmware needs three arguments; an empty hex word is no argument.
		return nil, fmt.Errorf("console: %s: %w: empty requests cannot be sent over the console", endpoint, transports.ErrProtocol)
	}
	if max := t.maxRequest(endpoint); len(request) > max {
		return nil, fmt.Errorf("console: %s: %w: request of %d bytes needs a %d-byte command line, "+
			"but the device's console line buffer holds %d bytes including CR (at most %d request bytes on this endpoint); "+
			"Security 2 cannot run over the console transport",
			endpoint, transports.ErrTooLarge, len(request), t.lineLen(endpoint, len(request)), t.maxLine, max)
	}
	if err := ctx.Err(); err != nil {
		return nil, t.ctxError(endpoint, err)
	}

	line := make([]byte, 0, t.lineLen(endpoint, len(request)))
	line = append(line, endpoint...)
	line = append(line, ' ')
	line = strconv.AppendUint(line, uint64(t.sessionID), 10)
	line = append(line, ' ')
	line = hex.AppendEncode(line, request)

	p := parser{command: line}
	if err := t.roundTrip(ctx, endpoint, line, &p); err != nil {
		return nil, err
	}
	if p.reply != nil {
		return p.reply, nil
	}
	return nil, fmt.Errorf("console: %s: %w: device rejected the request (no reply before its prompt)", endpoint, transports.ErrClosed)
}

// roundTrip sends one command line and feeds the device's output to p
// until its prompt. The caller holds t.mu.
func (t *Transport) roundTrip(ctx context.Context, endpoint string, line []byte, p *parser) error {
	deadline := time.Now().Add(t.timeout)
	byCtx := false
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline, byCtx = d, true
	}

	// Drop whatever the device printed since the last exchange (log lines,
	// its prompt, a reply that came after an earlier timeout).
	if err := t.port.ResetInputBuffer(); err != nil {
		return t.portError(endpoint, "flush input", err)
	}
	if err := t.write(append(line, '\r')); err != nil {
		return t.portError(endpoint, "write", err)
	}
	for {
		if err := ctx.Err(); err != nil {
			return t.ctxError(endpoint, err)
		}
		left := time.Until(deadline)
		if left <= 0 {
			if byCtx {
				return t.ctxError(endpoint, context.DeadlineExceeded)
			}
			return fmt.Errorf("console: %s: %w: no prompt from the device within %v", endpoint, transports.ErrTimeout, t.timeout)
		}
		if err := t.port.SetReadTimeout(min(left, pollInterval)); err != nil {
			return t.portError(endpoint, "set read timeout", err)
		}
		n, err := t.port.Read(t.buf)
		if err != nil {
			return t.portError(endpoint, "read", err)
		}
		if n == 0 {
			continue
		}
		if p.feed(t.buf[:n]) {
			return nil
		}
	}
}

// HasEndpoint asks the device's console `help` (esp_console lists every
// registered command, and protocomm_console registers one per endpoint)
// whether it has endpoint. The console cannot tell a missing endpoint from
// a failing one in an exchange (both print nothing), so callers ask this
// after a failed exchange. It implements transports.EndpointChecker.
func (t *Transport) HasEndpoint(ctx context.Context, endpoint string) (bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.isClosed() {
		return false, fmt.Errorf("console: help: %w: transport closed", transports.ErrClosed)
	}
	found := false
	p := parser{command: []byte("help"), collect: func(l []byte) {
		if f := bytes.Fields(l); len(f) > 0 && (l[0] != ' ' && l[0] != '\t') && string(f[0]) == endpoint {
			found = true
		}
	}}
	if err := t.roundTrip(ctx, "help", []byte("help"), &p); err != nil {
		return false, err
	}
	return found, nil
}

func (t *Transport) lineLen(endpoint string, reqLen int) int {
	return len(endpoint) + 1 + len(strconv.FormatUint(uint64(t.sessionID), 10)) + 1 + 2*reqLen + 1
}

func (t *Transport) write(b []byte) error {
	for len(b) > 0 {
		n, err := t.port.Write(b)
		if err != nil {
			return err
		}
		if n <= 0 {
			return errors.New("short write")
		}
		b = b[n:]
	}
	return nil
}

func (t *Transport) ctxError(endpoint string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("console: %s: %w: %w", endpoint, transports.ErrTimeout, err)
	}
	return fmt.Errorf("console: %s: %w", endpoint, err)
}

func (t *Transport) portError(endpoint, op string, err error) error {
	if t.isClosed() {
		return fmt.Errorf("console: %s: %w: transport closed", endpoint, transports.ErrClosed)
	}
	var pe *serial.PortError
	if errors.As(err, &pe) && pe.Code() == serial.PortClosed {
		return fmt.Errorf("console: %s: %s %s: %w: %w", endpoint, op, t.name, transports.ErrClosed, err)
	}
	return fmt.Errorf("console: %s: %s %s: %w", endpoint, op, t.name, err)
}

// validEndpoint rejects names that would not arrive as one console word.
func validEndpoint(endpoint string) error {
	if endpoint == "" {
		return fmt.Errorf("%w: empty endpoint name", transports.ErrNoEndpoint)
	}
	for i := 0; i < len(endpoint); i++ {
		c := endpoint[i]
		if c <= ' ' || c >= 0x7f || c == '"' || c == '\'' || c == '\\' {
			return fmt.Errorf("%w: endpoint name %q cannot be sent as a console command", transports.ErrNoEndpoint, endpoint)
		}
	}
	return nil
}

// parser follows the device output of one exchange.
//
// Lines are split at LF; CR, ANSI escape sequences and other control bytes
// are removed. Nothing counts before the echo of our own command line (that
// keeps a late reply to an earlier, timed-out exchange from being taken for
// ours). After the echo, a pure even-length hex line is the reply, other
// lines are log output, and the prompt `>> ` ends the exchange.
type parser struct {
	command []byte
	// collect, when set, receives every line after the echo (help output).
	collect func(line []byte)
	partial []byte
	echoed  bool
	empty   int // empty lines after the echo
	reply   []byte
}

// feed consumes device output and reports whether the prompt was seen.
func (p *parser) feed(b []byte) bool {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			p.partial = append(p.partial, b...)
			break
		}
		p.partial = append(p.partial, b[:i]...)
		b = b[i+1:]
		line := clean(p.partial)
		p.partial = p.partial[:0]
		if p.line(line) {
			return true
		}
	}
	if p.echoed && string(clean(p.partial)) == ">> " {
		return p.finish()
	}
	return false
}

// line handles one complete, cleaned line; true when it carried the prompt.
func (p *parser) line(l []byte) bool {
	if !p.echoed {
		if len(l) >= len(p.command) && bytes.HasSuffix(l, p.command) {
			p.echoed = true
		}
		return false
	}
	isPrompt := bytes.HasPrefix(l, []byte(">> ")) || string(l) == ">>"
	if p.collect != nil && !isPrompt {
		p.collect(l)
	}
	switch {
	case len(l) == 0:
		p.empty++
	case isPrompt:
		// The prompt, followed by output that was printed after it.
		return p.finish()
	case p.reply == nil && isHex(l):
		p.reply = make([]byte, len(l)/2)
		_, _ = hex.Decode(p.reply, l)
	}
	return false
}

func (p *parser) finish() bool {
	// protocomm prints "\r\n<hex>\r\n" on success. An empty response thus
	// shows up as two extra empty lines before the prompt's own LF, whereas a
	// failure prints nothing (one empty line: the prompt's LF).
	if p.reply == nil && p.empty >= 3 {
		p.reply = []byte{}
	}
	return true
}

func isHex(l []byte) bool {
	if len(l) == 0 || len(l)%2 != 0 {
		return false
	}
	for _, c := range l {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// clean removes ANSI escape sequences (ESC [ ... final byte) and control
// bytes other than TAB (CR included).
func clean(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c == 0x1b:
			if i+1 < len(b) && b[i+1] == '[' {
				j := i + 2
				for j < len(b) && !(b[j] >= 0x40 && b[j] <= 0x7e) {
					j++
				}
				i = j // skip the final byte too
			} else {
				i++ // two-byte escape
			}
		case c < ' ' && c != '\t', c == 0x7f:
		default:
			out = append(out, c)
		}
	}
	return out
}
