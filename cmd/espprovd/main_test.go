package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestDemo runs the README's main command: a simulated device, the server
// and one provisioning through the gRPC API.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errs bytes.Buffer
	if err := run(ctx, []string{"--demo"}, &out, &errs); err != nil {
		t.Fatalf("demo: %v\n%s\n%s", err, out.String(), errs.String())
	}
	for _, want := range []string{"ScanWifi:", "espprov-demo", "STEP_SESSION_ESTABLISHED", "STEP_RESULT", "Provisioning was successful", "with IP 192.168."} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String()+errs.String(), demoPass) || strings.Contains(out.String()+errs.String(), demoPassword) {
		t.Error("demo output shows a secret")
	}
}

// TestServeAndShutdown: the server starts on the given addresses and stops
// cleanly when its context ends (SIGINT/SIGTERM in main).
func TestServeAndShutdown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var out, errs syncBuf
	go func() {
		done <- run(ctx, []string{"--grpc-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"}, &out, &errs)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(errs.String(), "espprovd serving") {
		if time.Now().After(deadline) {
			t.Fatalf("server did not start: %s", errs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no shutdown after cancel")
	}
}

func TestFlags(t *testing.T) {
	tests := []struct {
		args []string
		code int
	}{
		{[]string{"--log-level", "loud"}, 2},
		{[]string{"extra"}, 2},
		{[]string{"--cloud", "lab"}, 2},
		{[]string{"--cloud", "lab=ftp://x"}, 2},
		{[]string{"--grpc-listen", "127.0.0.1:x"}, 1},
		{[]string{"--grpc-listen", "0.0.0.0:0"}, 2},
		{[]string{"--log-format", "xml"}, 2},
		{[]string{"--tls-cert", "x.pem"}, 2},
	}
	for _, tc := range tests {
		var out, errs bytes.Buffer
		err := run(context.Background(), tc.args, &out, &errs)
		if err == nil || exitCode(err) != tc.code {
			t.Errorf("%v: %v (exit %d), want exit %d", tc.args, err, exitCode(err), tc.code)
		}
	}
	var out, errs bytes.Buffer
	if err := run(context.Background(), []string{"--help"}, &out, &errs); !errors.Is(err, flag.ErrHelp) || !strings.Contains(errs.String(), "-grpc-listen") {
		t.Errorf("--help: %v", err)
	}
}

type syncBuf struct {
	mu     sync.Mutex
	b      bytes.Buffer
	notify chan struct{}
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.notify != nil {
		close(s.notify)
		s.notify = nil
	}
	return s.b.Write(p)
}

// changed is closed at the next Write.
func (s *syncBuf) changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.notify == nil {
		s.notify = make(chan struct{})
	}
	return s.notify
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
