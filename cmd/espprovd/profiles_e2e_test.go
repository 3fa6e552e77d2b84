package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/sim/device"
)

// Secrets of the profile tests: the passphrase lives only in the profiles
// file, each unit's PoP only on its "label" (the request).
const (
	profPass = "profile-Secret-9931"
	profSSID = "line-net"
)

// simPoPUnit serves a simulated Security 1 device named name with pop.
func simPoPUnit(t *testing.T, name, pop string) string {
	t.Helper()
	return serveSim(t, device.Config{Name: name, SecVer: 1, PoP: pop,
		APs: []device.AP{{SSID: profSSID, Passphrase: profPass, Channel: 1, RSSI: -50}}, ConnectDelay: 10 * time.Millisecond})
}

func writeProfiles(t *testing.T, path, body string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

const lineProfile = `profiles:
  - name: line-1
    description: Line 1 fixture
    transport: httpd
    addresses: {unit-1: %A1%, unit-2: %A2%}
    security: 1
    wifi: {ssid: ` + profSSID + `, passphrase: ` + profPass + `}
    work_order: WO-77
    station: st-1
    labels: {line: "1"}
    timeouts: {exchange: 20s, overall: 90s, wifi_connect: 30s, status_poll: 20ms}
`

// TestProfilesEndToEnd: a unit provisioned over gRPC and another over REST
// with only a profile, the unit's name and its PoP; ListProfiles over both
// shows the profile without its passphrase; an unknown profile is
// NOT_FOUND; SIGHUP reloads the file; the passphrase is nowhere: not in
// ListProfiles, GetJob, the events, the logs or the job store's files.
func TestProfilesEndToEnd(t *testing.T) {
	a1, a2 := simPoPUnit(t, "unit-1", "pop-unit-1"), simPoPUnit(t, "unit-2", "pop-unit-2")
	dir := t.TempDir()
	file, store := filepath.Join(dir, "profiles.yaml"), filepath.Join(dir, "jobs.db")
	writeProfiles(t, file, strings.NewReplacer("%A1%", a1, "%A2%", a2).Replace(lineProfile))
	p := startDaemon(t, "--profiles", file, "--store", store)
	client := dial(t, p.grpc)
	ctx := e2eCtx(t)
	var seen []string // everything a client received

	// ListProfiles over gRPC and REST.
	lp, err := client.ListProfiles(ctx, &espprovv1.ListProfilesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(lp.GetProfiles()) != 1 {
		t.Fatalf("profiles: %v", lp)
	}
	pr := lp.GetProfiles()[0]
	if pr.GetName() != "line-1" || !pr.GetPassphraseSet() || pr.GetWifiSsid() != profSSID || pr.GetTransport() != espprovv1.Transport_TRANSPORT_HTTPD ||
		pr.GetSecurityScheme() != espprovv1.SecurityScheme_SECURITY_SCHEME_1 || pr.GetStation() != "st-1" || pr.GetAddresses()["unit-2"] != a2 ||
		pr.GetNetwork() != espprovv1.NetworkType_NETWORK_TYPE_WIFI || pr.GetTimeouts().GetOverall().AsDuration() != 90*time.Second {
		t.Errorf("ListProfiles: %v", pr)
	}
	seen = append(seen, protojson.Format(lp))
	code, body := get(t, "http://"+p.http+"/v1/profiles", "")
	if code != http.StatusOK || !strings.Contains(body, `"passphraseSet":true`) || !strings.Contains(body, `"name":"line-1"`) {
		t.Errorf("GET /v1/profiles: %d %s", code, body)
	}
	seen = append(seen, body)

	// gRPC: name + pop only.
	s, err := client.Provision(ctx, &espprovv1.ProvisionRequest{Profile: "line-1",
		Device: &espprovv1.Device{Name: "unit-1"}, Security: &espprovv1.Security{Pop: "pop-unit-1"}, RequestId: "prof-1"})
	if err != nil {
		t.Fatal(err)
	}
	evs, err := recvAll(s)
	if err != nil {
		t.Fatalf("profile provision: %v", err)
	}
	last := evs[len(evs)-1]
	if !last.GetResult().GetSuccess() || last.GetResult().GetSsid() != profSSID {
		t.Fatalf("result: %v", last)
	}
	for _, ev := range evs {
		seen = append(seen, protojson.Format(ev))
	}
	job, err := client.GetJob(ctx, &espprovv1.GetJobRequest{JobId: last.GetJobId()})
	if err != nil {
		t.Fatal(err)
	}
	if job.GetRequest().GetProfile() != "line-1" || job.GetStation() != "st-1" || job.GetWorkOrder() != "WO-77" || job.GetLabels()["line"] != "1" ||
		job.GetDevice().GetAddress() != a1 || job.GetRequest().GetWifi().GetSsid() != profSSID || job.GetRequest().GetWifi().GetPassphrase() != "" ||
		job.GetRequest().GetSecurity().GetPop() != "" {
		t.Errorf("job record: %v", job)
	}
	seen = append(seen, protojson.Format(job))

	// REST: the same with the other unit.
	req, _ := http.NewRequest(http.MethodPost, "http://"+p.http+"/v1/devices:provision",
		strings.NewReader(`{"profile":"line-1","device":{"name":"unit-2"},"security":{"pop":"pop-unit-2"}}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var lastLine string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		lastLine = sc.Text()
		seen = append(seen, lastLine)
	}
	resp.Body.Close()
	var restEv struct {
		Result *json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal([]byte(lastLine), &restEv); err != nil || restEv.Result == nil {
		t.Fatalf("REST provision ended with %q", lastLine)
	}
	ev := &espprovv1.ProvisionResponse{}
	if err := protojson.Unmarshal(*restEv.Result, ev); err != nil || !ev.GetResult().GetSuccess() {
		t.Fatalf("REST provision: %v %s", err, lastLine)
	}

	// Unknown profile: NOT_FOUND naming it, over gRPC and REST.
	s, err = client.Provision(ctx, &espprovv1.ProvisionRequest{Profile: "nope", Device: &espprovv1.Device{Name: "unit-1"}})
	if err == nil {
		_, err = recvAll(s)
	}
	if status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), `"nope"`) || !strings.Contains(err.Error(), "line-1") {
		t.Errorf("unknown profile: %v", err)
	}
	req, _ = http.NewRequest(http.MethodPost, "http://"+p.http+"/v1/devices:provision", strings.NewReader(`{"profile":"nope","device":{"name":"unit-1"}}`))
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("REST unknown profile: HTTP %d", resp.StatusCode)
		}
	}

	// SIGHUP reloads; a broken file keeps the previous profiles.
	writeProfiles(t, file, strings.Replace(strings.NewReplacer("%A1%", a1, "%A2%", a2).Replace(lineProfile), "line-1", "line-2", 1))
	hup(t)
	p.waitLog("profiles file reloaded", 30*time.Second)
	lp, err = client.ListProfiles(ctx, &espprovv1.ListProfilesRequest{})
	if err != nil || len(lp.GetProfiles()) != 1 || lp.GetProfiles()[0].GetName() != "line-2" {
		t.Errorf("after SIGHUP: %v %v", lp, err)
	}
	writeProfiles(t, file, "profiles: [{name: x, transport: carrier-pigeon}]\n")
	hup(t)
	p.waitLog("profiles file not reloaded", 30*time.Second)
	if lp, err = client.ListProfiles(ctx, &espprovv1.ListProfilesRequest{}); err != nil || lp.GetProfiles()[0].GetName() != "line-2" {
		t.Errorf("after a broken file: %v %v", lp, err)
	}

	if err := p.shutdown(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{store, store + "-wal"} {
		if b, err := os.ReadFile(f); err == nil {
			seen = append(seen, string(b))
		}
	}
	seen = append(seen, p.logs.String())
	for i, s := range seen {
		for _, secret := range []string{profPass, "pop-unit-1", "pop-unit-2"} {
			if strings.Contains(s, secret) {
				t.Errorf("secret %q in output %d: %.300s", secret, i, s)
			}
		}
	}
}

// hup sends SIGHUP to this process: the in-process espprovd reloads.
func hup(t *testing.T) {
	t.Helper()
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
}
