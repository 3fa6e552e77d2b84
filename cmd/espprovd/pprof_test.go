package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"
)

// TestPprofLoopbackOnly: the profiler is refused on non-loopback addresses
// and, on loopback, serves the profiles and nothing else.
func TestPprofLoopbackOnly(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	for _, addr := range []string{"0.0.0.0:0", "[::]:0", ":0", "192.0.2.1:6060", "example.com:6060"} {
		_, err := startPprof(t.Context(), addr, log)
		var u usageError
		if !errors.As(err, &u) {
			t.Errorf("%s: %v, want a usage error", addr, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	addr, err := startPprof(ctx, "127.0.0.1:0", log)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	get := func(path string) int {
		resp, err := hc.Get("http://" + addr.String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	if c := get("/debug/pprof/cmdline"); c != http.StatusOK {
		t.Errorf("cmdline: %d", c)
	}
	if c := get("/debug/pprof/heap"); c != http.StatusOK {
		t.Errorf("heap: %d", c)
	}
	if c := get("/v1/devices:provision"); c != http.StatusNotFound {
		t.Errorf("the profiler's listener serves the API: %d", c)
	}
	cancel()
	for deadline := time.Now().Add(5 * time.Second); ; {
		if _, err := hc.Get("http://" + addr.String() + "/debug/pprof/"); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("profiler still serving after ctx ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
