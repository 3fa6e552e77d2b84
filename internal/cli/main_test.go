package cli

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/espprov/espprov/internal/leakcheck"
	"github.com/espprov/espprov/internal/server"
	"github.com/espprov/espprov/internal/sim/device"
	simhttpd "github.com/espprov/espprov/internal/sim/httpd"
	"github.com/espprov/espprov/services/provisioning"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// binPath is the espprov binary built once by TestMain.
var binPath string

func TestMain(m *testing.M) {
	flag.Parse()
	if fuzzing() {
		os.Exit(m.Run()) // fuzz targets need no binary
	}
	dir, err := os.MkdirTemp("", "espprov-cli-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "espprov")
	args := []string{"build", "-o", binPath}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "github.com/espprov/espprov/cmd/espprov")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building espprov:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := leakcheck.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak: goroutines outlived the tests:", err)
			code = 1
		}
	}
	os.Exit(code)
}

const (
	testPoP  = "abcd1234"
	testUser = "wifiprov"
	testSSID = "HomeNet"
	testPass = "secret-pass"
)

var testAPs = []device.AP{
	{SSID: testSSID, Passphrase: testPass, Channel: 6, RSSI: -40, BSSID: [6]byte{0x24, 0x0a, 0xc4, 0x11, 0x22, 0x33}},
	{SSID: "Neighbour", Passphrase: "whatever1", Channel: 11, RSSI: -70, BSSID: [6]byte{0x24, 0x0a, 0xc4, 0x44, 0x55, 0x66}, Auth: 6},
	{SSID: "CafeOpen", Channel: 1, RSSI: -80, BSSID: [6]byte{0x24, 0x0a, 0xc4, 0x77, 0x88, 0x99}},
}

type simDev struct {
	dev  *device.Device
	addr string
	port string
}

// startDevice runs a simulated device on a loopback port.
func startDevice(t testing.TB, cfg device.Config) *simDev {
	t.Helper()
	if cfg.APs == nil {
		cfg.APs = testAPs
	}
	cfg.MAC = [6]byte{0x24, 0x0a, 0xc4, 0xaa, 0xbb, 0xcc}
	if cfg.StationIP == "" {
		cfg.StationIP = "192.168.1.77"
	}
	if cfg.ConnectDelay == 0 {
		cfg.ConnectDelay = 20 * time.Millisecond
	}
	if cfg.CleanupDelay == 0 {
		cfg.CleanupDelay = 50 * time.Millisecond
	}
	dev, err := device.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := simhttpd.New(dev, simhttpd.Options{})
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close() })
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return &simDev{dev: dev, addr: l.Addr().String(), port: port}
}

// startServer runs espprovd's server on loopback for --server tests.
func startServer(t testing.TB) string {
	t.Helper()
	// The simulated clouds are plain http on loopback: configured as an
	// operator would with espprovd --cloud-allow-http.
	svc := provisioning.New(provisioning.Config{Modules: provisioning.DefaultModules(), Cloud: provisioning.CloudConfig{AllowHTTP: true}})
	srv, err := server.Start(context.Background(), server.Options{GRPCListen: "127.0.0.1:0", Service: svc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return srv.GRPCAddr()
}

// freePort returns a loopback port nothing listens on.
func freePort(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	l.Close()
	return port
}

type result struct {
	stdout, stderr string
	code           int
}

// runCLI runs the binary with stdin not a terminal and a private config dir.
func runCLI(t testing.TB, env []string, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Env = append([]string{"HOME=" + t.TempDir(), "XDG_CONFIG_HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}, env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("running espprov: %v", err)
		}
		code = ee.ExitCode()
	}
	if ctx.Err() != nil {
		t.Fatalf("espprov %q did not finish in time; stdout:\n%s\nstderr:\n%s", args, out.String(), errb.String())
	}
	return result{stdout: out.String(), stderr: errb.String(), code: code}
}

var (
	timeRE = regexp.MustCompile(`"time":"[^"]*"`)
	loopRE = regexp.MustCompile(`127\.0\.0\.1:\d+`)
)

// timingLines depend on how fast the simulated device and the polls run on
// a loaded machine; they are dropped from transcripts.
var timingLines = []string{"++++ WiFi state: Connecting... ++++", "Mapping status: requested"}

// normalize masks what changes between runs.
func normalize(s string) string {
	s = timeRE.ReplaceAllString(s, `"time":"TIME"`)
	s = loopRE.ReplaceAllString(s, "127.0.0.1:PORT")
	var keep []string
	for _, l := range strings.SplitAfter(s, "\n") {
		drop := false
		for _, tl := range timingLines {
			drop = drop || strings.TrimSpace(l) == tl || strings.Contains(l, `"state":"WIFI_STATION_STATE_CONNECTING"`) || strings.Contains(l, `"request_status":"requested"`)
		}
		if !drop {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "")
}

// checkGolden compares got with testdata/<name>.golden (or rewrites it).
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run go test -update to create it): %v", err)
	}
	if string(want) != got {
		t.Errorf("output differs from %s (run go test -update after checking):\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

func transcript(r result) string {
	return fmt.Sprintf("$ exit %d\n--- stdout ---\n%s--- stderr ---\n%s", r.code, normalize(r.stdout), normalize(r.stderr))
}

// fuzzing reports whether this run is a fuzzing run (or one of its workers).
func fuzzing() bool {
	f := flag.Lookup("test.fuzz")
	w := flag.Lookup("test.fuzzworker")
	return (f != nil && f.Value.String() != "") || (w != nil && w.Value.String() == "true")
}
