package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"maps"
	"net"
	"net/http"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/espprov/espprov/internal/cli"
	"github.com/espprov/espprov/internal/netnstest"
	"github.com/espprov/espprov/transports/onnetwork"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		want  string // error substring; "" = ok
		check func(*options) bool
	}{
		{"defaults", nil, "", func(o *options) bool {
			return o.listen == "127.0.0.1:8080" && o.secVer == 2 && o.secPatchVer == 1 && o.srpUser == "wifiprov" &&
				o.srpPass == defaultSRPPassword && o.fleetN == 1 && o.connectDelay == time.Second && !o.noAutoStop
		}},
		{"sec1 pop", []string{"--sec-ver", "1", "--pop", "abcd"}, "", func(o *options) bool {
			return o.secVer == 1 && o.pop == "abcd" && o.secPatchVer == 0 && o.srpPass == ""
		}},
		{"sec0", []string{"-sec-ver=0"}, "", func(o *options) bool { return o.secVer == 0 && o.secPatchVer == 0 }},
		{"sec2 patch0", []string{"--sec-patch-ver", "0", "--sec2-username", "u", "--sec2-password", "p"}, "", func(o *options) bool {
			return o.secPatchVer == 0 && o.srpUser == "u" && o.srpPass == "p"
		}},
		{"aps", []string{"--ap", "home:pa:ss", "--ap", "open:", "--ap", "x:12345678"}, "", func(o *options) bool {
			a := o.aps.aps
			return len(a) == 3 && a[0].SSID == "home" && a[0].Passphrase == "pa:ss" && a[1].SSID == "open" &&
				a[1].Passphrase == "" && a[0].Channel != a[1].Channel && a[0].RSSI > a[1].RSSI && o.aps.String() == "home,open,x"
		}},
		{"fleet", []string{"--fleet", "3", "--http-listen", "127.0.0.1:0", "--no-auto-stop", "--wifi-conn-attempts", "2", "--connect-delay", "5ms"}, "", func(o *options) bool {
			return o.fleetN == 3 && o.noAutoStop && o.connAttempts == 2 && o.connectDelay == 5*time.Millisecond
		}},
		{"identity", []string{"--name", "PROV_ABCDEF", "--node-id", "N1", "--station-ip", "10.0.0.2"}, "", func(o *options) bool {
			return o.name == "PROV_ABCDEF" && o.nodeID == "N1" && o.stationIP == "10.0.0.2"
		}},
		{"bad sec", []string{"--sec-ver", "3"}, "--sec-ver 3", nil},
		{"bad patch", []string{"--sec-patch-ver", "2"}, "--sec-patch-ver 2", nil},
		{"patch1 sec1", []string{"--sec-ver", "1", "--sec-patch-ver", "1"}, "needs --sec-ver 2", nil},
		{"pop sec2", []string{"--pop", "x"}, "--pop needs --sec-ver 1", nil},
		{"srp sec1", []string{"--sec-ver", "1", "--sec2-password", "x"}, "need --sec-ver 2", nil},
		{"empty password", []string{"--sec2-password", ""}, "must not be empty", nil},
		{"empty user", []string{"--sec2-username", ""}, "must not be empty", nil},
		{"ap no colon", []string{"--ap", "home"}, "SSID:PASSPHRASE", nil},
		{"ap no ssid", []string{"--ap", ":pass"}, "empty SSID", nil},
		{"fleet 0", []string{"--fleet", "0"}, "--fleet 0", nil},
		{"fleet name", []string{"--fleet", "2", "--name", "x"}, "need --fleet 1", nil},
		{"fleet ports", []string{"--fleet", "3", "--http-listen", "127.0.0.1:65534"}, "exceeds 65535", nil},
		{"listen", []string{"--http-listen", "nohost"}, "--http-listen", nil},
		{"listen port", []string{"--http-listen", "127.0.0.1:99999"}, "bad port", nil},
		{"delay", []string{"--connect-delay", "-1s"}, "--connect-delay", nil},
		{"instant association", []string{"--connect-delay", "0s"}, "", func(o *options) bool { return o.connectDelay == time.Nanosecond }},
		{"attempts", []string{"--wifi-conn-attempts", "-1"}, "--wifi-conn-attempts", nil},
		{"extra args", []string{"foo"}, "unexpected arguments", nil},
		{"rainmaker defaults", []string{"--cloud-listen", "127.0.0.1:0", "--rainmaker", "chal-resp"}, "", func(o *options) bool {
			return o.cloudListen == "127.0.0.1:0" && o.cloudUser == defaultCloudUser && o.cloudPass == defaultCloudPassword &&
				o.rainmaker == rmChalResp && o.keyType == "rsa" && !o.needsClaim && o.onNetwork == "" && o.onNetworkListen == "127.0.0.1:0" && !o.noMDNS
		}},
		{"no rainmaker", nil, "", func(o *options) bool {
			return o.cloudListen == "" && o.rainmaker == rmNone && o.cloudPass == ""
		}},
		{"cloud only", []string{"--cloud-listen", "localhost:0", "--cloud-user", "a@b.c", "--cloud-password", "pw"}, "", func(o *options) bool {
			return o.cloudUser == "a@b.c" && o.cloudPass == "pw" && o.rainmaker == rmNone
		}},
		{"traditional ec claim", []string{"--cloud-listen", "127.0.0.1:0", "--rainmaker", "traditional", "--key-type", "ec", "--needs-claim"}, "", func(o *options) bool {
			return o.rainmaker == rmTraditional && o.keyType == "ec" && o.needsClaim
		}},
		{"on-network", []string{"--cloud-listen", "127.0.0.1:0", "--rainmaker", "chal-resp", "--on-network", "local-ctrl",
			"--on-network-listen", "127.0.0.1:8081", "--no-mdns", "--fleet", "2"}, "", func(o *options) bool {
			return o.onNetwork == onNetLocalCtrl && o.onNetworkListen == "127.0.0.1:8081" && o.noMDNS
		}},
		{"cloud listen fixed port", []string{"--cloud-listen", "127.0.0.1:8443"}, "", func(o *options) bool { return o.cloudListen == "127.0.0.1:8443" }},
		{"cloud listen bad port", []string{"--cloud-listen", "127.0.0.1:http"}, "want HOST:PORT", nil},
		{"cloud listen no host", []string{"--cloud-listen", ":0"}, "want HOST:PORT", nil},
		{"cloud listen bad", []string{"--cloud-listen", "nohost"}, "--cloud-listen \"nohost\"", nil},
		{"cloud user without cloud", []string{"--cloud-user", "a@b.c"}, "need --cloud-listen", nil},
		{"cloud password without cloud", []string{"--cloud-password", "pw"}, "need --cloud-listen", nil},
		{"empty cloud user", []string{"--cloud-listen", "127.0.0.1:0", "--cloud-user", " "}, "--cloud-user must not be empty", nil},
		{"empty cloud password", []string{"--cloud-listen", "127.0.0.1:0", "--cloud-password", ""}, "--cloud-password must not be empty", nil},
		{"rainmaker without cloud", []string{"--rainmaker", "chal-resp"}, "needs --cloud-listen", nil},
		{"traditional without cloud", []string{"--rainmaker", "traditional"}, "needs --cloud-listen", nil},
		{"bad rainmaker", []string{"--cloud-listen", "127.0.0.1:0", "--rainmaker", "yes"}, "--rainmaker \"yes\": want none, chal-resp or traditional", nil},
		{"key type without rainmaker", []string{"--key-type", "ec"}, "--key-type needs --rainmaker", nil},
		{"needs claim without rainmaker", []string{"--needs-claim"}, "--needs-claim needs --rainmaker", nil},
		{"bad key type", []string{"--cloud-listen", "127.0.0.1:0", "--rainmaker", "chal-resp", "--key-type", "dsa"}, "--key-type \"dsa\": want rsa or ec", nil},
		{"bad on-network", []string{"--cloud-listen", "127.0.0.1:0", "--rainmaker", "chal-resp", "--on-network", "yes"}, "--on-network \"yes\": want standalone or local-ctrl", nil},
		{"on-network without rainmaker", []string{"--on-network", "standalone"}, "--on-network needs --rainmaker chal-resp", nil},
		{"on-network traditional", []string{"--cloud-listen", "127.0.0.1:0", "--rainmaker", "traditional", "--on-network", "standalone"}, "--on-network needs --rainmaker chal-resp", nil},
		{"on-network needs claim", []string{"--cloud-listen", "127.0.0.1:0", "--rainmaker", "chal-resp", "--needs-claim", "--on-network", "standalone"}, "unclaimed node", nil},
		{"on-network listen without on-network", []string{"--on-network-listen", "127.0.0.1:80"}, "--on-network-listen needs --on-network", nil},
		{"no-mdns without on-network", []string{"--no-mdns"}, "--no-mdns needs --on-network", nil},
		{"on-network listen bad", []string{"--cloud-listen", "127.0.0.1:0", "--rainmaker", "chal-resp", "--on-network", "standalone", "--on-network-listen", "80"}, "--on-network-listen \"80\"", nil},
		{"on-network listen port", []string{"--cloud-listen", "127.0.0.1:0", "--rainmaker", "chal-resp", "--on-network", "standalone", "--on-network-listen", "127.0.0.1:70000"}, "bad port", nil},
		{"on-network fleet ports", []string{"--cloud-listen", "127.0.0.1:0", "--rainmaker", "chal-resp", "--on-network", "standalone",
			"--on-network-listen", "127.0.0.1:65535", "--fleet", "2", "--http-listen", "127.0.0.1:0"}, "on-network port 65535 exceeds 65535", nil},
		{"unknown flag", []string{"--bogus"}, "bogus", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			o, err := parseFlags(tc.args, &out)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error()+out.String(), tc.want) {
					t.Fatalf("err = %v (output %q), want %q", err, out.String(), tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(o) {
				t.Fatalf("options %+v", o)
			}
		})
	}
	if _, err := parseFlags([]string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
}

// syncBuffer is a goroutine-safe output sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRun(t *testing.T) {
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--http-listen", "127.0.0.1:0", "--fleet", "2", "--sec2-password", "topsecret",
			"--ap", "home:wifisecret"}, &out)
	}()
	line := regexp.MustCompile(`^(PROV_[0-9A-F]{6}) listening on (127\.0\.0\.1:\d+) \(node [0-9A-F]{12}, security 2, 1 APs\)$`)
	var addrs []string
	deadline := time.Now().Add(10 * time.Second)
	for len(addrs) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no device lines: %q", out.String())
		}
		select {
		case err := <-done:
			t.Fatalf("run returned early: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
		addrs = addrs[:0]
		sc := bufio.NewScanner(strings.NewReader(out.String()))
		for sc.Scan() {
			m := line.FindStringSubmatch(sc.Text())
			if m == nil {
				t.Fatalf("unexpected line %q", sc.Text())
			}
			addrs = append(addrs, m[2])
		}
	}
	if addrs[0] == addrs[1] {
		t.Fatalf("same address %v", addrs)
	}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}}
	for _, a := range addrs {
		resp, err := hc.Post("http://"+a+"/proto-ver", "application/x-www-form-urlencoded", strings.NewReader("---"))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), "\"sec_patch_ver\":\t1") {
			t.Fatalf("proto-ver %q", body)
		}
	}
	hc.CloseIdleConnections()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not stop")
	}
	if s := out.String(); strings.Contains(s, "topsecret") || strings.Contains(s, "wifisecret") || !strings.HasSuffix(s, "espsim: stopped\n") {
		t.Fatalf("output %q", s)
	}
	for deadline := time.Now().Add(3 * time.Second); runtime.NumGoroutine() > before; {
		if time.Now().After(deadline) {
			t.Fatalf("goroutine leak: %d > %d", runtime.NumGoroutine(), before)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRunListenError(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := run(ctx, []string{"--http-listen", "192.0.2.1:0", "--sec-ver", "0"}, io.Discard)
	if err == nil {
		t.Fatal("listening on a foreign address succeeded")
	}
}

// startRun runs espsim with args until the test ends and returns the first
// want output lines once they are there.
func startRun(t *testing.T, args []string, want int) (lines []string, out *syncBuffer, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out = &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, out) }()
	var once sync.Once
	var stopErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(10 * time.Second):
				stopErr = errors.New("run did not stop")
			}
		})
		return stopErr
	}
	t.Cleanup(func() { _ = stop() })
	for deadline := time.Now().Add(20 * time.Second); ; {
		lines = strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
		if len(lines) >= want && strings.HasSuffix(out.String(), "\n") {
			return lines, out, stop
		}
		if time.Now().After(deadline) {
			t.Fatalf("want %d lines, got %q", want, out.String())
		}
		select {
		case err := <-done:
			t.Fatalf("run returned early: %v (output %q)", err, out.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// post sends body to url and returns the status and reply.
func post(t *testing.T, hc *http.Client, url, ctype, body string) (int, []byte) {
	t.Helper()
	resp, err := hc.Post(url, ctype, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// protoVer reads a device's proto-ver JSON.
func protoVer(t *testing.T, hc *http.Client, addr string) map[string]json.RawMessage {
	t.Helper()
	code, body := post(t, hc, "http://"+addr+"/proto-ver", "application/x-www-form-urlencoded", "---")
	var m map[string]json.RawMessage
	if code != http.StatusOK || json.Unmarshal(body, &m) != nil {
		t.Fatalf("proto-ver: %d %q", code, body)
	}
	return m
}

func TestRunRainMaker(t *testing.T) {
	const cloudPass, srpPass = "cloud-s3cret", "srp-s3cret"
	cloudLine := regexp.MustCompile(`^RainMaker cloud on (http://127\.0\.0\.1:\d+/v1/) \(account (\S+)\)$`)
	devLine := regexp.MustCompile(`^PROV_[0-9A-F]{6} listening on (127\.0\.0\.1:\d+) \(node ([0-9A-F]{12}), security (\d), 0 APs, rainmaker (\S+) (rsa|ec) key(, needs claim)?(?:, on-network (\S+) (127\.0\.0\.1:\d+) without mDNS)?\)$`)
	tests := []struct {
		name         string
		args         []string
		user         string
		devices      int
		mode, key    string
		claim        bool
		onNet        string
		wantVersion  string // esp_local_ctrl/version reply prefix
		wantExtraCap []string
	}{
		{"chal-resp", []string{"--rainmaker", "chal-resp"}, defaultCloudUser, 1, "chal-resp", "rsa", false, "", "", []string{"ch_resp"}},
		{"chal-resp standalone", []string{"--rainmaker", "chal-resp", "--cloud-user", "ops@example.com", "--on-network", "standalone", "--no-mdns"},
			"ops@example.com", 1, "chal-resp", "rsa", false, "standalone", `{"on_network":{"ver":"v1.0","cap":["ch_resp"]}}`, []string{"ch_resp"}},
		{"fleet local-ctrl ec", []string{"--fleet", "2", "--rainmaker", "chal-resp", "--key-type", "ec", "--on-network", "local-ctrl", "--no-mdns"},
			defaultCloudUser, 2, "chal-resp", "ec", false, "local-ctrl", `{"local_ctrl":{"ver":"v1.0","sec_ver":2`, []string{"ch_resp", "local_ctrl"}},
		{"traditional", []string{"--rainmaker", "traditional", "--key-type", "ec"}, defaultCloudUser, 1, "traditional", "ec", false, "", "", nil},
		{"needs claim", []string{"--rainmaker", "chal-resp", "--needs-claim", "--key-type", "ec"}, defaultCloudUser, 1, "chal-resp", "ec", true, "", "", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			args := append([]string{"--http-listen", "127.0.0.1:0", "--cloud-listen", "127.0.0.1:0", "--cloud-password", cloudPass,
				"--sec2-password", srpPass}, tc.args...)
			lines, out, stop := startRun(t, args, 1+tc.devices)
			hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}}
			defer hc.CloseIdleConnections()

			// The cloud answers login2 for the account, and only with its password.
			m := cloudLine.FindStringSubmatch(lines[0])
			if m == nil || m[2] != tc.user {
				t.Fatalf("cloud line %q", lines[0])
			}
			login := func(pass string) (int, map[string]any) {
				body, _ := json.Marshal(map[string]string{"user_name": tc.user, "password": pass})
				code, reply := post(t, hc, m[1]+"login2", "application/json", string(body))
				var r map[string]any
				_ = json.Unmarshal(reply, &r)
				return code, r
			}
			if code, r := login(cloudPass); code != http.StatusOK || r["idtoken"] == nil || r["refreshtoken"] == nil {
				t.Fatalf("login2: %d %v", code, r)
			}
			if code, _ := login("wrong"); code != http.StatusUnauthorized {
				t.Fatalf("login2 with a wrong password: %d", code)
			}

			nodes := map[string]bool{}
			for _, l := range lines[1:] {
				d := devLine.FindStringSubmatch(l)
				if d == nil || d[3] != "2" || d[4] != tc.mode || d[5] != tc.key || (d[6] != "") != tc.claim || d[7] != tc.onNet {
					t.Fatalf("device line %q", l)
				}
				nodes[d[2]] = true
				pv := protoVer(t, hc, d[1])
				var extra struct {
					Cap []string `json:"cap"`
				}
				if raw, ok := pv["rmaker_extra"]; ok {
					if err := json.Unmarshal(raw, &extra); err != nil {
						t.Fatal(err)
					}
				}
				if !slices.Equal(extra.Cap, tc.wantExtraCap) {
					t.Fatalf("rmaker_extra caps %q, want %q (proto-ver %s)", extra.Cap, tc.wantExtraCap, pv)
				}
				_, claim := pv["rmaker"]
				if claim != tc.claim {
					t.Fatalf("rmaker claim object %t, want %t", claim, tc.claim)
				}
				if tc.onNet != "" {
					code, v := post(t, hc, "http://"+d[8]+"/esp_local_ctrl/version", "application/x-www-form-urlencoded", "---")
					if code != http.StatusOK || !strings.HasPrefix(string(v), tc.wantVersion) {
						t.Fatalf("on-network version: %d %q", code, v)
					}
				}
			}
			if len(nodes) != tc.devices {
				t.Fatalf("node ids %v", nodes)
			}
			hc.CloseIdleConnections()
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			s := out.String()
			if strings.Contains(s, cloudPass) || strings.Contains(s, srpPass) || strings.Contains(s, defaultCloudPassword) ||
				!strings.HasSuffix(s, "espsim: stopped\n") {
				t.Fatalf("output %q", s)
			}
			for deadline := time.Now().Add(3 * time.Second); runtime.NumGoroutine() > before; {
				if time.Now().After(deadline) {
					t.Fatalf("goroutine leak: %d > %d", runtime.NumGoroutine(), before)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

// TestRunMapping maps espsim's RainMaker devices with the espprov CLI (in
// process) against espsim's cloud: the cloud verifies the device's signature
// with the key espsim registered (challenge-response), or sees the user
// mapping the device publishes once online (traditional).
func TestRunMapping(t *testing.T) {
	const cloudPass, srpPass, wifiPass = "cloud-s3cret", "srp-s3cret", "wifi-s3cret"
	cloudLine := regexp.MustCompile(`^RainMaker cloud on (\S+) `)
	devLine := regexp.MustCompile(`^\S+ listening on 127\.0\.0\.1:(\d+) \(node (\S+), .*?(?:on-network \S+ 127\.0\.0\.1:(\d+) without mDNS)?\)$`)
	sec := []string{"--sec_ver", "2", "--sec2_username", "wifiprov", "--sec2_password", srpPass}
	wifi := []string{"--ssid", "home", "--passphrase", wifiPass}
	tests := []struct {
		name    string
		espsim  []string
		cli     []string // {port}: the device's HTTP port, {onport}: its on-network port
		onNet   bool
		chalOff bool // challenge-response disabled after the mapping
	}{
		{"chal-resp httpd", []string{"--rainmaker", "chal-resp"},
			slices.Concat([]string{"provision", "--transport", "httpd", "--device-ip", "127.0.0.1", "--device-port", "{port}"}, sec, wifi), false, false},
		{"traditional httpd", []string{"--rainmaker", "traditional", "--key-type", "ec"},
			slices.Concat([]string{"provision", "--transport", "httpd", "--device-ip", "127.0.0.1", "--device-port", "{port}",
				"--mapping-poll-interval", "20ms", "--mapping-timeout", "5s"}, sec, wifi), false, false},
		{"chal-resp on-network standalone", []string{"--rainmaker", "chal-resp", "--on-network", "standalone", "--no-mdns"},
			slices.Concat([]string{"map", "--device-ip", "127.0.0.1", "--device-port", "{onport}"}, sec), true, true},
		{"chal-resp on-network local-ctrl ec", []string{"--rainmaker", "chal-resp", "--key-type", "ec", "--on-network", "local-ctrl", "--no-mdns"},
			slices.Concat([]string{"map", "--device-ip", "127.0.0.1", "--device-port", "{onport}"}, sec), true, true},
		// ESP-IDF 6 network_provisioning devices (netprov_test.go): Wi-Fi, Thread, on-network.
		{"chal-resp httpd netprov wifi", []string{"--rainmaker", "chal-resp", "--netprov"},
			slices.Concat([]string{"provision", "--transport", "httpd", "--device-ip", "127.0.0.1", "--device-port", "{port}"}, sec, wifi), false, false},
		{"chal-resp httpd netprov thread", []string{"--rainmaker", "chal-resp", "--netprov", "--netprov-networks", "thread", "--thread-dataset", testDataset, "--thread-attach-delay", "10ms"},
			slices.Concat([]string{"provision", "--transport", "httpd", "--device-ip", "127.0.0.1", "--device-port", "{port}", "--dataset", testDataset}, sec), false, false},
		{"chal-resp on-network netprov", []string{"--rainmaker", "chal-resp", "--netprov", "--on-network", "standalone", "--no-mdns"},
			slices.Concat([]string{"map", "--device-ip", "127.0.0.1", "--device-port", "{onport}"}, sec), true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--http-listen", "127.0.0.1:0", "--cloud-listen", "127.0.0.1:0", "--cloud-password", cloudPass,
				"--sec2-password", srpPass, "--ap", "home:" + wifiPass, "--connect-delay", "10ms"}, tc.espsim...)
			lines, _, stop := startRun(t, args, 2)
			c := cloudLine.FindStringSubmatch(lines[0])
			d := devLine.FindStringSubmatch(lines[1])
			if c == nil || d == nil || (d[3] != "") != tc.onNet {
				t.Fatalf("output %q", lines)
			}
			cloudURL, port, nodeID, onPort := c[1], d[1], d[2], d[3]
			hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}}
			defer hc.CloseIdleConnections()
			userNodes := func() []string {
				body, _ := json.Marshal(map[string]string{"user_name": defaultCloudUser, "password": cloudPass})
				code, reply := post(t, hc, cloudURL+"login2", "application/json", string(body))
				var tok struct{ AccessToken string }
				if code != http.StatusOK || json.Unmarshal(reply, &tok) != nil {
					t.Fatalf("login2: %d %q", code, reply)
				}
				req, _ := http.NewRequest(http.MethodGet, cloudURL+"user/nodes", nil)
				req.Header.Set("Authorization", tok.AccessToken)
				resp, err := hc.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var nodes struct{ Nodes []string }
				if err := json.NewDecoder(resp.Body).Decode(&nodes); err != nil || resp.StatusCode != http.StatusOK {
					t.Fatalf("user/nodes: %d %v", resp.StatusCode, err)
				}
				return nodes.Nodes
			}
			if n := userNodes(); len(n) != 0 {
				t.Fatalf("nodes before mapping: %q", n)
			}

			cfg := t.TempDir()
			env := map[string]string{"HOME": cfg, "XDG_CONFIG_HOME": cfg}
			cliRun := func(stdin string, args ...string) (int, string) {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				var out, errb bytes.Buffer
				code := cli.Run(ctx, args, cli.IO{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb,
					Getenv: func(k string) string { return env[k] }})
				return code, out.String() + errb.String()
			}
			if code, out := cliRun(cloudPass+"\n", "login", "--email", defaultCloudUser, "--password-stdin", "--base-url", cloudURL); code != 0 {
				t.Fatalf("login: exit %d: %s", code, out)
			}
			var cargs []string
			for _, a := range tc.cli {
				cargs = append(cargs, strings.NewReplacer("{port}", port, "{onport}", onPort).Replace(a))
			}
			if code, out := cliRun("", append(cargs, "--no-input")...); code != 0 {
				t.Fatalf("espprov %s: exit %d:\n%s", cargs[0], code, out)
			}
			if n := userNodes(); !slices.Equal(n, []string{nodeID}) {
				t.Fatalf("nodes after mapping: %q, want %s", n, nodeID)
			}
			hc.CloseIdleConnections()
			if err := stop(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestRunMDNSInNamespace announces a fleet's on-network services with real
// multicast DNS on firmware ports inside a private network namespace and
// finds them with the espprov on-network discovery.
func TestRunMDNSInNamespace(t *testing.T) {
	if !netnstest.Run(t) {
		return
	}
	netnstest.CheckGoroutines(t)
	lines, _, stop := startRun(t, []string{"--http-listen", "127.0.0.1:0", "--fleet", "2", "--cloud-listen", "127.0.0.1:0",
		"--rainmaker", "chal-resp", "--on-network", "standalone", "--on-network-listen", ":80"}, 3)
	devLine := regexp.MustCompile(`^\S+ listening on \S+ \(node (\S+), .*, on-network standalone \[::\]:(8[01]) via mDNS\)$`)
	want := map[string]int{}
	for _, l := range lines[1:] {
		m := devLine.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("device line %q", l)
		}
		want[m[1]], _ = strconv.Atoi(m[2])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	found, err := onnetwork.Discover(ctx, onnetwork.DiscoverOptions{Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, f := range found {
		if f.SecVersion != 2 || f.Instance != f.NodeID {
			t.Errorf("found %+v", f)
		}
		got[f.NodeID] = f.Port
	}
	if !maps.Equal(got, want) || len(want) != 2 {
		t.Fatalf("discovered %v, want %v", got, want)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestRunStartErrors: usage errors start nothing, and a failing on-network
// listener stops the cloud and the devices already started.
func TestRunStartErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"rainmaker without cloud", []string{"--http-listen", "127.0.0.1:0", "--rainmaker", "chal-resp"}, "needs --cloud-listen"},
		{"on-network port busy", []string{"--http-listen", "127.0.0.1:0", "--cloud-listen", "127.0.0.1:0", "--rainmaker", "chal-resp",
			"--key-type", "ec", "--on-network", "standalone", "--no-mdns", "--on-network-listen", busy.Addr().String()}, "on-network service for PROV_"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var out bytes.Buffer
			err := run(ctx, tc.args, &out)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if out.Len() != 0 {
				t.Fatalf("output %q", out.String())
			}
			for deadline := time.Now().Add(3 * time.Second); runtime.NumGoroutine() > before; {
				if time.Now().After(deadline) {
					t.Fatalf("goroutine leak: %d > %d", runtime.NumGoroutine(), before)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}
