package bench

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// Spawner builds the command that runs a benchmark child of role with
// args (espprov re-executes itself with a hidden subcommand).
type Spawner func(role string, args []string) *exec.Cmd

// proc is a running child process.
type proc struct {
	role   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *bufio.Reader
	stderr *tailBuffer
	hello  hello
}

// tailBuffer keeps the last bytes a child wrote on stderr, for errors.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 4096 {
		t.buf = t.buf[len(t.buf)-4096:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf))
}

const childTimeout = 60 * time.Second

func startProc(spawn Spawner, role string, args []string) (*proc, error) {
	cmd := spawn(role, args)
	p := &proc{role: role, cmd: cmd, stderr: &tailBuffer{}}
	cmd.Stderr = p.stderr
	var err error
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p.out = bufio.NewReader(stdout)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bench: start %s: %w", role, err)
	}
	if err := p.read(&p.hello); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

// read decodes the child's next line into v, within childTimeout.
func (p *proc) read(v any) error {
	type line struct {
		b   []byte
		err error
	}
	ch := make(chan line, 1)
	go func() {
		b, err := p.out.ReadBytes('\n')
		ch <- line{b, err}
	}()
	select {
	case l := <-ch:
		if l.err != nil {
			return fmt.Errorf("bench: %s process: %w (%s)", p.role, l.err, p.stderr)
		}
		if err := json.Unmarshal(l.b, v); err != nil {
			return fmt.Errorf("bench: %s process said %q: %w", p.role, l.b, err)
		}
		return nil
	case <-time.After(childTimeout):
		return fmt.Errorf("bench: %s process did not answer within %s", p.role, childTimeout)
	}
}

func (p *proc) call(c control) (Usage, error) {
	b, _ := json.Marshal(c)
	if _, err := p.stdin.Write(append(b, '\n')); err != nil {
		return Usage{}, fmt.Errorf("bench: %s process: %w (%s)", p.role, err, p.stderr)
	}
	var u Usage
	err := p.read(&u)
	return u, err
}

// close ends the child (stdin closed: it shuts down) and waits for it.
func (p *proc) close() error {
	_ = p.stdin.Close()
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("bench: %s process: %w (%s)", p.role, err, p.stderr)
		}
		return err
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
		return fmt.Errorf("bench: %s process did not stop; killed", p.role)
	}
}
