package cli

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/espprov/espprov/internal/server"
	"github.com/espprov/espprov/services/provisioning"
)

// lastResultKeys returns the keys of the "result" object of the last
// STEP_RESULT line of newline-delimited JSON (REST wraps each event in
// {"result": event}).
func lastResultKeys(t *testing.T, ndjson string, wrapped bool) []string {
	t.Helper()
	var keys []string
	for _, line := range strings.Split(strings.TrimSpace(ndjson), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if wrapped {
			ev, _ = ev["result"].(map[string]any)
		}
		if ev["step"] != "STEP_RESULT" {
			continue
		}
		keys = keys[:0]
		for k := range ev["result"].(map[string]any) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

// TestJSONNamesMatchREST: `--output json` uses the proto's lowerCamel
// names, exactly as the REST gateway does.
func TestJSONNamesMatchREST(t *testing.T) {
	d1, d2 := startDevice(t, sec1), startDevice(t, sec1)
	r := runCLI(t, nil, "", "provision", "--transport", "httpd", "--device-ip", "127.0.0.1", "--device-port", d1.port,
		"--pop", testPoP, "--ssid", testSSID, "--passphrase", testPass, "-o", "json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	cliKeys := lastResultKeys(t, r.stdout, false)

	svc := provisioning.New(provisioning.Config{Modules: provisioning.DefaultModules()})
	srv, err := server.Start(context.Background(), server.Options{GRPCListen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0", Service: svc})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	body := `{"device":{"transport":"TRANSPORT_HTTPD","address":"` + d2.addr + `"},"security":{"pop":"` + testPoP + `"},"wifi":{"ssid":"` + testSSID + `","passphrase":"` + testPass + `"}}`
	resp, err := http.Post("http://"+srv.HTTPAddr()+"/v1/devices:provision", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	restKeys := lastResultKeys(t, string(b), true)
	if strings.Join(cliKeys, ",") != strings.Join(restKeys, ",") || !strings.Contains(strings.Join(cliKeys, ","), "ip4Address") {
		t.Fatalf("CLI result keys %v, REST result keys %v", cliKeys, restKeys)
	}
}
