package station_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The browser tests run the real programs: espprovd and espsim built from
// this module (or taken from $ESPPROV_BIN_DIR, as `make test-clients`
// does), on loopback ports the kernel picks.

var (
	binOnce sync.Once
	binDir  string
	binTmp  string
	binErr  error
)

// binaries builds espprovd and espsim once per test run.
func binaries(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		if d := os.Getenv("ESPPROV_BIN_DIR"); d != "" {
			binDir = d
			return
		}
		binTmp, binErr = os.MkdirTemp("", "espprov-station-bin-")
		if binErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", binTmp+"/", "github.com/espprov/espprov/cmd/espprovd", "github.com/espprov/espprov/cmd/espsim")
		out, err := cmd.CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build espprovd espsim: %v\n%s", err, out)
			return
		}
		binDir = binTmp
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binDir
}

func cleanBinaries() {
	if binTmp != "" {
		os.RemoveAll(binTmp)
	}
}

// proc is a started program whose output is collected; changed is
// signalled on every line.
type proc struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	ping chan struct{}
	done chan struct{}
}

func startProc(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	return startProcEnv(t, nil, name, args...)
}

// startProcEnv starts a program with extra environment variables.
func startProcEnv(t *testing.T, env []string, name string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, ping: make(chan struct{}, 1), done: make(chan struct{})}
	p.cmd = exec.Command(filepath.Join(binaries(t), name), args...)
	p.cmd.Env = append(os.Environ(), env...)
	pr, pw := io.Pipe()
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.out.Write(sc.Bytes())
			p.out.WriteByte('\n')
			p.mu.Unlock()
			select {
			case p.ping <- struct{}{}:
			default:
			}
		}
		io.Copy(io.Discard, pr)
	}()
	go func() {
		p.cmd.Wait()
		pw.Close()
		close(p.done)
	}()
	t.Cleanup(p.stop)
	return p
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// waitLines waits for at least n lines matching re and returns their
// submatches.
func (p *proc) waitLines(re *regexp.Regexp, n int, timeout time.Duration) [][]string {
	p.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		if m := re.FindAllStringSubmatch(p.output(), -1); len(m) >= n {
			return m
		}
		select {
		case <-p.ping:
		case <-p.done:
			if m := re.FindAllStringSubmatch(p.output(), -1); len(m) >= n {
				return m
			}
			p.t.Fatalf("%s ended before printing %s:\n%s", p.name, re, p.output())
		case <-deadline.C:
			p.t.Fatalf("%s did not print %d× %s within %v:\n%s", p.name, n, re, timeout, p.output())
		}
	}
}

// stop sends SIGTERM and waits; SIGKILL after 20 s.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		p.t.Errorf("%s did not stop on SIGTERM", p.name)
	}
}

// Secrets of the tests: none may appear in a page, a log or a record.
const (
	ssid      = "factory-net"
	wifiPass  = "wifi-Secret-4711"
	sec2User  = "wifiprov"
	sec2Pass  = "label-Pop-0815"
	wrongPoP  = "not-the-pop-99"
	waitShort = 30 * time.Second
	waitLong  = 90 * time.Second
)

var simLine = regexp.MustCompile(`(?m)^(\S+) listening on (\S+) \(node (\S+),`)

// unit is one simulated device: its QR name, address and node id.
type unit struct{ name, addr, node string }

// fleet is a running espsim: its units and, with --cloud-listen, its
// simulated RainMaker cloud.
type fleet struct {
	units []unit
	cloud string // RainMaker API base URL ("" without a cloud)
}

var cloudLine = regexp.MustCompile(`(?m)^RainMaker cloud on (\S+) `)

// startSim runs espsim with n Security 2 devices in range of the factory
// network, plus extra flags (faults, delays, RainMaker).
func startSim(t *testing.T, n int, extra ...string) fleet {
	t.Helper()
	args := append([]string{"--http-listen", "127.0.0.1:0", "--fleet", fmt.Sprint(n), "--sec-ver", "2",
		"--sec2-username", sec2User, "--sec2-password", sec2Pass, "--ap", ssid + ":" + wifiPass,
		"--connect-delay", "100ms"}, extra...)
	p := startProc(t, "espsim", args...)
	var f fleet
	for _, m := range p.waitLines(simLine, n, waitShort) {
		f.units = append(f.units, unit{name: m[1], addr: m[2], node: m[3]})
	}
	if m := cloudLine.FindStringSubmatch(p.output()); m != nil {
		f.cloud = m[1]
	}
	return f
}

// qr is the unit's provisioning label (Espressif v1 JSON).
func (u unit) qr(pop string) string {
	b, _ := json.Marshal(map[string]any{"ver": "v1", "name": u.name, "pop": pop, "transport": "softap", "security": 2, "username": sec2User})
	return string(b)
}

// server is a running espprovd.
type server struct {
	*proc
	url   string // http://127.0.0.1:PORT
	token string // "" without authentication
	dir   string
}

// startServer runs espprovd on loopback with one profile, "line-1", that
// reaches every unit of f by name and maps the nodes to the account of
// f's RainMaker cloud when it has one; withAuth creates a token file with
// one station token (scopes provision and jobs.read).
func startServer(t *testing.T, f fleet, withAuth bool) *server {
	t.Helper()
	s := &server{dir: t.TempDir()}
	var b strings.Builder
	fmt.Fprintf(&b, "profiles:\n  - name: line-1\n    description: Line 1, fixture A\n    transport: httpd\n    security: 2\n    sec2_username: %s\n", sec2User)
	fmt.Fprintf(&b, "    wifi: {ssid: %s, passphrase: %s}\n    work_order: WO-7\n    station: line-1-a\n", ssid, wifiPass)
	fmt.Fprintf(&b, "    mapping: {enabled: %v}\n", f.cloud != "")
	b.WriteString("    timeouts: {exchange: 10s, overall: 2m, wifi_connect: 60s}\n    addresses:\n")
	for _, u := range f.units {
		fmt.Fprintf(&b, "      %s: %s\n", u.name, u.addr)
	}
	profiles := filepath.Join(s.dir, "profiles.yaml")
	if err := os.WriteFile(profiles, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--grpc-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--log-format", "json",
		"--store", filepath.Join(s.dir, "jobs.db"), "--profiles", profiles}
	if withAuth {
		tokens := filepath.Join(s.dir, "tokens.yaml")
		out, err := exec.Command(filepath.Join(binaries(t), "espprovd"), "token", "create", "--file", tokens,
			"--name", "station-1", "--scopes", "provision,jobs.read").Output()
		if err != nil {
			t.Fatalf("espprovd token create: %v", err)
		}
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		s.token = strings.TrimSpace(lines[len(lines)-1])
		args = append(args, "--auth-tokens", tokens)
	}
	var env []string
	if f.cloud != "" {
		// The account of espsim's cloud (its defaults), in the environment
		// rather than on the command line.
		env = []string{"ESPPROV_RAINMAKER_URL=" + f.cloud, "ESPPROV_RAINMAKER_USER=maker@example.com", "ESPPROV_RAINMAKER_PASSWORD=makerpass"}
	}
	s.proc = startProcEnv(t, env, "espprovd", args...)
	m := s.waitLines(regexp.MustCompile(`"msg":"espprovd serving".*?"http":"([^"]+)"`), 1, waitShort)
	s.url = "http://" + m[0][1]
	return s
}

// get calls the REST API as the station token and decodes the answer.
func (s *server) get(t *testing.T, path string, out any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.url+path, nil)
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", path, res.Status, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, body)
	}
}

// ctxTimeout is a context for one wait.
func ctxTimeout(parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(parent, d)
}
