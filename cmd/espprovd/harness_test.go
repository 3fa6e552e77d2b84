package main

import (
	"bufio"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/espprov/espprov/internal/sim/device"
	simhttpd "github.com/espprov/espprov/internal/sim/httpd"
)

// Secrets of the end-to-end tests: none may appear in any log line.
const (
	e2eSSID     = "factory-net"
	e2ePass     = "wifi-Secret-4711"
	e2eUser     = "wifiprov"
	e2eSRPPass  = "srp-Secret-0815"
	e2eWaitLong = 60 * time.Second
)

// simDevice serves a simulated Security 2 device on loopback.
func simDevice(t *testing.T, connectDelay time.Duration) string {
	t.Helper()
	return serveSim(t, device.Config{
		SecVer: 2, SecPatchVer: 1, SRPUsername: e2eUser, SRPPassword: e2eSRPPass,
		APs:          []device.AP{{SSID: e2eSSID, Passphrase: e2ePass, Channel: 6, RSSI: -40}},
		ConnectDelay: connectDelay,
	})
}

// serveSim serves a simulated device on loopback and returns its address.
func serveSim(t *testing.T, cfg device.Config) string {
	t.Helper()
	dev, err := device.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sim, err := simhttpd.Listen("127.0.0.1:0", dev, simhttpd.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	return sim.Addr().String()
}

// daemon is espprovd run in-process by run(), logging JSON.
type daemon struct {
	t          *testing.T
	grpc, http string
	metrics    string
	logs       *syncBuf
	stop       context.CancelFunc
	done       chan error
}

// startDaemon runs espprovd with args (plus loopback listeners on free
// ports and JSON debug logs unless given) and waits for it to serve.
func startDaemon(t *testing.T, args ...string) *daemon {
	t.Helper()
	base := []string{"--grpc-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--log-format", "json", "--log-level", "debug",
		"--store", filepath.Join(t.TempDir(), "jobs.db")}
	ctx, cancel := context.WithCancel(context.Background())
	d := &daemon{t: t, logs: &syncBuf{}, stop: cancel, done: make(chan error, 1)}
	var out syncBuf
	go func() { d.done <- run(ctx, append(base, args...), &out, d.logs) }()
	line := d.waitLog("espprovd serving", 20*time.Second)
	d.grpc, _ = line["grpc"].(string)
	d.http, _ = line["http"].(string)
	d.metrics, _ = line["metrics"].(string)
	t.Cleanup(func() { d.shutdown() })
	return d
}

// shutdown ends the daemon as SIGTERM would and returns run's error.
func (d *daemon) shutdown() error {
	d.stop()
	select {
	case err := <-d.done:
		d.done <- err // later calls see it too
		return err
	case <-time.After(30 * time.Second):
		d.t.Fatal("espprovd did not stop")
		return nil
	}
}

// lines parses every log line; a line that is not JSON fails the test.
func (d *daemon) lines() []map[string]any {
	d.t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(d.logs.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			d.t.Fatalf("log line is not JSON: %q", sc.Text())
		}
		out = append(out, m)
	}
	return out
}

// waitLog waits for a log line whose msg contains msg (event-driven on
// the log writer) and returns it.
func (d *daemon) waitLog(msg string, timeout time.Duration) map[string]any {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		changed := d.logs.changed()
		for _, l := range d.lines() {
			if m, _ := l["msg"].(string); strings.Contains(m, msg) {
				return l
			}
		}
		select {
		case err := <-d.done:
			d.done <- err
			d.t.Fatalf("espprovd ended before logging %q: %v\n%s", msg, err, d.logs.String())
		case <-changed:
		case <-time.After(time.Until(deadline)):
			d.t.Fatalf("no log line %q within %v:\n%s", msg, timeout, d.logs.String())
		}
	}
}
