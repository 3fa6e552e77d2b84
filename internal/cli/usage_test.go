package cli

import (
	"strings"
	"testing"
)

// TestInvalidInputTouchesNoDevice: bad flags and missing input in scripts
// end with exit 2 and a message naming the problem, and the device sees no
// exchange at all.
func TestInvalidInputTouchesNoDevice(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
		code int
	}{
		{"qrcode not JSON", httpdArgs("--qrcode", "NP:PROV_1|abcd|b", "--ssid", "a", "--passphrase", testPass), "Invalid JSON in --qrcode", ExitUsage},
		{"qrcode JSON array", httpdArgs("--qrcode", `["ble"]`, "--ssid", "a", "--passphrase", testPass), "Invalid JSON in --qrcode", ExitUsage},
		{"qrcode unknown transport", httpdArgs("--qrcode", `{"ver":"v1","transport":"zigbee"}`, "--ssid", "a", "--passphrase", testPass), `unknown transport "zigbee"`, ExitUsage},
		{"qrcode bad security", httpdArgs("--qrcode", `{"ver":"v1","security":7}`, "--ssid", "a", "--passphrase", testPass), "security must be 0, 1 or 2", ExitUsage},
		{"metadata not JSON", httpdArgs("--pop", testPoP, "--ssid", "a", "--passphrase", testPass, "--metadata", "{serial"), "Invalid JSON in --metadata", ExitUsage},
		{"metadata not an object", httpdArgs("--pop", testPoP, "--ssid", "a", "--passphrase", testPass, "--metadata", `["a"]`), "--metadata must be a JSON object", ExitUsage},
		{"metadata number", httpdArgs("--pop", testPoP, "--ssid", "a", "--passphrase", testPass, "--metadata", `42`), "--metadata must be a JSON object", ExitUsage},
		{"device port out of range", []string{"provision", "--transport", "httpd", "--device-ip", "127.0.0.1", "--device-port", "70000", "--pop", testPoP, "--ssid", "a", "--passphrase", testPass}, "--device-port 70000 is out of range", ExitUsage},
		{"device port zero", []string{"provision", "--transport", "softap", "--device-port", "0", "--pop", testPoP, "--ssid", "a", "--passphrase", testPass}, "--device-port 0 is out of range", ExitUsage},
		{"sec_ver 3", httpdArgs("--sec_ver", "3", "--ssid", "a", "--passphrase", testPass), "--sec_ver must be 0, 1 or 2", ExitUsage},
		{"sec_ver not a number", httpdArgs("--sec_ver", "two", "--ssid", "a", "--passphrase", testPass), "invalid argument \"two\"", ExitUsage},
		{"security 2 without credentials", httpdArgs("--sec_ver", "2", "--ssid", "a", "--passphrase", testPass), "Security 2 needs --sec2_username and --sec2_password", ExitUsage},
		{"security 2 without password", httpdArgs("--sec_ver", "2", "--sec2_username", testUser, "--ssid", "a", "--passphrase", testPass), "Security 2 needs --sec2_username and --sec2_password", ExitUsage},
		{"sec2 flags with security 1", httpdArgs("--sec_ver", "1", "--sec2_username", testUser, "--ssid", "a", "--passphrase", testPass), "need Security 2", ExitUsage},
		{"bad tag", httpdArgs("--pop", testPoP, "--ssid", "a", "--passphrase", testPass, "--tags", "location:pune,oops"), "Invalid tag format 'oops'. Tags must be in key:value format.", ExitUsage},
		{"empty tag key", httpdArgs("--pop", testPoP, "--ssid", "a", "--passphrase", testPass, "--tags", ":x"), "Invalid tag format ':x'", ExitUsage},
		{"unknown transport", []string{"provision", "--transport", "zigbee", "--pop", testPoP}, `unknown --transport "zigbee"`, ExitUsage},
		{"httpd without address", []string{"provision", "--transport", "httpd", "--pop", testPoP, "--ssid", "a", "--passphrase", testPass}, "--transport httpd needs --device-ip or --device-host", ExitUsage},
		{"device ip not an IP", []string{"provision", "--transport", "httpd", "--device-ip", "my.host", "--ssid", "a", "--passphrase", testPass}, "--device-ip \"my.host\" is not an IP address", ExitUsage},
		{"device host with port", []string{"provision", "--transport", "httpd", "--device-host", "dev.local:8080", "--ssid", "a", "--passphrase", testPass}, "give the port with --device-port", ExitUsage},
		{"no wifi credentials in a script", httpdArgs("--pop", testPoP), "pass --ssid and --passphrase", ExitUsage},
		{"ssid without passphrase in a script", httpdArgs("--pop", testPoP, "--ssid", "a"), "missing --passphrase for --ssid", ExitUsage},
		{"passphrase without ssid", httpdArgs("--pop", testPoP, "--passphrase", testPass), "--passphrase needs --ssid", ExitUsage},
		{"passphrase too short", httpdArgs("--pop", testPoP, "--ssid", "a", "--passphrase", "short"), "--passphrase: must be 8 to 63 characters", ExitUsage},
		{"no-wifi with ssid", httpdArgs("--pop", testPoP, "--no-wifi", "--ssid", "a", "--passphrase", testPass), "--no-wifi skips Wi-Fi provisioning", ExitUsage},
		{"on-network with ssid", []string{"provision", "--transport", "on-network", "--device-ip", "127.0.0.1", "--device-port", "{port}", "--ssid", "a", "--passphrase", testPass}, "does not provision Wi-Fi", ExitUsage},
		{"serial port with httpd", httpdArgs("--port", "/dev/ttyUSB0", "--pop", testPoP, "--ssid", "a", "--passphrase", testPass), "--port and --baud apply to --transport console only", ExitUsage},
		{"device_name with httpd", httpdArgs("--device_name", "PROV_1", "--pop", testPoP, "--ssid", "a", "--passphrase", testPass), "--device_name applies to --transport ble and on-network only", ExitUsage},
		{"device ip with ble", []string{"provision", "--transport", "ble", "--device-ip", "127.0.0.1", "--ssid", "a", "--passphrase", testPass}, "do not apply to --transport ble", ExitUsage},
		{"discovery timeout zero", httpdArgs("--discovery-timeout", "0", "--pop", testPoP, "--ssid", "a", "--passphrase", testPass), "--discovery-timeout must be more than 0", ExitUsage},
		{"two positional arguments", httpdArgs("abcd1234", "extra", "--ssid", "a", "--passphrase", testPass), "at most one argument", ExitUsage},
		{"unknown flag", httpdArgs("--frobnicate"), "unknown flag: --frobnicate", ExitUsage},
		{"bad output", append([]string{"--output", "xml"}, httpdArgs("--pop", testPoP, "--ssid", "a", "--passphrase", testPass)...), "--output must be text or json", ExitUsage},
		{"tls without server", append([]string{"--tls"}, httpdArgs("--pop", testPoP, "--ssid", "a", "--passphrase", testPass)...), "need --server", ExitUsage},
		{"status poll too fast", httpdArgs("--pop", testPoP, "--ssid", "a", "--passphrase", testPass, "--status-poll", "1ms"), "--status-poll must be at least 50ms", ExitUsage},
		{"unknown command", []string{"frobnicate"}, "unknown command", ExitUsage},
		{"scan sec_ver 3", []string{"scan", "--transport", "httpd", "--device-ip", "127.0.0.1", "--device-port", "{port}", "--sec_ver", "3"}, "--sec_ver must be 0, 1 or 2", ExitUsage},
		{"scan security 2 without credentials", []string{"scan", "--transport", "httpd", "--device-ip", "127.0.0.1", "--device-port", "{port}", "--sec_ver", "2"}, "Security 2 needs", ExitUsage},
		{"map bad metadata", []string{"map", "--device-ip", "127.0.0.1", "--device-port", "{port}", "--metadata", "[]"}, "--metadata must be a JSON object", ExitUsage},
		{"login without email", []string{"login"}, "--email is required", ExitUsage},
		{"login without password in a script", []string{"login", "--email", "me@example.com"}, "--password-stdin", ExitUsage},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := startDevice(t, sec1)
			var args []string
			for _, a := range tc.args {
				args = append(args, strings.ReplaceAll(a, "{port}", d.port))
			}
			r := runCLI(t, nil, "", args...)
			if r.code != tc.code {
				t.Errorf("exit code = %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tc.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr does not contain %q:\n%s", tc.want, r.stderr)
			}
			if !strings.HasPrefix(r.stderr, "Error: ") && !strings.Contains(r.stderr, "\nError: ") {
				t.Errorf("stderr has no 'Error: ' line:\n%s", r.stderr)
			}
			st := d.dev.Stats()
			if len(st.Exchanges) != 0 || st.SessionsOpened != 0 {
				t.Errorf("the device was contacted: %+v", st)
			}
		})
	}
}
