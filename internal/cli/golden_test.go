package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/espprov/espprov/internal/sim/device"
)

// goldenCase runs the binary against a fresh simulated device; the printed
// output must match testdata/<name>.golden in both the in-process and the
// --server mode.
type goldenCase struct {
	name string
	cfg  device.Config
	// args; "{port}" is the device's port, "{free}" a closed port.
	args     []string
	wantCode int
	// check inspects the device after the run.
	check func(t *testing.T, d *simDev, r result)
}

func httpdArgs(extra ...string) []string {
	return append([]string{"provision", "--transport", "httpd", "--device-ip", "127.0.0.1", "--device-port", "{port}",
		"--status-poll", "50ms", "--exchange-timeout", "2s", "--wifi-timeout", "5s"}, extra...)
}

var sec1 = device.Config{SecVer: 1, PoP: testPoP}
var sec2 = device.Config{SecVer: 2, SecPatchVer: 1, SRPUsername: testUser, SRPPassword: testPoP}

func connected(t *testing.T, d *simDev, r result) {
	t.Helper()
	if d.dev.Stats().HandshakesCompleted != 1 {
		t.Errorf("handshakes = %d, want 1", d.dev.Stats().HandshakesCompleted)
	}
}

var goldenCases = []goldenCase{
	{name: "success_sec1", cfg: sec1, args: httpdArgs("--pop", testPoP, "--ssid", testSSID, "--passphrase", testPass), check: connected},
	{name: "success_sec1_positional_pop", cfg: sec1, args: httpdArgs(testPoP, "--ssid", testSSID, "--passphrase", testPass), check: connected},
	{name: "success_sec0", cfg: device.Config{SecVer: 0}, args: httpdArgs("--sec_ver", "0", "--ssid", testSSID, "--passphrase", testPass), check: connected},
	{name: "success_sec1_no_pop", cfg: device.Config{SecVer: 1}, args: httpdArgs("--ssid", testSSID, "--passphrase", testPass)},
	{name: "success_sec2_flags", cfg: sec2, args: httpdArgs("--sec_ver", "2", "--sec2_username", testUser, "--sec2_password", testPoP, "--ssid", testSSID, "--passphrase", testPass), check: connected},
	{name: "success_sec2_qrcode", cfg: sec2, args: []string{"provision",
		"--qrcode", `{"ver":"v1","name":"PROV_aabbcc","username":"wifiprov","pop":"abcd1234","transport":"HTTPD"}`,
		"--device-ip", "127.0.0.1", "--device-port", "{port}", "--ssid", testSSID, "--passphrase", testPass, "--status-poll", "50ms"}},
	{name: "success_softap_any_interface", cfg: sec1, args: []string{"provision", "--transport", "softap", "--device-host", "127.0.0.1", "--device-port", "{port}",
		"--pop", testPoP, "--ssid", testSSID, "--passphrase", testPass, "--status-poll", "50ms", "--no-retry"}},
	{name: "success_qr_pop_flag_override", cfg: sec1, args: httpdArgs("--qrcode", `{"ver":"v1","name":"PROV_aabbcc","pop":"wrong-pop","transport":"ble"}`,
		"--pop", testPoP, "--ssid", testSSID, "--passphrase", testPass)},
	{name: "success_open_network", cfg: sec1, args: httpdArgs("--pop", testPoP, "--ssid", "CafeOpen", "--passphrase", "")},
	{name: "success_json", cfg: sec1, args: httpdArgs("--pop", testPoP, "--ssid", testSSID, "--passphrase", testPass, "--output", "json")},
	{name: "fail_wrong_pop", cfg: sec1, args: httpdArgs("--pop", "deadbeef", "--ssid", testSSID, "--passphrase", testPass), wantCode: ExitCredentials,
		check: func(t *testing.T, d *simDev, _ result) {
			if d.dev.Stats().RejectedProofs != 1 {
				t.Errorf("rejected proofs = %d, want 1", d.dev.Stats().RejectedProofs)
			}
		}},
	{name: "fail_wrong_sec2_password", cfg: sec2, args: httpdArgs("--sec_ver", "2", "--sec2_username", testUser, "--sec2_password", "nope-nope", "--ssid", testSSID, "--passphrase", testPass), wantCode: ExitCredentials},
	{name: "fail_wrong_passphrase", cfg: sec1, args: httpdArgs("--pop", testPoP, "--ssid", testSSID, "--passphrase", "wrong-passphrase"), wantCode: ExitWifi,
		check: func(t *testing.T, d *simDev, _ result) {
			if d.dev.Stats().Exchanges["prov-ctrl"] != 1 {
				t.Errorf("prov-ctrl exchanges = %d, want 1 (reset after the failure)", d.dev.Stats().Exchanges["prov-ctrl"])
			}
		}},
	{name: "fail_wrong_passphrase_json", cfg: sec1, args: httpdArgs("--pop", testPoP, "--ssid", testSSID, "--passphrase", "wrong-passphrase", "-o", "json", "--no-retry"), wantCode: ExitWifi},
	{name: "fail_ssid_not_found", cfg: sec1, args: httpdArgs("--pop", testPoP, "--ssid", "NoSuchNet", "--passphrase", testPass), wantCode: ExitWifi},
	{name: "fail_wifi_timeout", cfg: device.Config{SecVer: 1, PoP: testPoP, ConnectDelay: 10 * time.Second},
		args: httpdArgs("--pop", testPoP, "--ssid", testSSID, "--passphrase", testPass, "--wifi-timeout", "2s"), wantCode: ExitWifi},
	{name: "fail_missing_pop_detected", cfg: sec1, args: httpdArgs("--ssid", testSSID, "--passphrase", testPass), wantCode: ExitUsage},
	{name: "fail_sec2_detected_without_credentials", cfg: sec2, args: httpdArgs("--pop", testPoP, "--ssid", testSSID, "--passphrase", testPass), wantCode: ExitUsage},
	{name: "fail_unreachable", args: []string{"provision", "--transport", "httpd", "--device-ip", "127.0.0.1", "--device-port", "{free}",
		"--pop", testPoP, "--ssid", testSSID, "--passphrase", testPass}, wantCode: ExitDevice},
	{name: "scan", cfg: sec1, args: []string{"scan", "--transport", "httpd", "--device-ip", "127.0.0.1", "--device-port", "{port}", "--pop", testPoP}},
	{name: "scan_json", cfg: sec1, args: []string{"scan", "--transport", "httpd", "--device-ip", "127.0.0.1", "--device-port", "{port}", "--pop", testPoP, "-o", "json"}},
	{name: "discover_httpd", cfg: sec1, args: []string{"discover", "--transport", "httpd", "--device-ip", "127.0.0.1", "--device-port", "{port}", "--timeout", "2"}},
}

func TestGolden(t *testing.T) {
	remote := startServer(t)
	for _, tc := range goldenCases {
		for _, mode := range []string{"local", "remote"} {
			t.Run(tc.name+"/"+mode, func(t *testing.T) {
				var d *simDev
				free := freePort(t)
				port := free
				if !strings.HasPrefix(tc.name, "fail_unreachable") {
					d = startDevice(t, tc.cfg)
					port = d.port
				}
				var args []string
				if mode == "remote" {
					args = append(args, "--server", remote)
				}
				for _, a := range tc.args {
					a = strings.ReplaceAll(a, "{port}", port)
					args = append(args, strings.ReplaceAll(a, "{free}", free))
				}
				r := runCLI(t, nil, "", args...)
				if r.code != tc.wantCode {
					t.Errorf("exit code = %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tc.wantCode, r.stdout, r.stderr)
				}
				for _, secret := range []string{testPass, testPoP, "wrong-passphrase", "nope-nope", "wrong-pop"} {
					if strings.Contains(r.stdout+r.stderr, secret) {
						t.Errorf("secret %q appears in the output:\n%s\n%s", secret, r.stdout, r.stderr)
					}
				}
				if tc.check != nil {
					tc.check(t, d, r)
				}
				checkGolden(t, tc.name, transcript(r))
			})
		}
	}
}
