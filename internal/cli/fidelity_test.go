package cli

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/espprov/espprov/internal/protocomm"
	"github.com/espprov/espprov/internal/sim/device"
	simhttpd "github.com/espprov/espprov/internal/sim/httpd"
	"github.com/espprov/espprov/services/provisioning"
)

// startDeviceWith runs a simulated device with server options (Nagle) and
// application endpoints that echo their requests.
func startDeviceWith(t *testing.T, cfg device.Config, opts simhttpd.Options, endpoints ...string) (*simDev, *simhttpd.Server) {
	t.Helper()
	if cfg.APs == nil {
		cfg.APs = testAPs
	}
	if cfg.ConnectDelay == 0 {
		cfg.ConnectDelay = 20 * time.Millisecond
	}
	dev, err := device.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range endpoints {
		if err := dev.RegisterEndpoint(n, device.EchoHandler(n)); err != nil {
			t.Fatal(err)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := simhttpd.New(dev, opts)
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close() })
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return &simDev{dev: dev, addr: l.Addr().String(), port: port}, s
}

func bothModes(t *testing.T, f func(t *testing.T, extra []string)) {
	remote := startServer(t)
	t.Run("local", func(t *testing.T) { f(t, nil) })
	t.Run("remote", func(t *testing.T) { f(t, []string{"--server", remote}) })
}

func httpdProvision(d *simDev, extra []string, args ...string) []string {
	out := append([]string{"provision", "--transport", "httpd", "--device-ip", "127.0.0.1", "--device-port", d.port, "--no-input"}, args...)
	return append(out, extra...)
}

// A device provisioned earlier and still in provisioning mode: the second
// provision says what happened and what to do; --reprovision gets through.
func TestCLIReprovision(t *testing.T) {
	bothModes(t, func(t *testing.T, extra []string) {
		d, _ := startDeviceWith(t, device.Config{SecVer: 1, PoP: testPoP, NoAutoStop: true}, simhttpd.Options{})
		creds := []string{"--pop", testPoP, "--ssid", testSSID, "--passphrase", testPass}
		if r := runCLI(t, nil, "", httpdProvision(d, extra, creds...)...); r.code != 0 {
			t.Fatalf("first provision: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		r := runCLI(t, nil, "", httpdProvision(d, extra, creds...)...)
		if r.code != ExitDevice || !strings.Contains(r.stderr, "already applied Wi-Fi credentials") || !strings.Contains(r.stderr, "--reprovision") {
			t.Fatalf("second provision: exit %d, want %d with a --reprovision hint\n%s", r.code, ExitDevice, r.stderr)
		}
		r = runCLI(t, nil, "", httpdProvision(d, extra, append(creds, "--reprovision")...)...)
		if r.code != 0 || !strings.Contains(r.stdout, "Re-provisioning: the device forgot its earlier Wi-Fi credentials.") ||
			!strings.Contains(r.stdout, "Wi-Fi Provisioning Successful") {
			t.Fatalf("--reprovision: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		r = runCLI(t, nil, "", httpdProvision(d, extra, "--pop", testPoP, "--no-wifi", "--reprovision")...)
		if r.code != ExitUsage {
			t.Errorf("--reprovision --no-wifi: exit %d, want %d", r.code, ExitUsage)
		}
	})
}

// --custom-data sends text and file contents to application endpoints before
// the credentials; the replies are printed (and in JSON); a missing endpoint
// is named and nothing else is sent.
func TestCLICustomData(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "blob")
	if err := os.WriteFile(bin, []byte{0, 1, 0xfe, '\n'}, 0o600); err != nil {
		t.Fatal(err)
	}
	bothModes(t, func(t *testing.T, extra []string) {
		d, _ := startDeviceWith(t, device.Config{SecVer: 1, PoP: testPoP}, simhttpd.Options{}, "custom-data", "blob-ep")
		r := runCLI(t, nil, "", httpdProvision(d, extra, "--pop", testPoP, "--ssid", testSSID, "--passphrase", testPass,
			"--custom-data", "custom-data=hello world", "--custom-data", "blob-ep=@"+bin)...)
		if r.code != 0 {
			t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		for _, want := range []string{
			`++++ CustomData response from blob-ep: "espsim-echo:blob-ep:\x00\x01\xfe\n" ++++`,
			`++++ CustomData response from custom-data: "espsim-echo:custom-data:hello world" ++++`,
		} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("stdout lacks %s:\n%s", want, r.stdout)
			}
		}
		if i, j := strings.Index(r.stdout, "CustomData response"), strings.Index(r.stdout, "Sending Wi-Fi credentials"); i < 0 || j < i {
			t.Errorf("custom data not before the credentials:\n%s", r.stdout)
		}

		// JSON output carries the reply bytes.
		d2, _ := startDeviceWith(t, device.Config{SecVer: 1, PoP: testPoP}, simhttpd.Options{}, "custom-data")
		r = runCLI(t, nil, "", httpdProvision(d2, extra, "--pop", testPoP, "--ssid", testSSID, "--passphrase", testPass,
			"--custom-data", "custom-data=@@at", "--output", "json")...)
		// base64("espsim-echo:custom-data:@at")
		if r.code != 0 || !strings.Contains(r.stdout, `"step":"STEP_CUSTOM_DATA"`) || !strings.Contains(r.stdout, `"reply":"ZXNwc2ltLWVjaG86Y3VzdG9tLWRhdGE6QGF0"`) {
			t.Fatalf("json: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}

		// Missing endpoint: named, exit 3, no credential sent.
		d3, _ := startDeviceWith(t, device.Config{SecVer: 1, PoP: testPoP}, simhttpd.Options{})
		r = runCLI(t, nil, "", httpdProvision(d3, extra, "--pop", testPoP, "--ssid", testSSID, "--passphrase", testPass,
			"--custom-data", "custom-data=x")...)
		if r.code != ExitDevice || !strings.Contains(r.stderr, `"custom-data"`) {
			t.Fatalf("missing endpoint: exit %d\n%s", r.code, r.stderr)
		}
		if n := d3.dev.Stats().Exchanges["prov-config"]; n != 0 {
			t.Errorf("%d prov-config exchanges after a missing endpoint", n)
		}

		// Usage errors touch nothing.
		for _, bad := range [][]string{{"--custom-data", "novalue"}, {"--custom-data", "ep="}, {"--custom-data", "ep=@/nonexistent/file"},
			{"--custom-data", "a=1", "--custom-data", "a=2"}, {"--custom-data", "prov-config=x"}} {
			before := d3.dev.Stats().Exchanges["proto-ver"]
			r := runCLI(t, nil, "", httpdProvision(d3, extra, append([]string{"--pop", testPoP, "--ssid", testSSID, "--passphrase", testPass}, bad...)...)...)
			if r.code != ExitUsage {
				t.Errorf("%q: exit %d, want %d\n%s", bad, r.code, ExitUsage, r.stderr)
			}
			if d3.dev.Stats().Exchanges["proto-ver"] != before {
				t.Errorf("%q: the device was contacted", bad)
			}
		}
	})
}

// The whole CLI against a device that answers like esp_http_server on lwIP
// (--nagle) and joins at once: the protocol minimum of round trips over one
// connection, with the default status-poll schedule.
func TestCLINagleDeviceRoundTrips(t *testing.T) {
	bothModes(t, func(t *testing.T, extra []string) {
		d, srv := startDeviceWith(t, device.Config{SecVer: 1, PoP: testPoP, ConnectDelay: time.Nanosecond}, simhttpd.Options{Nagle: true})
		r := runCLI(t, nil, "", httpdProvision(d, extra, "--pop", testPoP, "--ssid", testSSID, "--passphrase", testPass)...)
		if r.code != 0 {
			t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		n := 0
		for _, v := range d.dev.Stats().Exchanges {
			n += v
		}
		if want := provisioning.MinExchanges(protocomm.Scheme1); n != want {
			t.Errorf("%d round trips %v, want %d", n, d.dev.Stats().Exchanges, want)
		}
		if c := srv.Accepted(); c != 1 {
			t.Errorf("%d connections, want 1", c)
		}
	})
}

// Keystrokes typed before the hidden passphrase prompt appears are
// discarded (they were echoed, so they must not become part of a secret),
// and nothing typed after the prompt is echoed: echo goes off before the
// prompt is printed. Without the flush the device would receive
// "typed-ahead" + the passphrase and fail to join.
func TestHiddenPromptDiscardsTypedAhead(t *testing.T) {
	d := startDevice(t, sec1)
	// Typed before espprov starts, so certainly before its prompt (sent
	// after the start, a loaded machine let espprov reach the prompt first).
	s := startPTYTyped(t, nil, "typed-ahead", "provision", "--transport", "httpd", "--device-ip", "127.0.0.1", "--device-port", d.port, "--pop", testPoP,
		"--ssid", testSSID, "--status-poll", "50ms", "--no-retry")
	s.expect("Enter passphrase for HomeNet : ")
	s.send(testPass + "\r")
	s.expect("Wi-Fi Provisioning Successful")
	if code := s.wait(); code != 0 {
		t.Fatalf("exit code %d; terminal:\n%s", code, s.output())
	}
	if strings.Contains(s.output(), testPass) {
		t.Errorf("the passphrase was echoed:\n%s", s.output())
	}
}
