package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/espprov/espprov/internal/cli"
)

// A Thread network: channel 15, PAN ID 0xface, "OpenThread".
const (
	testKey       = "00112233445566778899aabbccddeeff"
	testDataset   = "000300000f0102face0208dead00beef00cafe030a4f70656e5468726561640510" + testKey
	wrongKeyTLVs  = "000300000f0102face0208dead00beef00cafe0510ffeeddccbbaa99887766554433221100"
	otherNetTLVs  = "0003000019010212340208aaaaaaaaaaaaaaaa0303466f6f051011111111111111111111111111111111"
	malformedTLVs = "000500000f"
)

func TestParseNetProvFlags(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		want  string
		check func(*options) bool
	}{
		{"wifi by default", []string{"--netprov"}, "", func(o *options) bool { return o.np.networks == "wifi" && o.secVer == 2 }},
		{"thread from datasets", []string{"--netprov", "--thread-dataset", testDataset, "--thread-dataset", otherNetTLVs}, "", func(o *options) bool {
			return o.np.networks == "thread" && len(o.np.threadNets.nets) == 2 && !strings.Contains(o.np.threadNets.String(), testKey)
		}},
		{"both", []string{"--netprov", "--ap", "home:secretpass", "--thread-dataset", testDataset}, "", func(o *options) bool { return o.np.networks == "wifi,thread" }},
		{"explicit", []string{"--netprov", "--netprov-networks", "wifi,thread"}, "", func(o *options) bool { return o.np.offers("thread") && o.np.offers("wifi") }},
		{"dataset without netprov", []string{"--thread-dataset", testDataset}, "needs --netprov", nil},
		{"malformed dataset", []string{"--netprov", "--thread-dataset", malformedTLVs}, "claims", nil},
		{"incomplete dataset", []string{"--netprov", "--thread-dataset", "0102face"}, "no network key", nil},
		{"bad networks", []string{"--netprov", "--netprov-networks", "zigbee"}, "want wifi, thread", nil},
		{"dataset on a wifi-only device", []string{"--netprov", "--netprov-networks", "wifi", "--thread-dataset", testDataset}, "offers thread", nil},
		{"bad timer", []string{"--netprov", "--thread-attach-timeout", "0s"}, "must be > 0", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseFlags(tc.args, &bytes.Buffer{})
			switch {
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("err = %v, want %q", err, tc.want)
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.check != nil && !tc.check(o):
				t.Fatalf("options %+v", o.np)
			}
		})
	}
}

// espsim --netprov devices provisioned by the espprov CLI: a Thread
// dataset, a wrong network key (exit 5 after the attach timer), and Wi-Fi.
func TestRunNetProv(t *testing.T) {
	lines, out, stop := startRun(t, []string{"--http-listen", "127.0.0.1:0", "--fleet", "3", "--netprov", "--ap", "home:wifi-s3cret",
		"--thread-dataset", testDataset, "--thread-dataset", otherNetTLVs, "--thread-attach-delay", "10ms", "--thread-attach-timeout", "200ms", "--connect-delay", "10ms"}, 3)
	line := regexp.MustCompile(`listening on 127\.0\.0\.1:(\d+) \(node \S+, security 2, 1 APs, network_provisioning wifi\+thread, 2 Thread networks\)$`)
	var ports []string
	for _, l := range lines {
		m := line.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("line %q", l)
		}
		ports = append(ports, m[1])
	}
	cliRun := func(args ...string) (int, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var o bytes.Buffer
		dir := t.TempDir()
		code := cli.Run(ctx, append(args, "--no-input"), cli.IO{Stdin: strings.NewReader(""), Stdout: &o, Stderr: &o,
			Getenv: func(k string) string { return map[string]string{"HOME": dir, "XDG_CONFIG_HOME": dir}[k] }})
		return code, o.String()
	}
	base := func(port string) []string {
		return []string{"provision", "--transport", "httpd", "--device-ip", "127.0.0.1", "--device-port", port,
			"--sec_ver", "2", "--sec2_username", "wifiprov", "--sec2_password", defaultSRPPassword, "--status-poll", "50ms"}
	}
	if code, o := cliRun(append(base(ports[0]), "--dataset", testDataset)...); code != 0 || !strings.Contains(o, "Thread Provisioning Successful") {
		t.Fatalf("thread: exit %d\n%s", code, o)
	}
	if code, o := cliRun(append(base(ports[1]), "--dataset", wrongKeyTLVs, "--no-retry")...); code != cli.ExitWifi || !strings.Contains(o, "network not found or wrong network key") {
		t.Fatalf("wrong key: exit %d\n%s", code, o)
	}
	if code, o := cliRun(append(base(ports[2]), "--ssid", "home", "--passphrase", "wifi-s3cret")...); code != 0 || !strings.Contains(o, "Wi-Fi Provisioning Successful") {
		t.Fatalf("wifi: exit %d\n%s", code, o)
	}
	if code, o := cliRun("scan", "--network", "thread", "--transport", "httpd", "--device-ip", "127.0.0.1", "--device-port", ports[1],
		"--sec_ver", "2", "--sec2_username", "wifiprov", "--sec2_password", defaultSRPPassword); code != 0 || !strings.Contains(o, "OpenThread") || !strings.Contains(o, "0x1234") {
		t.Fatalf("scan: exit %d\n%s", code, o)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), testKey) {
		t.Fatal("espsim printed a network key")
	}
}
