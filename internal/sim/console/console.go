// Package simconsole serves the ESP-IDF protocomm console (protocol.md §8.3)
// on a real pseudo-terminal, so that the console transport can be tested
// end to end through go.bug.st/serial.
//
// The simulator owns the pty master and plays the firmware: it prints the
// prompt "\n>> ", echoes every typed byte (CR as CR LF), ends a line at CR,
// and runs `<endpoint> <session-id> <hex>` commands against a
// device.Protocomm. Success prints "\r\n<hex>\r\n" (through ESP-IDF's default
// LF→CRLF stdout translation, i.e. "\r\r\n<hex>\r\r\n"); failure prints
// nothing; then the prompt again. Clients open Path(), the pty slave.
package simconsole

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/espprov/espprov/internal/sim/device"
)

// DefaultLineMax is the firmware's console line buffer, CR included.
const DefaultLineMax = 256

// maxArgs is esp_console's max_cmdline_args in protocomm_console.
const maxArgs = 8

// Options configure the simulated console.
type Options struct {
	// Noise interleaves coloured ESP log lines with the console output:
	// between the prompt and the echo, before and after replies, and after a
	// rejected command.
	Noise bool
	// LineMax is the line buffer size including CR (default 256; IDF 6.x: 255).
	// A longer line is discarded without output.
	LineMax int
	// Delay holds every command this long before it is run (a slow or stalled
	// device). Input typed meanwhile stays queued, as in the UART buffer.
	Delay time.Duration
}

// Stats counts what the console saw.
type Stats struct {
	Lines     int // command lines received (CR-terminated, any content)
	Replies   int // commands answered with hex
	Failures  int // commands that printed nothing
	Overflows int // lines longer than LineMax
	Help      int // help commands
}

// Console is a running simulated console.
type Console struct {
	dev     device.Protocomm
	noise   bool
	lineMax int
	delay   atomic.Int64
	start   time.Time

	master *os.File
	slave  *os.File
	path   string

	done      chan struct{} // closed by Close
	exited    chan struct{} // closed when the serve goroutine returns
	closeOnce sync.Once
	stopCtx   func() bool

	mu    sync.Mutex
	stats Stats
	err   error
}

// Serve opens a pty pair and starts serving the console on its master side.
// It stops when ctx is done or Close is called.
func Serve(ctx context.Context, p device.Protocomm, opts Options) (*Console, error) {
	if p == nil {
		return nil, errors.New("simconsole: nil protocomm")
	}
	lineMax := opts.LineMax
	if lineMax == 0 {
		lineMax = DefaultLineMax
	}
	if lineMax < 2 {
		return nil, fmt.Errorf("simconsole: line limit %d too small", opts.LineMax)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("simconsole: %w", err)
	}
	master, slave, err := openPTY()
	if err != nil {
		return nil, fmt.Errorf("simconsole: %w", err)
	}
	c := &Console{
		dev:     p,
		noise:   opts.Noise,
		lineMax: lineMax,
		start:   time.Now(),
		master:  master,
		slave:   slave,
		path:    slave.Name(),
		done:    make(chan struct{}),
		exited:  make(chan struct{}),
	}
	c.delay.Store(int64(opts.Delay))
	c.stopCtx = context.AfterFunc(ctx, func() { _ = c.Close() })
	go c.serve()
	return c, nil
}

// openPTY opens a pty pair with the master registered with Go's poller (so
// that Close interrupts a pending Read or Write) and the slave in raw mode (so
// that the line discipline neither echoes device output back, nor turns CR
// into LF, nor holds the prompt back waiting for a newline).
func openPTY() (master, slave *os.File, err error) {
	m, s, err := pty.Open()
	if err != nil {
		return nil, nil, fmt.Errorf("open pty: %w", err)
	}
	// pty.Open leaves the master in blocking mode; re-wrap a non-blocking
	// duplicate so that it is pollable.
	fd, err := unix.Dup(int(m.Fd()))
	_ = m.Close()
	if err != nil {
		_ = s.Close()
		return nil, nil, fmt.Errorf("dup pty master: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		_ = unix.Close(fd)
		_ = s.Close()
		return nil, nil, fmt.Errorf("pty master non-blocking: %w", err)
	}
	master = os.NewFile(uintptr(fd), "/dev/ptmx")
	if err := makeRaw(s); err != nil {
		_ = master.Close()
		_ = s.Close()
		return nil, nil, err
	}
	return master, s, nil
}

func makeRaw(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("pty slave raw mode: %w", err)
	}
	var ioErr error
	err = rc.Control(func(fd uintptr) {
		t, err := unix.IoctlGetTermios(int(fd), unix.TCGETS)
		if err != nil {
			ioErr = err
			return
		}
		t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON | unix.IXOFF
		t.Oflag &^= unix.OPOST
		t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		t.Cflag &^= unix.CSIZE | unix.PARENB
		t.Cflag |= unix.CS8
		t.Cc[unix.VMIN] = 1
		t.Cc[unix.VTIME] = 0
		ioErr = unix.IoctlSetTermios(int(fd), unix.TCSETS, t)
	})
	if err == nil {
		err = ioErr
	}
	if err != nil {
		return fmt.Errorf("pty slave raw mode: %w", err)
	}
	return nil
}

// Path is the pty slave device (e.g. /dev/pts/5) for the client to open.
func (c *Console) Path() string { return c.path }

// SetDelay changes the per-command delay (see Options.Delay).
func (c *Console) SetDelay(d time.Duration) { c.delay.Store(int64(d)) }

// Stats returns the counters so far.
func (c *Console) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// Err returns the I/O error that stopped the console early, if any.
func (c *Console) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close stops the console, waits for its goroutine and closes the pty.
func (c *Console) Close() error {
	var err error
	c.closeOnce.Do(func() {
		close(c.done)
		err = c.master.Close() // interrupts a pending Read/Write
		<-c.exited
		if e := c.slave.Close(); err == nil {
			err = e
		}
		if c.stopCtx != nil {
			c.stopCtx()
		}
	})
	if err != nil {
		return fmt.Errorf("simconsole: close: %w", err)
	}
	return nil
}

func (c *Console) stopped() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func (c *Console) serve() {
	defer close(c.exited)
	if err := c.run(); err != nil && !c.stopped() {
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
	}
}

func (c *Console) run() error {
	if err := c.write([]byte("\n>> ")); err != nil {
		return err
	}
	buf := make([]byte, 1024)
	line := make([]byte, 0, c.lineMax)
	overflow, logged := false, false
	for {
		n, err := c.master.Read(buf)
		if err != nil {
			if errors.Is(err, unix.EIO) && !c.stopped() {
				// No slave open (cannot happen while we hold it); retry.
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return fmt.Errorf("read pty: %w", err)
		}
		in := buf[:n]
		for len(in) > 0 {
			i := 0
			for i < len(in) && in[i] != '\r' {
				i++
			}
			chunk := in[:i]
			if len(line) == 0 && !overflow && !logged {
				// A log line from another task lands between the prompt
				// and the echo.
				logged = true
				if err := c.log('I', "wifi", "state: init -> auth (b0)"); err != nil {
					return err
				}
			}
			// Echo what was typed; keep it while it fits the line buffer
			// (one byte stays reserved for the CR).
			if len(chunk) > 0 {
				if err := c.write(chunk); err != nil {
					return err
				}
				room := c.lineMax - 1 - len(line)
				if len(chunk) > room {
					overflow = true
					chunk = chunk[:max(room, 0)]
				}
				line = append(line, chunk...)
			}
			if i == len(in) {
				break
			}
			in = in[i+1:]
			if err := c.write([]byte("\r\n")); err != nil {
				return err
			}
			if err := c.command(string(line), overflow); err != nil {
				return err
			}
			line, overflow, logged = line[:0], false, false
			if err := c.write([]byte("\n>> ")); err != nil {
				return err
			}
		}
	}
}

// command runs one CR-terminated line.
func (c *Console) command(line string, overflow bool) error {
	c.count(func(s *Stats) { s.Lines++ })
	if d := time.Duration(c.delay.Load()); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-c.done:
			t.Stop()
			return errors.New("closed")
		}
	}
	if overflow {
		c.count(func(s *Stats) { s.Overflows++ })
		return c.log('E', "protocomm_console", fmt.Sprintf("command line longer than %d bytes discarded", c.lineMax))
	}
	args := strings.Fields(line)
	if len(args) > maxArgs {
		args = args[:maxArgs]
	}
	if len(args) == 0 {
		return nil
	}
	if args[0] == "help" {
		c.count(func(s *Stats) { s.Help++ })
		return c.help()
	}
	if len(args) < 3 {
		c.count(func(s *Stats) { s.Failures++ })
		return c.log('W', "protocomm_console", "usage: <endpoint> <session-id> <hex>")
	}
	session := strconv.FormatUint(uint64(atoi(args[1])), 10)
	req, err := hex.DecodeString(args[2])
	if err != nil {
		c.count(func(s *Stats) { s.Failures++ })
		return c.log('E', "protocomm_console", "invalid hex request")
	}
	if err := c.log('I', "wifi", "sta start"); err != nil {
		return err
	}
	resp, err := c.dev.Handle(session, args[0], req)
	if err != nil {
		c.count(func(s *Stats) { s.Failures++ })
		return c.log('E', "protocomm_console", "Error in protocomm_req_handle")
	}
	c.count(func(s *Stats) { s.Replies++ })
	out := make([]byte, 0, 2*len(resp)+6)
	out = append(out, "\r\r\n"...)
	out = hex.AppendEncode(out, resp)
	out = append(out, "\r\r\n"...)
	if err := c.write(out); err != nil {
		return err
	}
	return c.log('W', "wifi", "Haven't to connect to a suitable AP now!")
}

// help prints the registered commands the way esp_console's help does.
func (c *Console) help() error {
	cmds := append([]string{"help"}, c.dev.Endpoints()...)
	sort.Strings(cmds)
	var b strings.Builder
	for _, cmd := range cmds {
		if cmd == "help" {
			b.WriteString("help  [<string>]\r\n  Print the summary of all registered commands if no arguments are given,\r\n  otherwise print summary of given command.\r\n      <string>  Name of command\r\n\r\n")
			continue
		}
		b.WriteString(cmd + " \r\n  \r\n\r\n")
	}
	return c.write([]byte(b.String()))
}

// log prints an ESP-IDF log line (coloured, CRLF) when Noise is on.
func (c *Console) log(level byte, tag, msg string) error {
	if !c.noise {
		return nil
	}
	color := map[byte]string{'E': "31", 'W': "33", 'I': "32"}[level]
	ms := time.Since(c.start).Milliseconds() + 1234
	return c.write(fmt.Appendf(nil, "\x1b[0;%sm%c (%d) %s: %s\x1b[0m\r\n", color, level, ms, tag, msg))
}

func (c *Console) write(b []byte) error {
	for len(b) > 0 {
		n, err := c.master.Write(b)
		if err != nil {
			return fmt.Errorf("write pty: %w", err)
		}
		b = b[n:]
	}
	return nil
}

func (c *Console) count(f func(*Stats)) {
	c.mu.Lock()
	f(&c.stats)
	c.mu.Unlock()
}

// atoi mimics newlib's atoi on a 32-bit long as protocomm_console uses it:
// optional sign and leading digits, saturating at the int32 range, then
// converted to uint32.
func atoi(s string) uint32 {
	s = strings.TrimLeft(s, " \t")
	neg := false
	if s != "" && (s[0] == '-' || s[0] == '+') {
		neg = s[0] == '-'
		s = s[1:]
	}
	var v int64
	for i := 0; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		v = v*10 + int64(s[i]-'0')
		if v > math.MaxInt32+1 {
			v = math.MaxInt32 + 1
		}
	}
	if neg {
		v = -v
		if v < math.MinInt32 {
			v = math.MinInt32
		}
	} else if v > math.MaxInt32 {
		v = math.MaxInt32
	}
	return uint32(int32(v))
}
