package netnstest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// AvahiService is one static DNS-SD service for avahi-daemon.
type AvahiService struct {
	Name string   // instance name
	Type string   // e.g. "_esp_rmaker_chal_resp._tcp"
	Port int      //
	TXT  []string // "key=value"
}

// AvahiConfig describes an avahi-daemon run.
type AvahiConfig struct {
	// HostName is published as HostName.local with the addresses of the
	// allowed interfaces.
	HostName string
	// Interfaces is allow-interfaces (default "lo").
	Interfaces []string
	Services   []AvahiService
}

// StartAvahi runs Debian's avahi-daemon inside the test's namespace (a
// responder that is not ours: enable-dbus=no, static service files,
// allow-interfaces) until the test ends. It must be called in a netnstest
// child: the daemon's service directory and runtime directory are bind
// mounts private to the child's mount namespace (`ip netns exec` made one),
// so nothing of the machine's own avahi setup is touched. It returns once
// the daemon reports "Server startup complete".
func StartAvahi(t *testing.T, cfg AvahiConfig) {
	t.Helper()
	if !Inside() {
		t.Fatal("netnstest: StartAvahi needs a namespace (call it after netnstest.Run returned true)")
	}
	bin, err := exec.LookPath("avahi-daemon")
	if err != nil {
		bin = "/usr/sbin/avahi-daemon"
		if _, serr := os.Stat(bin); serr != nil {
			t.Fatalf("netnstest: avahi-daemon not installed (apt-get install avahi-daemon; .ci/run does): %v", err)
		}
	}
	dir := t.TempDir()
	svcDir, runDir := filepath.Join(dir, "services"), filepath.Join(dir, "run")
	for _, d := range []string{svcDir, runDir, "/etc/avahi/services", "/run/avahi-daemon"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range [][2]string{{svcDir, "/etc/avahi/services"}, {runDir, "/run/avahi-daemon"}} {
		if err := syscall.Mount(m[0], m[1], "", syscall.MS_BIND, ""); err != nil {
			t.Fatalf("netnstest: bind %s over %s: %v", m[0], m[1], err)
		}
		target := m[1]
		t.Cleanup(func() { _ = syscall.Unmount(target, syscall.MNT_DETACH) })
	}
	ifs := cfg.Interfaces
	if len(ifs) == 0 {
		ifs = []string{"lo"}
	}
	conf := fmt.Sprintf(`[server]
host-name=%s
domain-name=local
use-ipv4=yes
use-ipv6=yes
allow-interfaces=%s
enable-dbus=no
ratelimit-interval-usec=0
[wide-area]
enable-wide-area=no
[publish]
publish-addresses=yes
publish-hinfo=no
publish-workstation=no
publish-domain=no
[reflector]
enable-reflector=no
[rlimits]
`, cfg.HostName, strings.Join(ifs, ","))
	confPath := filepath.Join(dir, "avahi-daemon.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	for i, s := range cfg.Services {
		var txt strings.Builder
		for _, kv := range s.TXT {
			fmt.Fprintf(&txt, "    <txt-record>%s</txt-record>\n", kv)
		}
		x := fmt.Sprintf(`<?xml version="1.0" standalone='no'?>
<!DOCTYPE service-group SYSTEM "avahi-service.dtd">
<service-group>
  <name>%s</name>
  <service>
    <type>%s</type>
    <port>%d</port>
%s  </service>
</service-group>
`, s.Name, s.Type, s.Port, txt.String())
		if err := os.WriteFile(filepath.Join(svcDir, fmt.Sprintf("s%d.service", i)), []byte(x), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(bin, "-f", confPath, "--no-drop-root", "--no-chroot", "--no-rlimits", "--no-proc-title")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatalf("netnstest: starting avahi-daemon: %v", err)
	}
	ready := make(chan struct{})
	var log lockedLog
	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		sc := bufio.NewScanner(stderr)
		closed := false
		for sc.Scan() {
			log.add(sc.Text())
			if !closed && strings.Contains(sc.Text(), "Server startup complete") {
				closed = true
				close(ready)
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		<-logDone
		t.Logf("avahi-daemon log:\n%s", log.text())
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	select {
	case <-ready:
	case <-logDone:
		t.Fatalf("netnstest: avahi-daemon exited before startup completed:\n%s", log.text())
	case <-ctx.Done():
		t.Fatalf("netnstest: avahi-daemon did not complete its startup in 20s:\n%s", log.text())
	}
}

type lockedLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedLog) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.WriteString(line + "\n")
}

func (l *lockedLog) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
