package packaging

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDebInstallsAndServes builds the .deb (or takes $ESPPROV_DEB), installs
// it with dpkg -i, checks what it installed, then runs the installed
// espprovd from /etc/espprov/espprovd.yaml as the espprov user, creates a
// token with the installed `espprovd token create`, and provisions an
// installed espsim device through it with the installed espprov CLI. It
// purges the package at the end. Needs root and dpkg (CI has both).
func TestDebInstallsAndServes(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test installs a .deb: run it as root (CI does)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	unlock := lockMachine(t)
	defer unlock()

	deb := os.Getenv("ESPPROV_DEB")
	if deb == "" {
		deb = buildDeb(t, ctx)
	}
	sh(t, ctx, "dpkg", "-i", deb)
	t.Cleanup(func() {
		if out, err := exec.Command("dpkg", "--purge", "espprov").CombinedOutput(); err != nil {
			t.Errorf("dpkg --purge: %v\n%s", err, out)
		}
		if _, err := os.Stat("/usr/bin/espprovd"); err == nil {
			t.Error("/usr/bin/espprovd still there after purge")
		}
	})

	// What the package installed.
	unit := readFile(t, "/lib/systemd/system/espprovd.service")
	for _, want := range []string{"User=espprov", "SupplementaryGroups=bluetooth dialout", "NoNewPrivileges=yes", "ProtectSystem=strict",
		"StateDirectory=espprov", "ExecStart=/usr/bin/espprovd --config /etc/espprov/espprovd.yaml", "ExecReload=/bin/kill -HUP $MAINPID"} {
		if !strings.Contains(unit, want) {
			t.Errorf("systemd unit lacks %q", want)
		}
	}
	if _, err := exec.LookPath("systemd-analyze"); err == nil {
		if out := sh(t, ctx, "systemd-analyze", "verify", "espprovd.service"); strings.TrimSpace(out) != "" {
			t.Errorf("systemd-analyze verify espprovd.service:\n%s", out)
		}
	}
	if !regexp.MustCompile(`(?m)^espprov:x:\d+:\d+:`).MatchString(readFile(t, "/etc/passwd")) {
		t.Fatal("no espprov user")
	}
	groups := sh(t, ctx, "id", "-nG", "espprov")
	for _, g := range []string{"espprov", "bluetooth", "dialout"} {
		if !strings.Contains(" "+strings.TrimSpace(groups)+" ", " "+g+" ") {
			t.Errorf("espprov is not in group %s (%s)", g, strings.TrimSpace(groups))
		}
	}
	if got := strings.TrimSpace(sh(t, ctx, "stat", "-c", "%U:%G %a", "/etc/espprov/tokens.yaml")); got != "root:espprov 640" {
		t.Errorf("tokens file owner and mode: %s", got)
	}
	if v := sh(t, ctx, "/usr/bin/espprovd", "--version"); !strings.HasPrefix(v, "espprovd ") || strings.Contains(v, "(devel)") || strings.Contains(v, "commit unknown") {
		t.Errorf("installed espprovd --version is not stamped: %q", v)
	}
	if v := sh(t, ctx, "/usr/bin/espprov", "--version"); !strings.HasPrefix(v, "espprov ") || strings.Contains(v, "commit unknown") {
		t.Errorf("installed espprov --version: %q", v)
	}
	sh(t, ctx, "/usr/bin/espprovd", "config", "print", "--config", "/etc/espprov/espprovd.yaml")

	// A token, created as an operator would, kept readable by the service.
	out := sh(t, ctx, "/usr/bin/espprovd", "token", "create", "--file", "/etc/espprov/tokens.yaml", "--name", "deb-test", "--scopes", "provision,discover")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	token := lines[len(lines)-1]
	if got := strings.TrimSpace(sh(t, ctx, "stat", "-c", "%U:%G %a", "/etc/espprov/tokens.yaml")); got != "root:espprov 640" {
		t.Errorf("tokens file after token create: %s", got)
	}

	// A simulated device from the package.
	dev := exec.CommandContext(ctx, "/usr/bin/espsim", "--http-listen", "127.0.0.1:0", "--sec-ver", "2",
		"--sec2-username", "wifiprov", "--sec2-password", "deb-Srp-Secret", "--ap", "line-net:deb-Wifi-Secret", "--connect-delay", "200ms")
	devAddr := startAndWait(t, dev, regexp.MustCompile(`listening on (\S+)`), true)

	// The installed espprovd, from the installed config, as the espprov user
	// (loopback ports from the environment: the config's fixed ports may be
	// taken on this machine).
	srv := exec.CommandContext(ctx, "setpriv", "--reuid=espprov", "--regid=espprov", "--init-groups", "--no-new-privs",
		"/usr/bin/espprovd", "--config", "/etc/espprov/espprovd.yaml")
	srv.Env = append(os.Environ(), "ESPPROV_GRPC_LISTEN=127.0.0.1:0", "ESPPROV_HTTP_LISTEN=127.0.0.1:0", "ESPPROV_LOG_LEVEL=debug",
		"XDG_STATE_HOME=/var/lib", "HOME=/var/lib/espprov") // as the systemd unit sets them: the job store in /var/lib/espprov
	srv.Cancel = func() error { return srv.Process.Signal(syscall.SIGTERM) }
	grpcAddr, logsAfterExit := startAndWaitJSON(t, srv)

	provision := func(env ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "/usr/bin/espprov", "--server", grpcAddr, "--no-input", "provision", "--transport", "httpd",
			"--device-ip", "127.0.0.1", "--device-port", devAddr[strings.LastIndex(devAddr, ":")+1:],
			"--sec_ver", "2", "--sec2_username", "wifiprov", "--sec2_password", "deb-Srp-Secret", "--ssid", "line-net", "--passphrase", "deb-Wifi-Secret")
		cmd.Env = append([]string{"HOME=" + t.TempDir(), "PATH=/usr/bin:/bin"}, env...)
		b, err := cmd.CombinedOutput()
		return string(b), err
	}
	if out, err := provision(); err == nil || !strings.Contains(out, "Bearer") {
		t.Errorf("provision without a token: %v\n%s", err, out)
	}
	if out, err := provision("ESPPROV_TOKEN=" + token); err != nil || !strings.Contains(out, "Provisioning Successful") {
		t.Fatalf("provision through the installed espprovd: %v\n%s", err, out)
	}

	// The job record went to the state directory, owned by the service user.
	if got := strings.TrimSpace(sh(t, ctx, "stat", "-c", "%U", "/var/lib/espprov/jobs.db")); got != "espprov" {
		t.Errorf("job store owner: %q", got)
	}

	// SIGTERM: a clean stop.
	if err := srv.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := srv.Wait()
	logs := logsAfterExit()
	if err != nil {
		t.Errorf("espprovd after SIGTERM: %v\n%s", err, logs)
	}
	for _, secret := range []string{token, "deb-Srp-Secret", "deb-Wifi-Secret"} {
		if strings.Contains(logs, secret) {
			t.Errorf("espprovd logged the secret %q", secret)
		}
	}
	if !strings.Contains(logs, `"caller":"token:deb-test"`) {
		t.Errorf("no log line names the caller token:deb-test:\n%s", logs)
	}
}

// buildDeb runs `make package` into a temporary directory.
func buildDeb(t *testing.T, ctx context.Context) string {
	t.Helper()
	dist := t.TempDir()
	cmd := exec.CommandContext(ctx, "make", "-C", "../..", "package", "DIST="+dist)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make package: %v\n%s", err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(dist, "espprov_*.deb"))
	if len(debs) != 1 {
		t.Fatalf("make package made %v", debs)
	}
	return debs[0]
}

// lockMachine serializes the test across concurrent runs on one machine
// (they share dpkg and /usr/bin).
func lockMachine(t *testing.T) func() {
	t.Helper()
	f, err := os.OpenFile("/run/lock/espprov-deb-test.lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }
}

func sh(t *testing.T, ctx context.Context, name string, args ...string) string {
	t.Helper()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// startAndWait starts cmd and returns the first match of re in its
// standard output (or standard error); the process is stopped at cleanup.
func startAndWait(t *testing.T, cmd *exec.Cmd, re *regexp.Regexp, stdout bool) string {
	t.Helper()
	r, w := io.Pipe()
	if stdout {
		cmd.Stdout = w
	} else {
		cmd.Stderr = w
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); w.Close() })
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
				break
			}
		}
		_, _ = io.Copy(io.Discard, r)
	}()
	select {
	case a := <-found:
		return a
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not start", cmd.Path)
		return ""
	}
}

// startAndWaitJSON starts espprovd and returns the gRPC address from its
// "espprovd serving" log line, and a function that returns every log line
// once the process has exited (after cmd.Wait).
func startAndWaitJSON(t *testing.T, cmd *exec.Cmd) (string, func() string) {
	t.Helper()
	r, w := io.Pipe()
	cmd.Stderr = w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var logs strings.Builder
	finish := func() string { w.Close(); <-done; return logs.String() }
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); finish() })
	addr := make(chan string, 1)
	go func() {
		defer close(done)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			logs.WriteString(sc.Text() + "\n")
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil && m["msg"] == "espprovd serving" {
				addr <- fmt.Sprint(m["grpc"])
			}
		}
	}()
	select {
	case a := <-addr:
		return a, finish
	case <-time.After(60 * time.Second):
		t.Fatalf("espprovd did not start")
		return "", nil
	}
}
