package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/espprov/espprov/internal/protocomm"
	"github.com/espprov/espprov/transports/httpd"
)

// The simulated cloud answers [] for an account with no nodes (the real
// cloud does; clients index the list), never null.
func TestRunCloudListsAreLists(t *testing.T) {
	lines, _, _ := startRun(t, []string{"--http-listen", "127.0.0.1:0", "--cloud-listen", "127.0.0.1:0", "--cloud-password", "pw-cloud"}, 2)
	m := regexp.MustCompile(`^RainMaker cloud on (http://\S+/v1/) `).FindStringSubmatch(lines[0])
	if m == nil {
		t.Fatalf("cloud line %q", lines[0])
	}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}}
	defer hc.CloseIdleConnections()
	code, body := post(t, hc, m[1]+"login2", "application/json", `{"user_name":"`+defaultCloudUser+`","password":"pw-cloud"}`)
	tok := regexp.MustCompile(`"accesstoken":"([^"]+)"`).FindSubmatch(body)
	if code != 200 || tok == nil {
		t.Fatalf("login: %d %s", code, body)
	}
	req, _ := http.NewRequest("GET", m[1]+"user/nodes", nil)
	req.Header.Set("Authorization", string(tok[1]))
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !bytes.Contains(got, []byte(`"nodes":[]`)) || bytes.Contains(got, []byte("null")) {
		t.Fatalf("GET user/nodes for an account without nodes: %d %s", resp.StatusCode, got)
	}
}

// --custom-endpoint adds an application endpoint on every device (it answers
// a recognisable prefix + the request over the secure session); --nagle
// sends every reply in two writes, which a client sees as the same bytes.
func TestRunCustomEndpointAndNagle(t *testing.T) {
	lines, _, _ := startRun(t, []string{"--http-listen", "127.0.0.1:0", "--sec-ver", "1", "--nagle", "--connect-delay", "0",
		"--custom-endpoint", "custom-data", "--custom-endpoint", "app-cfg"}, 1)
	addr := regexp.MustCompile(`listening on (\S+) `).FindStringSubmatch(lines[0])
	if addr == nil {
		t.Fatalf("device line %q", lines[0])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tr, err := httpd.Dial(ctx, addr[1], httpd.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	v, err := protocomm.ReadVersion(ctx, tr)
	if err != nil {
		t.Fatal(err)
	}
	hs, err := protocomm.NewHandshaker(protocomm.Scheme1, v, protocomm.Credentials{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := protocomm.Establish(ctx, tr, hs)
	if err != nil {
		t.Fatal(err)
	}
	for _, ep := range []string{"custom-data", "app-cfg"} {
		reply, err := s.Call(ctx, ep, []byte("ping"))
		if err != nil || string(reply) != "espsim-echo:"+ep+":ping" {
			t.Fatalf("%s: %q %v", ep, reply, err)
		}
	}
	if _, err := s.Call(ctx, "other", []byte("x")); err == nil {
		t.Fatal("an endpoint that was not created answered")
	}
}

func TestCustomEndpointFlag(t *testing.T) {
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{[]string{"--custom-endpoint", ""}, "empty endpoint name"},
		{[]string{"--custom-endpoint", "a/b"}, "must not contain"},
		{[]string{"--custom-endpoint", "x", "--custom-endpoint", "x"}, "given twice"},
		{[]string{"--custom-endpoint", "prov-config"}, "already registered"},
		{[]string{"--connect-delay", "-1s"}, "want >= 0"},
	} {
		var out strings.Builder
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := run(ctx, append([]string{"--http-listen", "127.0.0.1:0"}, tc.args...), &out)
		cancel()
		if err == nil || !strings.Contains(err.Error()+out.String(), tc.err) {
			t.Errorf("%q: %v %q, want %q", tc.args, err, out.String(), tc.err)
		}
	}
}
