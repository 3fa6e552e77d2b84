package cli

import (
	"strings"
	"testing"

	"github.com/espprov/espprov/internal/sim/device"
)

// TestFlagsValidatedBeforeContact: the CLI applies the service's field
// checks to its flags and exits 2 before the device is contacted (its exit
// code 2 promises that nothing was sent).
func TestFlagsValidatedBeforeContact(t *testing.T) {
	d := startDevice(t, device.Config{SecVer: 1, PoP: testPoP})
	base := []string{"provision", "--transport", "httpd", "--device-ip", "127.0.0.1", "--device-port", d.port, "--pop", testPoP}
	tests := []struct {
		name string
		args []string
		flag string
	}{
		{"SSID of 40 bytes", []string{"--ssid", strings.Repeat("s", 40), "--passphrase", testPass}, "--ssid"},
		{"passphrase of 64 hex digits", []string{"--ssid", testSSID, "--passphrase", strings.Repeat("0f", 32)}, "--passphrase"},
		{"overall timeout of 1s", []string{"--ssid", testSSID, "--passphrase", testPass, "--timeout", "1s"}, "--timeout"},
		{"wifi timeout of 500ms", []string{"--ssid", testSSID, "--passphrase", testPass, "--wifi-timeout", "500ms"}, "--wifi-timeout"},
		{"exchange timeout of 1ns", []string{"--ssid", testSSID, "--passphrase", testPass, "--exchange-timeout", "1ns"}, "--exchange-timeout"},
		{"tag with a control character", []string{"--ssid", testSSID, "--passphrase", testPass, "--tags", "line:\x01A3"}, "--tags"},
		{"malformed device host", []string{"--ssid", testSSID, "--passphrase", testPass, "--device-ip", "my device"}, "--device-ip"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, nil, "", append(append([]string(nil), base...), tc.args...)...)
			if r.code != ExitUsage || !strings.Contains(r.stderr, tc.flag) {
				t.Fatalf("exit %d, want 2 naming %s\nstdout: %s\nstderr: %s", r.code, tc.flag, r.stdout, r.stderr)
			}
			if strings.Contains(r.stdout, "Looking for device") {
				t.Errorf("the CLI announced contact before refusing: %s", r.stdout)
			}
		})
	}
	if st := d.dev.Stats(); len(st.Exchanges) != 0 {
		t.Fatalf("the device was contacted: %v", st.Exchanges)
	}
}
