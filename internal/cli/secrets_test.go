package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/espprov/espprov/internal/sim/device"
)

// TestSecretsFromFilesAndEnvironment: --passphrase-file, --pop-file,
// --sec2-password-file and ESPPROV_* variables provision like the flags,
// without the secret on the command line.
func TestSecretsFromFilesAndEnvironment(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	passFile := write("wifi.txt", testPass+"\n")
	popFile := write("pop.txt", testPoP+"\r\n")
	sec2File := write("srp.txt", testPoP)
	httpd := func(d *simDev, extra ...string) []string {
		return append([]string{"provision", "--transport", "httpd", "--device-ip", "127.0.0.1", "--device-port", d.port, "--ssid", testSSID}, extra...)
	}
	ok := []struct {
		name string
		cfg  device.Config
		env  []string
		args []string
	}{
		{"files", sec1, nil, []string{"--pop-file", popFile, "--passphrase-file", passFile}},
		{"environment", sec1, []string{"ESPPROV_POP=" + testPoP, "ESPPROV_PASSPHRASE=" + testPass}, nil},
		{"Security 2 password file", sec2, nil, []string{"--sec_ver", "2", "--sec2_username", testUser, "--sec2-password-file", sec2File, "--passphrase-file", passFile}},
		{"Security 2 password from the environment", sec2, []string{"ESPPROV_SEC2_PASSWORD=" + testPoP, "ESPPROV_PASSPHRASE=" + testPass}, []string{"--sec_ver", "2", "--sec2_username", testUser}},
		{"the flag wins over the environment", sec1, []string{"ESPPROV_POP=wrong-pop", "ESPPROV_PASSPHRASE=wrong-pass"}, []string{"--pop", testPoP, "--passphrase", testPass}},
	}
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) {
			d := startDevice(t, tc.cfg)
			r := runCLI(t, tc.env, "", httpd(d, tc.args...)...)
			if r.code != 0 {
				t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
			}
			if strings.Contains(r.stdout+r.stderr, testPass) || strings.Contains(r.stdout+r.stderr, testPoP) {
				t.Fatal("a secret appears in the output")
			}
		})
	}
	t.Run("flag and file together", func(t *testing.T) {
		d := startDevice(t, sec1)
		r := runCLI(t, nil, "", httpd(d, "--pop", testPoP, "--pop-file", popFile, "--passphrase", testPass)...)
		if r.code != ExitUsage || !strings.Contains(r.stderr, "either --pop or --pop-file") {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		if len(d.dev.Stats().Exchanges) != 0 {
			t.Fatal("the device was contacted")
		}
	})
	t.Run("missing file", func(t *testing.T) {
		d := startDevice(t, sec1)
		r := runCLI(t, nil, "", httpd(d, "--pop", testPoP, "--passphrase-file", filepath.Join(dir, "nope"))...)
		if r.code != ExitUsage || !strings.Contains(r.stderr, "--passphrase-file") {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
	})
	t.Run("help says which to prefer", func(t *testing.T) {
		r := runCLI(t, nil, "", "provision", "--help")
		for _, want := range []string{"--passphrase-file", "--pop-file", "--sec2-password-file", "ESPPROV_PASSPHRASE", "ESPPROV_POP", "ESPPROV_SEC2_PASSWORD", "Prefer"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("provision --help lacks %q", want)
			}
		}
	})
}
