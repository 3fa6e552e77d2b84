package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	simcloud "github.com/espprov/espprov/internal/sim/cloud"
)

// TestLogin signs in against the simulated cloud and stores the tokens in
// a 0600 file that is never printed.
func TestLogin(t *testing.T) {
	cloud := simcloud.New(simcloud.Options{})
	t.Cleanup(cloud.Close)
	cloud.AddUser("me@example.com", "correct horse")
	cfg := t.TempDir()
	env := []string{"XDG_CONFIG_HOME=" + cfg}

	r := runCLI(t, env, "wrong password\n", "login", "--email", "me@example.com", "--password-stdin", "--base-url", cloud.URL())
	if r.code != ExitCloud || !strings.Contains(r.stderr, "login rejected") {
		t.Fatalf("wrong password: exit %d, stderr %q", r.code, r.stderr)
	}
	path := filepath.Join(cfg, "espprov", "rainmaker.json")
	if _, err := os.Stat(path); err == nil {
		t.Fatalf("a failed login wrote %s", path)
	}

	r = runCLI(t, env, "correct horse\n", "login", "--email", "me@example.com", "--password-stdin", "--base-url", cloud.URL())
	if r.code != 0 {
		t.Fatalf("login: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "Logged in to "+cloud.URL()+" as me@example.com.") || !strings.Contains(r.stdout, path) {
		t.Errorf("login output: %q", r.stdout)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("%s mode = %v, want 0600", path, st.Mode().Perm())
	}
	if dst, err := os.Stat(filepath.Dir(path)); err != nil || dst.Mode().Perm() != 0o700 {
		t.Errorf("config dir mode = %v (%v), want 0700", dst.Mode().Perm(), err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c cloudConfig
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	if c.AccessToken == "" || c.IDToken == "" || c.RefreshToken == "" || c.BaseURL != cloud.URL() || c.UserName != "me@example.com" {
		t.Errorf("stored login = %v", c)
	}
	if strings.Contains(string(b), "correct horse") {
		t.Errorf("the password was stored")
	}
	for _, tok := range []string{c.AccessToken, c.IDToken, c.RefreshToken} {
		if strings.Contains(r.stdout+r.stderr, tok) {
			t.Errorf("a token was printed")
		}
	}
	if strings.Contains(c.String(), c.AccessToken) {
		t.Errorf("cloudConfig.String shows a token")
	}

	r = runCLI(t, env, "", "logout")
	if r.code != 0 {
		t.Fatalf("logout: exit %d %s", r.code, r.stderr)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("logout left %s", path)
	}
}

// TestCloudFailures: requests that need RainMaker without an account end
// with the cloud exit code before the device is contacted.
func TestCloudFailures(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"tags need an account", httpdArgs("--pop", testPoP, "--ssid", testSSID, "--passphrase", testPass, "--tags", "location:pune"), ExitCloud, "espprov login"},
		{"metadata needs an account", httpdArgs("--pop", testPoP, "--ssid", testSSID, "--passphrase", testPass, "--metadata", `{"serial_no":"abc123"}`), ExitCloud, "espprov login"},
		{"no-wifi needs an account", httpdArgs("--pop", testPoP, "--no-wifi"), ExitCloud, "espprov login"},
		{"on-network needs an account", []string{"provision", "--transport", "on-network", "--device-ip", "127.0.0.1", "--device-port", "{port}", "--pop", testPoP}, ExitCloud, "espprov login"},
		{"map needs an account", []string{"map", "--transport", "httpd", "--device-ip", "127.0.0.1", "--device-port", "{port}", "--pop", testPoP, "--tags", "a:b"}, ExitCloud, "espprov login"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := startDevice(t, sec1)
			var args []string
			for _, a := range tc.args {
				args = append(args, strings.ReplaceAll(a, "{port}", d.port))
			}
			r := runCLI(t, nil, "", args...)
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d (want %d), stderr %q (want %q)", r.code, tc.code, r.stderr, tc.want)
			}
			if st := d.dev.Stats(); len(st.Exchanges) != 0 {
				t.Errorf("the device was contacted: %+v", st)
			}
		})
	}
}

// TestDisableChalResp: the device without challenge-response is refused
// (device exit code); a RainMaker device is disabled, then reported as
// already disabled.
func TestDisableChalResp(t *testing.T) {
	plain := startDevice(t, sec1)
	r := runCLI(t, nil, "", "disable-chal-resp", "--transport", "httpd", "--device-ip", "127.0.0.1", "--device-port", plain.port, "--pop", testPoP)
	if r.code != ExitDevice || !strings.Contains(r.stderr, "challenge-response") {
		t.Errorf("plain device: exit %d, stderr %q", r.code, r.stderr)
	}
	cloud := simcloud.New(simcloud.Options{})
	t.Cleanup(cloud.Close)
	d := startRMDevice(t, cloud, true)
	args := []string{"disable-chal-resp", "--transport", "httpd", "--device-ip", "127.0.0.1", "--device-port", d.port, "--pop", testPoP}
	r = runCLI(t, nil, "", args...)
	if r.code != 0 || r.stdout != "Challenge-response disabled on the device.\n" || !d.node.Disabled() {
		t.Errorf("first disable: exit %d, stdout %q, stderr %q, disabled %t", r.code, r.stdout, r.stderr, d.node.Disabled())
	}
	r = runCLI(t, nil, "", append(args, "-o", "json")...)
	if r.code != 0 || !strings.Contains(r.stdout, `"alreadyDisabled":true`) {
		t.Errorf("second disable: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}
