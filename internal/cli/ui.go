package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

// ui is the terminal side: prompts (plain and hidden), the progress
// indicator, and line output that does not collide with the indicator.
type ui struct {
	in     io.Reader
	inFd   int
	inTTY  bool
	out    io.Writer
	errw   io.Writer
	errTTY bool

	mu        sync.Mutex
	spinLabel string
	spinOn    bool
	drawn     bool
	stopCh    chan struct{}
	doneCh    chan struct{}

	saved *term.State
}

func newUI(in io.Reader, out, errw io.Writer) *ui {
	u := &ui{in: in, out: out, errw: errw}
	u.inFd, u.inTTY = isTerminal(in)
	_, u.errTTY = isTerminal(errw)
	return u
}

// println writes one line to stdout, clearing the progress indicator first.
func (u *ui) println(format string, a ...any) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.clearLocked()
	fmt.Fprintf(u.out, format+"\n", a...)
}

// print writes text without a newline (prompts).
func (u *ui) print(format string, a ...any) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.clearLocked()
	fmt.Fprintf(u.out, format, a...)
}

func (u *ui) clearLocked() {
	if u.drawn {
		fmt.Fprint(u.errw, "\r\033[K")
		u.drawn = false
	}
}

// startSpinner shows an animated "label" on stderr while waiting, when
// stderr is a terminal. It is hidden while lines are printed.
func (u *ui) startSpinner(label string) {
	if !u.errTTY {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	u.spinLabel = label
	if u.spinOn {
		return
	}
	u.spinOn = true
	u.stopCh = make(chan struct{})
	u.doneCh = make(chan struct{})
	go u.spin(u.stopCh, u.doneCh)
}

func (u *ui) spin(stop, done chan struct{}) {
	defer close(done)
	frames := []string{"|", "/", "-", "\\"}
	t := time.NewTicker(120 * time.Millisecond)
	defer t.Stop()
	start := time.Now()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		u.mu.Lock()
		fmt.Fprintf(u.errw, "\r\033[K%s %s (%ds)", frames[i%len(frames)], u.spinLabel, int(time.Since(start).Seconds()))
		u.drawn = true
		u.mu.Unlock()
	}
}

func (u *ui) stopSpinner() {
	u.mu.Lock()
	if !u.spinOn {
		u.mu.Unlock()
		return
	}
	u.spinOn = false
	stop, done := u.stopCh, u.doneCh
	u.mu.Unlock()
	close(stop)
	<-done
	u.mu.Lock()
	u.clearLocked()
	u.mu.Unlock()
}

func (u *ui) close() { u.stopSpinner() }

// restore puts the terminal back if a hidden prompt was interrupted.
func (u *ui) restore() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.saved != nil {
		_ = term.Restore(u.inFd, u.saved)
		u.saved = nil
	}
}

// readLine reads one line from stdin without buffering ahead (so hidden
// prompts that read the terminal directly see the following input).
func (u *ui) readLine(ctx context.Context) (string, error) {
	type res struct {
		s   string
		err error
	}
	ch := make(chan res, 1)
	go func() {
		var sb strings.Builder
		b := make([]byte, 1)
		for {
			n, err := u.in.Read(b)
			if n == 1 {
				if b[0] == '\n' {
					ch <- res{strings.TrimRight(sb.String(), "\r"), nil}
					return
				}
				sb.WriteByte(b[0])
			}
			if err != nil {
				if errors.Is(err, io.EOF) && sb.Len() > 0 {
					ch <- res{sb.String(), nil}
					return
				}
				ch <- res{"", fmt.Errorf("reading input: %w", err)}
				return
			}
		}
	}()
	select {
	case r := <-ch:
		return r.s, r.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// ask prints a prompt and reads a line.
func (u *ui) ask(ctx context.Context, prompt string) (string, error) {
	u.stopSpinner()
	u.print("%s", prompt)
	return u.readLine(ctx)
}

// askSecret prints a prompt and reads a line without echo. At a terminal,
// echo is turned off and typed-ahead input discarded before the prompt is
// printed: keystrokes typed once the prompt shows are never echoed, however
// late the reading starts.
func (u *ui) askSecret(ctx context.Context, prompt string) (string, error) {
	u.stopSpinner()
	if !u.inTTY {
		u.print("%s", prompt)
		return u.readLine(ctx)
	}
	st, err := term.GetState(u.inFd)
	if err == nil {
		u.mu.Lock()
		u.saved = st
		u.mu.Unlock()
	}
	// Where echoOff is unsupported, ReadPassword turns echo off after the
	// prompt (the old, racy order).
	_, _ = echoOff(u.inFd)
	u.print("%s", prompt)
	type res struct {
		b   []byte
		err error
	}
	ch := make(chan res, 1)
	go func() {
		b, err := term.ReadPassword(u.inFd)
		ch <- res{b, err}
	}()
	select {
	case r := <-ch:
		u.restore()
		fmt.Fprintln(u.out)
		if r.err != nil {
			return "", fmt.Errorf("reading hidden input: %w", r.err)
		}
		return string(r.b), nil
	case <-ctx.Done():
		u.restore()
		return "", ctx.Err()
	}
}

// confirm asks a yes/no question; def is the answer for an empty line.
func (u *ui) confirm(ctx context.Context, prompt string, def bool) (bool, error) {
	for {
		s, err := u.ask(ctx, prompt)
		if err != nil {
			return false, err
		}
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "":
			return def, nil
		case "y", "yes":
			return true, nil
		case "n", "no":
			return false, nil
		}
		u.println("Please answer y or n.")
	}
}

func writeJSONLine(w io.Writer, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(`{"error":{"message":"cannot encode output"}}`)
	}
	_, _ = w.Write(append(b, '\n'))
}
