package cli

import (
	"bytes"
	"context"
	"encoding/csv"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/espprov/espprov/internal/jobstore/sqlite"
	"github.com/espprov/espprov/internal/server"
	"github.com/espprov/espprov/internal/sim/device"
	simhttpd "github.com/espprov/espprov/internal/sim/httpd"
	"github.com/espprov/espprov/services/jobs"
	"github.com/espprov/espprov/services/provisioning"
)

// cutProxy forwards TCP to a backend; cut drops every open connection (a
// network blip between the CLI and espprovd).
type cutProxy struct {
	l     net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func startCutProxy(t *testing.T, backend string) *cutProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{l: l}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", backend)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, b)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(b, c); b.Close() }()
			go func() { _, _ = io.Copy(c, b); c.Close() }()
		}
	}()
	t.Cleanup(func() { l.Close(); p.cut() })
	return p
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// startJobServer runs espprovd's server with jobs on a SQLite store.
func startJobServer(t *testing.T) string {
	t.Helper()
	return startJobServerWith(t, provisioning.Config{Modules: provisioning.DefaultModules()})
}

// startJobServerWith is startJobServer with a service configuration.
func startJobServerWith(t *testing.T, cfg provisioning.Config) string {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "jobs.db"), jobs.NewInstanceID())
	if err != nil {
		t.Fatal(err)
	}
	svc := provisioning.New(cfg)
	r, err := jobs.New(context.Background(), jobs.Config{Store: st, Service: svc, DeviceKey: svc.DeviceKey, WantsMapping: provisioning.WantsMapping})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.Start(context.Background(), server.Options{GRPCListen: "127.0.0.1:0", Service: jobs.NewServer(svc, r)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		_ = r.Shutdown(ctx)
		_ = st.Close()
	})
	return srv.GRPCAddr()
}

// gatedDevice holds the first prov-config exchange until opened.
type gatedDevice struct {
	device.Protocomm
	reached, release chan struct{}
	once, opened     sync.Once
}

func (g *gatedDevice) Handle(session, endpoint string, req []byte) ([]byte, error) {
	if endpoint == "prov-config" {
		first := false
		g.once.Do(func() { first = true; close(g.reached) })
		if first {
			<-g.release
		}
	}
	return g.Protocomm.Handle(session, endpoint, req)
}

func (g *gatedDevice) open() { g.opened.Do(func() { close(g.release) }) }

// TestProvisionReattachAndJobsCommands: provision --server --request-id
// survives a dropped connection by reattaching to its job (one device
// session, no event shown twice); then jobs list/get/watch/cancel/export.
func TestProvisionReattachAndJobsCommands(t *testing.T) {
	dev, err := device.New(device.Config{SecVer: 2, SecPatchVer: 1, SRPUsername: testUser, SRPPassword: testPoP, APs: testAPs,
		ConnectDelay: 20 * time.Millisecond, CleanupDelay: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	g := &gatedDevice{Protocomm: dev, reached: make(chan struct{}), release: make(chan struct{})}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := simhttpd.New(g, simhttpd.Options{})
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close() })
	t.Cleanup(g.open)
	_, port, _ := net.SplitHostPort(l.Addr().String())

	backend := startJobServer(t)
	proxy := startCutProxy(t, backend)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, "--server", proxy.l.Addr().String(), "--output", "json", "provision", "--transport", "httpd",
		"--device-ip", "127.0.0.1", "--device-port", port, "--sec_ver", "2", "--sec2_username", testUser, "--sec2_password", testPoP,
		"--ssid", testSSID, "--passphrase", testPass, "--request-id", "unit-9", "--serial-number", "SN-9", "--work-order", "WO-9",
		"--station", "st-1", "--label", "batch=7")
	cmd.Env = []string{"HOME=" + t.TempDir(), "XDG_CONFIG_HOME=" + t.TempDir()}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	<-g.reached
	proxy.cut() // the connection drops mid-job
	g.open()
	err = cmd.Wait()
	if err != nil {
		t.Fatalf("provision: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errb.String())
	}
	if !strings.Contains(errb.String(), "reattaching to the job of request id unit-9") {
		t.Errorf("no reattach note on stderr:\n%s", errb.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if strings.Count(out.String(), "STEP_CONNECTING") != 1 || strings.Count(out.String(), "STEP_RESULT") != 1 ||
		!strings.Contains(lines[len(lines)-1], `"success":true`) {
		t.Errorf("events shown (each once, ending in success):\n%s", out.String())
	}
	if st := dev.Stats(); st.HandshakesCompleted != 1 {
		t.Errorf("device handshakes %d, want 1 (the reattach must not provision again)", st.HandshakesCompleted)
	}
	id := between(lines[0], `"jobId":"`, `"`)
	if id == "" {
		t.Fatalf("no job id in %s", lines[0])
	}

	srv := []string{"--server", backend}
	r := runCLI(t, nil, "", append(srv, "jobs", "list", "--work-order", "WO-9")...)
	if r.code != 0 || !strings.Contains(r.stdout, id) || !strings.Contains(r.stdout, "succeeded") || !strings.Contains(r.stdout, "SN-9") {
		t.Errorf("jobs list: %s", transcript(r))
	}
	r = runCLI(t, nil, "", append(srv, "jobs", "list", "--state", "failed")...)
	if r.code != 0 || strings.Contains(r.stdout, id) {
		t.Errorf("jobs list --state failed: %s", transcript(r))
	}
	r = runCLI(t, nil, "", append(srv, "jobs", "get", id)...)
	for _, want := range []string{"State:", "succeeded", "Serial number:", "SN-9", "Station:", "st-1", "batch=7", "Steps:", "session_established", "Station IP:"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("jobs get lacks %q: %s", want, transcript(r))
		}
	}
	r = runCLI(t, nil, "", append(srv, "--output", "json", "jobs", "watch", id, "--after", "2")...)
	wl := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 0 || !strings.Contains(wl[0], `"sequence":"3"`) || !strings.Contains(wl[len(wl)-1], "JOB_STATE_SUCCEEDED") {
		t.Errorf("jobs watch --after 2: %s", transcript(r))
	}
	r = runCLI(t, nil, "", append(srv, "jobs", "cancel", id)...)
	if r.code != 0 || !strings.Contains(r.stdout, "is succeeded") {
		t.Errorf("jobs cancel of a finished job: %s", transcript(r))
	}
	r = runCLI(t, nil, "", append(srv, "jobs", "export", "--format", "csv", "--serial-number", "SN-9")...)
	recs, err := csv.NewReader(strings.NewReader(r.stdout)).ReadAll()
	if r.code != 0 || err != nil || len(recs) != 2 || recs[1][0] != id || recs[1][1] != "SUCCEEDED" {
		t.Errorf("jobs export: %v %s", err, transcript(r))
	}
	for _, bad := range [][]string{{"jobs", "list"}, append(srv, "jobs", "get"), append(srv, "jobs", "list", "--state", "done"), append(srv, "jobs", "export", "--format", "xml")} {
		if r := runCLI(t, nil, "", bad...); r.code != ExitUsage {
			t.Errorf("%q: exit %d, want %d: %s", bad, r.code, ExitUsage, transcript(r))
		}
	}
	if r := runCLI(t, nil, "", append(srv, "jobs", "get", "job-unknown")...); r.code == 0 || !strings.Contains(r.stderr, "no job") {
		t.Errorf("jobs get of an unknown job: %s", transcript(r))
	}
	if r := runCLI(t, nil, "", "provision", "--request-id", "x", "--transport", "httpd", "--device-ip", "127.0.0.1"); r.code != ExitUsage || !strings.Contains(r.stderr, "--server") {
		t.Errorf("--request-id without --server: %s", transcript(r))
	}
}

func between(s, a, b string) string {
	i := strings.Index(s, a)
	if i < 0 {
		return ""
	}
	s = s[i+len(a):]
	j := strings.Index(s, b)
	if j < 0 {
		return ""
	}
	return s[:j]
}
