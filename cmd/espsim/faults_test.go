package main

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestRunFaults: --fault gives the chosen fleet devices their fault, once.
func TestRunFaults(t *testing.T) {
	lines, _, stop := startRun(t, []string{"--http-listen", "127.0.0.1:0", "--fleet", "3", "--sec-ver", "0",
		"--fault", "1=drop@proto-ver", "--fault", "*/2=garbage@proto-verx2"}, 3)
	addr := regexp.MustCompile(`listening on (127\.0\.0\.1:\d+)`)
	var addrs []string
	for _, l := range lines {
		if m := addr.FindStringSubmatch(l); m != nil {
			addrs = append(addrs, m[1])
		}
	}
	if len(addrs) != 3 {
		t.Fatalf("addresses %v from %q", addrs, lines)
	}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	ask := func(a string) (string, error) {
		resp, err := hc.Post("http://"+a+"/proto-ver", "application/x-www-form-urlencoded", strings.NewReader("---"))
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	isJSON := func(s string) bool { return strings.HasPrefix(s, "{") && strings.Contains(s, `"prov"`) }
	// Device 0 (every 2nd): garbage twice, then proto-ver.
	for i := range 3 {
		body, err := ask(addrs[0])
		if err != nil || isJSON(body) != (i == 2) {
			t.Errorf("device 0, request %d: %q %v", i, body, err)
		}
	}
	// Device 1: the first exchange is dropped, the next answered.
	if body, err := ask(addrs[1]); err == nil {
		t.Errorf("device 1 answered %q despite drop@proto-ver", body)
	}
	if body, err := ask(addrs[1]); err != nil || !isJSON(body) {
		t.Errorf("device 1 after its fault: %q %v", body, err)
	}
	// Device 2 (every 2nd): garbage.
	if body, err := ask(addrs[2]); err != nil || isJSON(body) {
		t.Errorf("device 2: %q %v", body, err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestFaultFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--fault", "bogus"},
		{"--fault", "melt@proto-ver"},
		{"--fault", "drop@"},
		{"--fault", "x=drop@proto-ver"},
		{"--fleet", "2", "--fault", "2=drop@proto-ver"},
		{"--fault", "*/0=drop@proto-ver"},
		{"--cloud-fault", "5xx:2"},
		{"--cloud-listen", "127.0.0.1:0", "--cloud-fault", "teapot"},
		{"--cloud-listen", "127.0.0.1:0", "--cloud-fault", "timeout:-1s"},
	} {
		if _, err := parseFlags(args, &syncBuffer{}); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
	o, err := parseFlags([]string{"--fleet", "4", "--fault", "0,3=stall@session-1x2", "--cloud-listen", "127.0.0.1:0",
		"--cloud-fault", "5xx:3", "--cloud-fault", "timeout:2s"}, &syncBuffer{})
	if err != nil {
		t.Fatal(err)
	}
	f := o.faults.faults[0]
	if !f.applies(0) || f.applies(1) || !f.applies(3) || f.fault.Times != 2 || f.fault.Step != "session-1" {
		t.Errorf("parsed %+v", f)
	}
	if o.cloudFaults.failN != 3 || o.cloudFaults.failStatus != 503 || o.cloudFaults.delay != 2*time.Second {
		t.Errorf("cloud faults %+v", o.cloudFaults)
	}
}
