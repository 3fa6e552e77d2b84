package cli

import (
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/espprov/espprov/internal/sim/device"
)

// The Thread network in range of the simulated ESP-IDF 6 devices.
const (
	otKey      = "00112233445566778899aabbccddeeff"
	otDataset  = "000300000f0102face0208dead00beef00cafe030a4f70656e5468726561640510" + otKey
	otWrongKey = "000300000f0102face0208dead00beef00cafe0510ffeeddccbbaa99887766554433221100"
)

// netprovDev is an ESP-IDF 6 network_provisioning device (Security 2).
func netprovDev(t *testing.T, wifi, thread bool) *simDev {
	t.Helper()
	ds, _ := hex.DecodeString(otDataset)
	cfg := device.Config{NetProv: true, NoWifi: !wifi, Thread: thread, SecVer: 2, SecPatchVer: 1, SRPUsername: testUser, SRPPassword: testPoP,
		ThreadAttachDelay: 30 * time.Millisecond, ThreadAttachTimeout: 300 * time.Millisecond}
	if thread {
		cfg.ThreadNetworks = []device.ThreadNetwork{{Dataset: ds, RSSI: -60}}
	}
	return startDevice(t, cfg)
}

func netprovArgs(d *simDev, extra ...string) []string {
	return append([]string{"provision", "--transport", "httpd", "--device-ip", "127.0.0.1", "--device-port", d.port,
		"--sec_ver", "2", "--sec2_username", testUser, "--sec2_password", testPoP, "--status-poll", "50ms", "--exchange-timeout", "2s"}, extra...)
}

// modes runs f in-process and against a server (--server).
func modes(t *testing.T, f func(t *testing.T, server []string)) {
	t.Run("local", func(t *testing.T) { f(t, nil) })
	t.Run("remote", func(t *testing.T) { f(t, []string{"--server", startServer(t)}) })
}

func TestThreadProvision(t *testing.T) {
	for _, tc := range []struct {
		name       string
		wifi       bool
		args       []string
		code       int
		want, nots []string
		attached   bool
	}{
		{name: "dataset", args: []string{"--dataset", otDataset}, attached: true,
			want: []string{"Sending Thread dataset to node - Successful", "==== Thread state: Attached ====", "Thread Provisioning Successful", `Device attached to "OpenThread" (PAN ID 0xface, channel 15)`}},
		{name: "parts", args: []string{"--thread-network-key", otKey, "--thread-pan-id", "0xface", "--thread-ext-pan-id", "dead00beef00cafe", "--thread-channel", "15"}, attached: true,
			want: []string{"Thread Provisioning Successful"}},
		{name: "wrong key is a network failure", args: []string{"--dataset", otWrongKey, "--no-retry"}, code: ExitWifi,
			want: []string{"Thread state: Attaching failed (network not found or wrong network key)", "check the network key", "reset to provisioning mode"}},
		{name: "malformed dataset is bad usage", args: []string{"--dataset", "000500000f"}, code: ExitUsage, want: []string{"--dataset"}},
		{name: "missing parts", args: []string{"--thread-network-key", otKey}, code: ExitUsage, want: []string{"missing --thread-pan-id, --thread-ext-pan-id, --thread-channel"}},
		{name: "both forms", args: []string{"--dataset", otDataset, "--thread-channel", "15"}, code: ExitUsage, want: []string{"not both"}},
		{name: "wifi flags with thread", args: []string{"--dataset", otDataset, "--ssid", testSSID, "--passphrase", testPass}, code: ExitUsage},
		{name: "thread without credentials in a script", args: []string{"--network", "thread"}, code: ExitUsage, want: []string{"--dataset"}},
		{name: "wifi credentials to a thread-only device", args: []string{"--ssid", testSSID, "--passphrase", testPass}, code: ExitDevice,
			want: []string{"offers Thread, not Wi-Fi"}},
		{name: "thread credentials to a wifi-only device", wifi: true, args: []string{"--dataset", otDataset}, code: ExitDevice,
			want: []string{"offers Wi-Fi, not Thread"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			modes(t, func(t *testing.T, server []string) {
				d := netprovDev(t, tc.wifi, !tc.wifi)
				r := runCLI(t, nil, "", append(server, netprovArgs(d, tc.args...)...)...)
				if r.code != tc.code {
					t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tc.code, r.stdout, r.stderr)
				}
				all := r.stdout + r.stderr
				for _, w := range tc.want {
					if !strings.Contains(all, w) {
						t.Errorf("output lacks %q:\n%s", w, all)
					}
				}
				if strings.Contains(all, otKey) || strings.Contains(all, "ffeeddccbbaa9988") {
					t.Errorf("output shows a network key:\n%s", all)
				}
				if got := d.dev.Thread().State == device.ThreadAttached; got != tc.attached {
					t.Errorf("device attached = %t, want %t (%v)", got, tc.attached, d.dev.Thread())
				}
				if tc.code == ExitUsage && len(d.dev.Stats().Exchanges) != 0 {
					t.Errorf("bad usage contacted the device: %v", d.dev.Stats().Exchanges)
				}
			})
		})
	}
}

func TestThreadProvisionJSON(t *testing.T) {
	d := netprovDev(t, false, true)
	r := runCLI(t, nil, "", append(netprovArgs(d, "--dataset", otDataset), "--output", "json")...)
	if r.code != 0 {
		t.Fatalf("exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	last := lines[len(lines)-1]
	for _, w := range []string{`"network":"NETWORK_TYPE_THREAD"`, `"networkName":"OpenThread"`, `"state":"THREAD_ATTACH_STATE_ATTACHED"`} {
		if !strings.Contains(last, w) {
			t.Errorf("last line lacks %s: %s", w, last)
		}
	}
	if !strings.Contains(r.stdout, `"step":"STEP_THREAD_STATE"`) || !strings.Contains(r.stdout, `"provGeneration":"PROV_GENERATION_NETWORK_PROVISIONING"`) {
		t.Errorf("events lack Thread state or generation:\n%s", r.stdout)
	}
}

func TestScanThreadCLI(t *testing.T) {
	modes(t, func(t *testing.T, server []string) {
		d := netprovDev(t, false, true)
		sec := []string{"--transport", "httpd", "--device-ip", "127.0.0.1", "--device-port", d.port, "--sec_ver", "2", "--sec2_username", testUser, "--sec2_password", testPoP}
		for _, args := range [][]string{{"scan", "--network", "thread"}, {"scan"}} {
			r := runCLI(t, nil, "", append(append(server, args...), sec...)...)
			if r.code != 0 || !strings.Contains(r.stdout, "OpenThread") || !strings.Contains(r.stdout, "0xface") || !strings.Contains(r.stdout, "dead00beef00cafe") {
				t.Fatalf("%v: exit %d\n%s\n%s", args, r.code, r.stdout, r.stderr)
			}
		}
		r := runCLI(t, nil, "", append(append(server, "scan", "--network", "wifi"), sec...)...)
		if r.code != ExitDevice || !strings.Contains(r.stderr, "offers Thread, not Wi-Fi") {
			t.Fatalf("scan --network wifi: exit %d\n%s", r.code, r.stderr)
		}
	})
}

func TestDiscoverShowsGeneration(t *testing.T) {
	d := netprovDev(t, true, true)
	r := runCLI(t, nil, "", "discover", "--transport", "httpd", "--device-ip", "127.0.0.1", "--device-port", d.port)
	if r.code != 0 || !strings.Contains(r.stdout, "network  wifi+thread") {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, nil, "", "discover", "--transport", "httpd", "--device-ip", "127.0.0.1", "--device-port", d.port, "--output", "json")
	if !strings.Contains(r.stdout, `"provGeneration":"PROV_GENERATION_NETWORK_PROVISIONING"`) || !strings.Contains(r.stdout, `"networkTypes":["NETWORK_TYPE_WIFI","NETWORK_TYPE_THREAD"]`) {
		t.Fatalf("json: %s", r.stdout)
	}
}

func TestProvGenerationFlag(t *testing.T) {
	d := startDevice(t, device.Config{SecVer: 0})
	r := runCLI(t, nil, "", "provision", "--transport", "httpd", "--device-ip", "127.0.0.1", "--device-port", d.port, "--sec_ver", "0",
		"--ssid", testSSID, "--passphrase", testPass, "--status-poll", "50ms", "--prov-generation", "network", "--output", "json")
	if r.code != 0 || !strings.Contains(r.stdout, `"provGeneration":"PROV_GENERATION_NETWORK_PROVISIONING"`) {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, nil, "", "provision", "--transport", "httpd", "--device-ip", "127.0.0.1", "--device-port", d.port, "--prov-generation", "idf7")
	if r.code != ExitUsage || !strings.Contains(r.stderr, "--prov-generation") {
		t.Fatalf("bad value: exit %d %s", r.code, r.stderr)
	}
}

// At a terminal, a device that offers Wi-Fi and Thread asks which; the
// Thread list comes from the device's scan and the key is asked hidden.
func TestPTYThreadSelection(t *testing.T) {
	d := netprovDev(t, true, true)
	s := startPTY(t, netprovArgs(d)...)
	s.expect("Provision [1] Wi-Fi or [2] Thread? : ")
	s.send("2\r")
	s.expect("OpenThread")
	s.expect("Select Thread network by number (0 to rescan) : ")
	s.send("1\r")
	s.expect("Enter the Thread network key for OpenThread (32 hex digits) : ")
	s.send("ffeeddccbbaa99887766554433221100\r")
	s.expect("Thread state: Attaching failed (network not found or wrong network key)")
	s.expect("Would you like to retry provisioning? [y/N]: ")
	s.send("y\r")
	s.expect("Enter the Thread network key for OpenThread (32 hex digits) : ")
	s.send(otKey + "\r")
	s.expect("Thread Provisioning Successful")
	if code := s.wait(); code != 0 {
		t.Fatalf("exit %d; terminal:\n%s", code, s.output())
	}
	if strings.Contains(s.output(), otKey) {
		t.Fatal("the network key was echoed")
	}
	// Wi-Fi scan (which tells that Thread is offered too), Thread scan, and
	// one provisioning session that carried the retry.
	if n := d.dev.Stats().HandshakesCompleted; n != 3 {
		t.Errorf("handshakes = %d, want 3", n)
	}
}
