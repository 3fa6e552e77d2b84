package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"net/http"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
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
		{"delay", []string{"--connect-delay", "0s"}, "--connect-delay", nil},
		{"attempts", []string{"--wifi-conn-attempts", "-1"}, "--wifi-conn-attempts", nil},
		{"extra args", []string{"foo"}, "unexpected arguments", nil},
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
