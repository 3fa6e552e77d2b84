package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/espprov/espprov/internal/sim/device"
	simhttpd "github.com/espprov/espprov/internal/sim/httpd"
	"github.com/espprov/espprov/services/profiles"
	"github.com/espprov/espprov/services/provisioning"
)

// TestProvisionProfile: `espprov --server … provision --profile NAME
// --qrcode …` provisions a unit with what its label says (name, PoP) and
// the server's station profile (transport, address, Wi-Fi, station); the
// profile's passphrase never reaches the CLI; an unknown profile and a
// --profile without --server fail with a message and a non-zero exit.
func TestProvisionProfile(t *testing.T) {
	const pass = "profile-cli-Secret-77"
	dev, err := device.New(device.Config{Name: "unit-9", SecVer: 1, PoP: "pop-9", ConnectDelay: 10 * time.Millisecond,
		APs: []device.AP{{SSID: "line-net", Passphrase: pass, Channel: 1, RSSI: -50}}})
	if err != nil {
		t.Fatal(err)
	}
	sim, err := simhttpd.Listen("127.0.0.1:0", dev, simhttpd.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	file := filepath.Join(t.TempDir(), "profiles.yaml")
	body := "profiles:\n  - name: line-1\n    transport: httpd\n    addresses: {unit-9: " + sim.Addr().String() + "}\n    security: 1\n" +
		"    wifi: {ssid: line-net, passphrase: " + pass + "}\n    station: st-9\n"
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	set, err := profiles.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	addr := startJobServerWith(t, provisioning.Config{Modules: provisioning.DefaultModules(), Profiles: set})
	qr := `{"ver":"v1","name":"unit-9","pop":"pop-9","transport":"softap"}`

	r := runCLI(t, nil, "", "--server", addr, "--output", "json", "provision", "--profile", "line-1", "--qrcode", qr, "--request-id", "cli-prof-1")
	if r.code != 0 || !strings.Contains(r.stdout, `"success":true`) || !strings.Contains(r.stdout, `"ssid":"line-net"`) {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, pass) {
		t.Error("the profile's passphrase reached the CLI")
	}
	r = runCLI(t, nil, "", "--server", addr, "provision", "--profile", "nope", "--qrcode", qr)
	if r.code == 0 || !strings.Contains(r.stderr, `"nope"`) || !strings.Contains(r.stderr, "line-1") {
		t.Errorf("unknown profile: exit %d\n%s", r.code, r.stderr)
	}
	r = runCLI(t, nil, "", "provision", "--profile", "line-1", "--qrcode", qr)
	if r.code != ExitUsage || !strings.Contains(r.stderr, "--server") {
		t.Errorf("--profile without --server: exit %d\n%s", r.code, r.stderr)
	}
	r = runCLI(t, nil, "", "--server", addr, "provision", "--profile", "line-1", "--qrcode", qr, "--no-wifi")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "--no-wifi") {
		t.Errorf("--profile with --no-wifi: exit %d\n%s", r.code, r.stderr)
	}
}
