package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestSecurityFlags: the REST guard's options are reachable from the
// command line, and the default ports do not collide with the README's
// simulated devices (8080, 8081).
func TestSecurityFlags(t *testing.T) {
	var out, errs bytes.Buffer
	if err := run(context.Background(), []string{"--help"}, &out, &errs); !errors.Is(err, flag.ErrHelp) {
		t.Fatal(err)
	}
	help := errs.String()
	for _, want := range []string{`default "127.0.0.1:8090"`, "-http-allowed-origin", "-http-allowed-host", "-http-max-body", "-cloud NAME=URL", "-cloud-allow-http"} {
		if !strings.Contains(help, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
	if regexp.MustCompile(`default "[^"]*:808[01]"`).MatchString(help) {
		t.Error("a default listen port collides with the README's simulated devices")
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var logs syncBuf
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--grpc-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
			"--http-allowed-origin", "https://mes.example", "--http-max-body", "64"}, &out, &logs)
	}()
	addr := regexp.MustCompile(`http=(127\.0\.0\.1:\d+)`)
	deadline := time.Now().Add(10 * time.Second)
	for !addr.MatchString(logs.String()) {
		if time.Now().After(deadline) {
			t.Fatalf("server did not start: %s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	url := "http://" + addr.FindStringSubmatch(logs.String())[1] + "/v1/devices:scanWifi"
	post := func(origin, body string) *http.Response {
		req, _ := http.NewRequest("POST", url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", origin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if r := post("https://mes.example", "{}"); r.StatusCode != 400 || r.Header.Get("Access-Control-Allow-Origin") != "https://mes.example" {
		t.Errorf("configured origin: HTTP %d, CORS %q", r.StatusCode, r.Header.Get("Access-Control-Allow-Origin"))
	}
	if r := post("https://evil.example", "{}"); r.StatusCode != 403 {
		t.Errorf("foreign origin: HTTP %d, want 403", r.StatusCode)
	}
	if r := post("https://mes.example", `{"device":{"name":"`+strings.Repeat("x", 100)+`"}}`); r.StatusCode != 413 {
		t.Errorf("body over --http-max-body: HTTP %d, want 413", r.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
