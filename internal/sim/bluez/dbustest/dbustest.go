// Package dbustest starts a private dbus-daemon for tests, so that D-Bus
// clients and the simulated BlueZ talk over a real bus instead of a mock.
//
// The daemon needs the dbus-daemon binary (Debian/Ubuntu package
// "dbus-daemon", pulled in by "dbus"). When it is missing, Start fails the
// test with a message saying so: a test that cannot run must not pass.
package dbustest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

// InstallHint tells a developer how to get the daemon.
const InstallHint = "dbus-daemon not found: install the Debian package dbus-daemon (apt-get install dbus-daemon, or the dbus package that depends on it)"

// Bus is a running private dbus-daemon configured as a permissive
// "system" bus listening on a Unix socket in a temporary directory.
type Bus struct {
	// Address is the D-Bus address to connect to (unix:path=…,guid=…).
	Address string

	dir  string
	cmd  *exec.Cmd
	done chan struct{}
	once sync.Once
}

const config = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=%s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
    <allow user="*"/>
  </policy>
</busconfig>
`

// StartDaemon starts a private dbus-daemon and waits until it prints its
// address. The caller must Close it. ctx bounds the start-up.
func StartDaemon(ctx context.Context) (*Bus, error) {
	bin, err := exec.LookPath("dbus-daemon")
	if err != nil {
		return nil, fmt.Errorf("dbustest: %s: %w", InstallHint, err)
	}
	dir, err := os.MkdirTemp("", "dbustest-")
	if err != nil {
		return nil, fmt.Errorf("dbustest: %w", err)
	}
	sock := filepath.Join(dir, "bus")
	conf := filepath.Join(dir, "bus.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(config, sock)), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("dbustest: %w", err)
	}
	cmd := exec.Command(bin, "--config-file="+conf, "--print-address", "--nofork", "--nopidfile")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("dbustest: %w", err)
	}
	stderr := &lockedWriter{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("dbustest: start dbus-daemon: %w", err)
	}
	b := &Bus{dir: dir, cmd: cmd, done: make(chan struct{})}
	addrCh := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			addrCh <- strings.TrimSpace(sc.Text())
		}
		close(addrCh)
		// Drain until the daemon exits so it never blocks on a full pipe.
		for sc.Scan() {
		}
	}()
	go func() {
		_ = cmd.Wait()
		close(b.done)
	}()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	select {
	case addr, ok := <-addrCh:
		if !ok || addr == "" {
			b.Close()
			return nil, fmt.Errorf("dbustest: dbus-daemon printed no address (stderr: %s)", stderr.String())
		}
		b.Address = addr
	case <-ctx.Done():
		b.Close()
		return nil, fmt.Errorf("dbustest: dbus-daemon did not start: %w", ctx.Err())
	}
	return b, nil
}

// Start starts a private bus for t and stops it in t.Cleanup. It fails the
// test (never skips) when dbus-daemon is not installed.
func Start(t testing.TB) *Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := StartDaemon(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// Conn opens a new private connection to the bus (authenticated, Hello
// sent) and closes it in t.Cleanup.
func (b *Bus) Conn(t testing.TB) *dbus.Conn {
	t.Helper()
	c, err := b.Dial()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Dial opens a new private connection to the bus. The caller closes it.
func (b *Bus) Dial() (*dbus.Conn, error) {
	c, err := dbus.Connect(b.Address)
	if err != nil {
		return nil, fmt.Errorf("dbustest: connect %s: %w", b.Address, err)
	}
	return c, nil
}

// Close kills the daemon, waits for it to exit (bounded) and removes its
// temporary directory. It is idempotent.
func (b *Bus) Close() error {
	var err error
	b.once.Do(func() {
		if b.cmd.Process != nil {
			_ = b.cmd.Process.Kill()
		}
		select {
		case <-b.done:
		case <-time.After(5 * time.Second):
			err = errors.New("dbustest: dbus-daemon did not exit")
		}
		os.RemoveAll(b.dir)
	})
	return err
}

type lockedWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
