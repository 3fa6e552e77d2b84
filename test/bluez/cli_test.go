//go:build bluezvm

package bluez

import (
	"regexp"
	"strings"
	"testing"
)

// espprov discover --transport ble lists the device with its name and RSSI.
func TestDiscoverCLI(t *testing.T) {
	pr := usePair(t)
	name := deviceName()
	espsim(t, "--ble-adapter", pr.device, "--name", name, "--sec-ver", "1", "--pop", pop, "--ap", apFlag)
	r := espprov(t, "discover", "--transport", "ble", "--ble-adapter", pr.central, "--discovery-timeout", "15")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.out, r.stderr)
	}
	line := regexp.MustCompile(`(?m)^\d+\s+` + name + `\s+([0-9A-F:]{17})\s+.*?(-?\d+)\s*$`).FindStringSubmatch(r.out)
	if line == nil {
		t.Fatalf("%s with address and RSSI not listed:\n%s", name, r.out)
	}
	t.Logf("listed: %s", strings.TrimSpace(line[0]))
}

// espprov provision --transport ble with each security scheme.
func TestProvisionCLI(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		sim  []string
		cli  []string
	}{
		{"sec0", []string{"--sec-ver", "0"}, []string{"--sec_ver", "0"}},
		{"sec1", []string{"--sec-ver", "1", "--pop", pop}, []string{"--sec_ver", "1", "--pop", pop}},
		{"sec2", []string{"--sec-ver", "2"}, []string{"--sec_ver", "2", "--sec2_username", srpUser, "--sec2_password", srpPass}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pr := usePair(t)
			name := deviceName()
			espsim(t, append([]string{"--ble-adapter", pr.device, "--name", name, "--ap", apFlag}, tc.sim...)...)
			args := append([]string{"provision", exchangeFlag, "--transport", "ble", "--ble-adapter", pr.central, "--device_name", name,
				"--discovery-timeout", discoverS, "--ssid", ssid, "--passphrase", pass, "--no-input", "--output", "json"}, tc.cli...)
			r := espprov(t, args...)
			if r.code != 0 {
				t.Fatalf("exit %d after %v\n%s\n%s", r.code, r.took, r.out, r.stderr)
			}
			t.Logf("provisioned %s in %v\n%s", name, r.took.Round(1e6), r.out)
		})
	}
}
