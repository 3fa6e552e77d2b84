package provisioning_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/espprov/espprov/internal/sim/device"
	simhttpd "github.com/espprov/espprov/internal/sim/httpd"
)

// repoBin finds a pinned tool installed by `make tools` in <repo>/.bin.
func repoBin(t *testing.T, name string) string {
	t.Helper()
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found")
		}
		dir = parent
	}
	p := filepath.Join(dir, ".bin", name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s not installed: run `make tools` (%v)", name, err)
	}
	return p
}

type schemeCase struct {
	name string
	cfg  device.Config
	sec  string // JSON of the security field
}

var schemeCases = []schemeCase{
	{"sec0", device.Config{SecVer: 0}, `{}`},
	{"sec1", device.Config{SecVer: 1, PoP: testPoP}, `{"pop":"` + testPoP + `"}`},
	{"sec2-patch0", device.Config{SecVer: 2, SecPatchVer: 0, SRPUsername: testUser, SRPPassword: testPoP}, `{"sec2Username":"` + testUser + `","sec2Password":"` + testPoP + `"}`},
	{"sec2-patch1", device.Config{SecVer: 2, SecPatchVer: 1, SRPUsername: testUser, SRPPassword: testPoP}, `{"sec2Username":"` + testUser + `","sec2Password":"` + testPoP + `"}`},
}

func requestJSON(addr, sec, pass string) string {
	return fmt.Sprintf(`{"device":{"transport":"TRANSPORT_HTTPD","address":%q},"security":%s,"wifi":{"ssid":%q,"passphrase":%q},`+
		`"timeouts":{"statusPoll":"0.05s","exchange":"2s","wifiConnect":"5s"}}`, addr, sec, testSSID, pass)
}

// decodeAll reads a stream of concatenated JSON objects.
func decodeAll(t *testing.T, r io.Reader) []map[string]any {
	t.Helper()
	var out []map[string]any
	dec := json.NewDecoder(r)
	for {
		var m map[string]any
		if err := dec.Decode(&m); err == io.EOF {
			return out
		} else if err != nil {
			t.Fatalf("decoding JSON output: %v", err)
		}
		out = append(out, m)
	}
}

func TestGrpcurlProvision(t *testing.T) {
	grpcurl := repoBin(t, "grpcurl")
	h := startServer(t)
	for _, tc := range schemeCases {
		t.Run(tc.name, func(t *testing.T) {
			d := startDevice(t, tc.cfg, simhttpd.Options{})
			cmd := exec.Command(grpcurl, "-plaintext", "-max-time", "30", "-d", requestJSON(d.addr, tc.sec, testPass),
				h.srv.GRPCAddr(), "espprov.v1.ProvisioningService/Provision")
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("grpcurl: %v\n%s", err, out)
			}
			events := decodeAll(t, bytes.NewReader(out))
			last := events[len(events)-1]
			res, _ := last["result"].(map[string]any)
			if last["step"] != "STEP_RESULT" || res["success"] != true || res["ip4Address"] != d.dev.Config().StationIP {
				t.Fatalf("last event %v, want success with IP %s", last, d.dev.Config().StationIP)
			}
		})
	}
	t.Run("wrong pop", func(t *testing.T) {
		d := startDevice(t, device.Config{SecVer: 1, PoP: testPoP}, simhttpd.Options{})
		cmd := exec.Command(grpcurl, "-plaintext", "-max-time", "30", "-d", requestJSON(d.addr, `{"pop":"not-it"}`, testPass),
			h.srv.GRPCAddr(), "espprov.v1.ProvisioningService/Provision")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		if err == nil || !strings.Contains(stderr.String(), "PermissionDenied") || !strings.Contains(stderr.String(), "rejected the proof of possession") {
			t.Fatalf("grpcurl with a wrong PoP: %v\n%s", err, stderr.String())
		}
	})
	t.Run("reflection lists the service", func(t *testing.T) {
		out, err := exec.Command(grpcurl, "-plaintext", h.srv.GRPCAddr(), "list").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "espprov.v1.ProvisioningService") || !strings.Contains(string(out), "grpc.health.v1.Health") {
			t.Fatalf("grpcurl list: %v\n%s", err, out)
		}
	})
}

func TestCurlProvision(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal("curl is not installed (apt-get install curl); .ci/run installs it")
	}
	h := startServer(t)
	url := "http://" + h.srv.HTTPAddr() + "/v1/devices:provision"
	for _, tc := range schemeCases {
		t.Run(tc.name, func(t *testing.T) {
			d := startDevice(t, tc.cfg, simhttpd.Options{})
			out, err := exec.Command(curl, "-sS", "-N", "--max-time", "30", "-X", "POST", "-H", "Content-Type: application/json", url, "-d", requestJSON(d.addr, tc.sec, testPass)).Output()
			if err != nil {
				t.Fatalf("curl: %v\n%s", err, out)
			}
			lines := ndjson(t, out)
			last := lines[len(lines)-1]["result"].(map[string]any)
			res, _ := last["result"].(map[string]any)
			if last["step"] != "STEP_RESULT" || res["success"] != true || res["ip4Address"] != d.dev.Config().StationIP {
				t.Fatalf("last line %v", lines[len(lines)-1])
			}
			if len(lines) < 6 {
				t.Errorf("only %d progress lines", len(lines))
			}
		})
	}
	t.Run("wifi failure ends with an error line", func(t *testing.T) {
		d := startDevice(t, device.Config{SecVer: 0}, simhttpd.Options{})
		out, err := exec.Command(curl, "-sS", "-N", "--max-time", "30", "-X", "POST", "-H", "Content-Type: application/json", url, "-d", requestJSON(d.addr, `{}`, "bad-passphrase")).Output()
		if err != nil {
			t.Fatalf("curl: %v", err)
		}
		lines := ndjson(t, out)
		errLine, ok := lines[len(lines)-1]["error"].(map[string]any)
		if !ok || errLine["code"] != float64(9) { // FAILED_PRECONDITION
			t.Fatalf("last line %v, want a FailedPrecondition error", lines[len(lines)-1])
		}
		res := lines[len(lines)-2]["result"].(map[string]any)["result"].(map[string]any)
		if res["failReason"] != "WIFI_FAIL_REASON_AUTH_ERROR" || res["deviceReset"] != true {
			t.Fatalf("result line %v", res)
		}
	})
	t.Run("openapi document", func(t *testing.T) {
		resp, err := http.Get("http://" + h.srv.HTTPAddr() + "/openapi.json")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var doc map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || doc["paths"].(map[string]any)["/v1/devices:provision"] == nil {
			t.Fatalf("openapi: %v %v", err, doc["paths"])
		}
	})
}

// ndjson splits newline-delimited JSON; each line must be one object.
func ndjson(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("line %q is not a JSON object: %v", line, err)
		}
		out = append(out, m)
	}
	if len(out) == 0 {
		t.Fatal("no output")
	}
	return out
}

func TestCurlRejectsUnknownFields(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal("curl is not installed")
	}
	h := startServer(t)
	out, err := exec.Command(curl, "-sS", "--max-time", "10", "-o", "-", "-w", "\n%{http_code}", "-X", "POST", "-H", "Content-Type: application/json",
		"http://"+h.srv.HTTPAddr()+"/v1/devices:scanWifi", "-d", `{"device":{"transport":"TRANSPORT_HTTPD","adress":"127.0.0.1:1"}}`).Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(strings.TrimSpace(string(out)), "400") || !strings.Contains(string(out), "adress") {
		t.Fatalf("a misspelt field was not refused: %s", out)
	}
}
