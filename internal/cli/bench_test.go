package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// runBin runs the espprov binary and returns stdout, stderr and the exit code.
func runBin(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), binPath, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// TestBenchJSON runs `espprov bench --output json` from the command line
// (server and simulator in their own processes) and checks that every
// field of the report is present and sane.
func TestBenchJSON(t *testing.T) {
	for _, tc := range []struct {
		secVer, devices, concurrency string
		minRT                        float64
	}{
		{"1", "40", "8", 6},
		{"2", "6", "3", 6},
	} {
		t.Run("sec"+tc.secVer, func(t *testing.T) {
			stdout, stderr, code := runBin(t, "bench", "--sec-ver", tc.secVer, "--devices", tc.devices,
				"--concurrency", tc.concurrency, "--singles", "2", "--floor-time", "50ms", "--output", "json")
			if code != 0 {
				t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
			}
			if !strings.Contains(stderr, "bench: "+tc.devices+"/"+tc.devices+" provisions, 0 errors") {
				t.Errorf("no final progress line on stderr: %q", stderr)
			}
			if n := strings.Count(strings.TrimSpace(stdout), "\n"); n != 0 {
				t.Fatalf("want one JSON object on stdout, got %d lines: %s", n+1, stdout)
			}
			var r map[string]any
			if err := json.Unmarshal([]byte(stdout), &r); err != nil {
				t.Fatalf("%v: %s", err, stdout)
			}
			num := func(m map[string]any, k string) float64 {
				t.Helper()
				v, ok := m[k].(float64)
				if !ok {
					t.Fatalf("field %q missing or not a number: %v", k, m[k])
				}
				return v
			}
			obj := func(m map[string]any, k string) map[string]any {
				t.Helper()
				v, ok := m[k].(map[string]any)
				if !ok {
					t.Fatalf("field %q missing or not an object: %v", k, m[k])
				}
				return v
			}
			positive := []string{"provisions_per_second", "p50_ms", "p95_ms", "p99_ms", "single_provision_ms",
				"cpu_seconds_per_provision", "floor_cpu_seconds_per_provision", "cpu_floor_multiple",
				"server_simulator_floor_multiple", "heap_bytes_per_session", "rss_bytes_per_session", "peak_rss_bytes",
				"duration_seconds", "sessions_in_flight"}
			for _, k := range positive {
				if v := num(r, k); v <= 0 {
					t.Errorf("%s = %v, want > 0", k, v)
				}
			}
			if num(r, "errors") != 0 || num(r, "succeeded") != num(r, "devices") {
				t.Errorf("errors %v, succeeded %v of %v", r["errors"], r["succeeded"], r["devices"])
			}
			if p50, p95, p99 := num(r, "p50_ms"), num(r, "p95_ms"), num(r, "p99_ms"); p50 > p95 || p95 > p99 {
				t.Errorf("percentiles out of order: %v %v %v", p50, p95, p99)
			}
			// The whole provision includes at least one status poll (10 ms).
			if p50 := num(r, "p50_ms"); p50 < 10 {
				t.Errorf("p50 %v ms is below the 10 ms status poll", p50)
			}
			// CPU: the sum of the processes, and above the crypto floor.
			byProc := obj(r, "cpu_seconds_per_provision_by_process")
			sum := 0.0
			for _, p := range []string{"server", "simulator", "client"} {
				v := num(byProc, p)
				if v <= 0 {
					t.Errorf("cpu of %s = %v, want > 0", p, v)
				}
				sum += v
			}
			if total := num(r, "cpu_seconds_per_provision"); total < sum*0.999 || total > sum*1.001 {
				t.Errorf("cpu_seconds_per_provision %v is not the sum of the processes %v", total, sum)
			}
			if m := num(r, "cpu_floor_multiple"); m < 1 {
				t.Errorf("CPU per provision is %vx the floor: below the pure crypto cannot be", m)
			}
			if floor := num(r, "floor_cpu_seconds_per_provision"); floor > 1 {
				t.Errorf("floor %v s per provision is absurd", floor)
			}
			// Round trips: at least the protocol minimum, one poll or two more at most.
			if rt := num(r, "round_trips_per_provision"); rt < tc.minRT || rt > tc.minRT+3 {
				t.Errorf("round_trips_per_provision = %v, want %v..%v", rt, tc.minRT, tc.minRT+3)
			}
			if num(r, "round_trips_minimum") != tc.minRT {
				t.Errorf("round_trips_minimum = %v, want %v", r["round_trips_minimum"], tc.minRT)
			}
			steps := obj(r, "steps")
			for _, s := range []string{"request", "connect_proto_ver", "handshake", "set_config", "apply_config", "wifi_status", "result"} {
				q := obj(steps, s)
				if p50, p99 := num(q, "p50_ms"), num(q, "p99_ms"); p50 < 0 || p99 < p50 {
					t.Errorf("step %s: p50 %v p99 %v", s, p50, p99)
				}
			}
			// Latency from admission: each provision's latency minus its
			// handshake's queue wait.
			qw := obj(r, "queue_wait")
			if w50, w99 := num(qw, "p50_ms"), num(qw, "p99_ms"); w50 < 0 || w99 < w50 || w99 > num(r, "p99_ms") {
				t.Errorf("queue wait p50 %v p99 %v (latency p99 %v)", w50, w99, r["p99_ms"])
			}
			if a50, a99 := num(r, "admitted_p50_ms"), num(r, "admitted_p99_ms"); a50 <= 0 || a50 > num(r, "p50_ms") || a99 < a50 || a99 > num(r, "p99_ms") {
				t.Errorf("latency from admission p50 %v p99 %v against end-to-end p50 %v p99 %v", a50, a99, r["p50_ms"], r["p99_ms"])
			}
			if m := num(r, "admitted_p50_multiple_of_single"); m <= 0 || m > num(r, "p50_multiple_of_single")+1e-9 {
				t.Errorf("admitted_p50_multiple_of_single %v (end-to-end %v)", m, r["p50_multiple_of_single"])
			}
			if h, n := num(r, "heap_bytes_per_session"), num(r, "concurrency"); h > 1<<20 || num(r, "sessions_in_flight") != n {
				t.Errorf("heap per session %v bytes with %v in flight (concurrency %v)", h, r["sessions_in_flight"], n)
			}
			rss := obj(r, "peak_rss_bytes_by_process")
			for _, p := range []string{"server", "simulator", "client"} {
				if v := num(rss, p); v < 1<<20 || v > 4<<30 {
					t.Errorf("peak RSS of %s = %v bytes", p, v)
				}
			}
		})
	}
}

// TestBenchOnNetwork maps simulated RainMaker devices already on the
// network (their on-network challenge-response service, addresses given
// directly) through the simulated cloud, again and again.
func TestBenchOnNetwork(t *testing.T) {
	stdout, stderr, code := runBin(t, "bench", "--transport", "on-network", "--sec-ver", "1", "--devices", "24", "--concurrency", "4",
		"--singles", "2", "--floor-time", "50ms", "--output", "json")
	if code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	var r struct {
		Transport      string                        `json:"transport"`
		Succeeded      int                           `json:"succeeded"`
		Errors         int                           `json:"errors"`
		RoundTrips     float64                       `json:"round_trips_per_provision"`
		RoundTripsMin  int                           `json:"round_trips_minimum"`
		Floor          float64                       `json:"floor_cpu_seconds_per_provision"`
		FloorMultiple  float64                       `json:"cpu_floor_multiple"`
		ByProcess      map[string]*float64           `json:"cpu_seconds_per_provision_by_process"`
		Steps          map[string]map[string]float64 `json:"steps"`
		HeapPerSession *float64                      `json:"heap_bytes_per_session"`
		P50            float64                       `json:"p50_ms"`
	}
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("%v: %s", err, stdout)
	}
	if r.Transport != "on-network" || r.Succeeded != 24 || r.Errors != 0 {
		t.Fatalf("transport %q: %d succeeded, %d errors", r.Transport, r.Succeeded, r.Errors)
	}
	// proto-ver, two handshake messages, one ch_resp; no Wi-Fi.
	if r.RoundTripsMin != 4 || r.RoundTrips != 4 {
		t.Errorf("round trips %v per provision (minimum %d), want exactly 4", r.RoundTrips, r.RoundTripsMin)
	}
	// The floor includes the node's RSA-2048 signature (about a millisecond).
	if r.Floor < 100e-6 || r.FloorMultiple < 1 {
		t.Errorf("floor %v s, CPU %vx the floor", r.Floor, r.FloorMultiple)
	}
	for _, p := range []string{"server", "simulator", "client"} {
		if v := r.ByProcess[p]; v == nil || *v <= 0 {
			t.Errorf("CPU of %s: %v", p, v)
		}
	}
	for _, s := range []string{"connect_proto_ver", "handshake", "mapping", "result"} {
		if _, ok := r.Steps[s]; !ok {
			t.Errorf("no step %q in %v", s, r.Steps)
		}
	}
	if _, ok := r.Steps["set_config"]; ok {
		t.Errorf("a set_config step without Wi-Fi: %v", r.Steps)
	}
	if r.HeapPerSession != nil || r.P50 <= 0 {
		t.Errorf("heap per session %v (no memory phase on-network), p50 %v", r.HeapPerSession, r.P50)
	}
}

// TestBenchTable prints the human table and refuses bad flags.
func TestBenchTable(t *testing.T) {
	stdout, stderr, code := runBin(t, "bench", "--sec-ver", "0", "--devices", "10", "--concurrency", "2", "--singles", "1", "--floor-time", "10ms")
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, stdout, stderr)
	}
	for _, want := range []string{"provisions per second", "latency p50 / p95 / p99", "CPU per provision", "round trips per provision", "peak RSS", "latency from admission", "handshake queue wait"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, stdout)
		}
	}
	for _, bad := range [][]string{
		{"bench", "--sec-ver", "3"},
		{"bench", "--devices", "0"},
		{"bench", "--transport", "ble"},
		{"bench", "--server-pid", "1"},
	} {
		if _, stderr, code := runBin(t, bad...); code != ExitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", bad, code, ExitUsage, stderr)
		}
	}
}
