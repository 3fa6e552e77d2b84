package provisioning_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/protocomm"
	"github.com/espprov/espprov/internal/sim/device"
	simhttpd "github.com/espprov/espprov/internal/sim/httpd"
	"github.com/espprov/espprov/services/provisioning"
)

type rtCase struct {
	name   string
	scheme protocomm.Scheme
	cfg    device.Config
	sec    *espprovv1.Security
}

func rtCases() []rtCase {
	return []rtCase{
		{"sec0", protocomm.Scheme0, device.Config{SecVer: 0}, nil},
		{"sec1", protocomm.Scheme1, device.Config{SecVer: 1, PoP: testPoP}, &espprovv1.Security{Pop: testPoP}},
		{"sec2", protocomm.Scheme2, device.Config{SecVer: 2, SecPatchVer: 1, SRPUsername: testUser, SRPPassword: testPoP}, &espprovv1.Security{Sec2Username: testUser, Sec2Password: testPoP}},
	}
}

func totalExchanges(d *device.Device) int {
	n := 0
	for _, v := range d.Stats().Exchanges {
		n += v
	}
	return n
}

// Against a device that has joined by the first status read, a provisioning
// takes the protocol minimum of round trips for each scheme, over one TCP
// connection, with the default timeouts (the default status-poll schedule).
func TestProvisionRoundTrips(t *testing.T) {
	h := startServer(t)
	for _, tc := range rtCases() {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.ConnectDelay = time.Nanosecond
			d := startDevice(t, tc.cfg, simhttpd.Options{Nagle: true})
			req := provisionReq(d.addr, tc.sec, testSSID, testPass)
			req.Timeouts = nil
			events, err := collect(t, h.client, req)
			if err != nil || !lastResult(t, events).GetSuccess() {
				t.Fatalf("provision: %v %v", err, steps(events))
			}
			st := d.dev.Stats()
			if got, want := totalExchanges(d.dev), provisioning.MinExchanges(tc.scheme); got != want {
				t.Errorf("%d round trips %v, want the protocol minimum %d", got, st.Exchanges, want)
			}
			if st.Exchanges["prov-config"] != 3 {
				t.Errorf("prov-config exchanges = %d, want 3 (set, apply, one status read)", st.Exchanges["prov-config"])
			}
			if n := d.srv.Accepted(); n != 1 {
				t.Errorf("%d TCP connections, want 1", n)
			}
		})
	}
}

// A device provisioned earlier that is still in provisioning mode (auto-stop
// disabled) refuses new credentials: the error says so and what to do;
// reprovision gets it through (prov-ctrl reprov, then the normal flow).
func TestProvisionReprovision(t *testing.T) {
	h := startServer(t)
	d := startDevice(t, device.Config{SecVer: 1, PoP: testPoP, NoAutoStop: true}, simhttpd.Options{})
	sec := &espprovv1.Security{Pop: testPoP}
	if events, err := collect(t, h.client, provisionReq(d.addr, sec, testSSID, testPass)); err != nil || !lastResult(t, events).GetSuccess() {
		t.Fatalf("first provision: %v", err)
	}
	// Again, without reprovision: a clear FailedPrecondition.
	events, err := collect(t, h.client, provisionReq(d.addr, sec, "CafeOpen", ""))
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("second provision: %v, want FailedPrecondition", err)
	}
	msg := status.Convert(err).Message()
	for _, want := range []string{"already applied Wi-Fi credentials", "reprovision", "factory defaults"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if r := lastResult(t, events); r.GetSuccess() || r.GetErrorCode() != "FailedPrecondition" {
		t.Errorf("result %v", r)
	}
	if got := d.dev.Wifi().SSID; got != testSSID {
		t.Errorf("device SSID %q changed by the refused provision", got)
	}
	// With reprovision.
	req := provisionReq(d.addr, sec, "CafeOpen", "")
	req.Reprovision = true
	events, err = collect(t, h.client, req)
	if err != nil || !lastResult(t, events).GetSuccess() {
		t.Fatalf("reprovision: %v %v", err, steps(events))
	}
	if !containsStep(events, espprovv1.Step_STEP_REPROVISIONED) {
		t.Errorf("no STEP_REPROVISIONED in %v", steps(events))
	}
	if got := d.dev.Wifi().SSID; got != "CafeOpen" {
		t.Errorf("device SSID %q after reprovision, want CafeOpen", got)
	}

	// reprovision on a fresh auto-stop device: the device refuses reprov,
	// the flow goes on and succeeds.
	fresh := startDevice(t, device.Config{SecVer: 1, PoP: testPoP}, simhttpd.Options{})
	req = provisionReq(fresh.addr, sec, testSSID, testPass)
	req.Reprovision = true
	if events, err := collect(t, h.client, req); err != nil || !lastResult(t, events).GetSuccess() {
		t.Fatalf("reprovision of a fresh device: %v %v", err, steps(events))
	}

	// reprovision without Wi-Fi is a bad request.
	bad := provisionReq(d.addr, sec, "", "")
	bad.Wifi, bad.NoWifi, bad.Reprovision = nil, true, true
	if _, err := collect(t, h.client, bad); status.Code(err) != codes.InvalidArgument {
		t.Errorf("reprovision with no_wifi: %v, want InvalidArgument", err)
	}
}

func containsStep(events []*espprovv1.ProvisionResponse, s espprovv1.Step) bool {
	for _, e := range events {
		if e.GetStep() == s {
			return true
		}
	}
	return false
}

func customDevice(t *testing.T, names ...string) *simDevice {
	t.Helper()
	d := startDevice(t, device.Config{SecVer: 2, SecPatchVer: 1, SRPUsername: testUser, SRPPassword: testPoP}, simhttpd.Options{})
	for _, n := range names {
		if err := d.dev.RegisterEndpoint(n, device.EchoHandler(n)); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

var sec2 = &espprovv1.Security{Sec2Username: testUser, Sec2Password: testPoP}

// custom_data goes to application endpoints over the secure session before
// the credentials; each reply is an event. A missing endpoint fails the call
// with its name before any credential is sent.
func TestProvisionCustomData(t *testing.T) {
	h := startServer(t)
	d := customDevice(t, "custom-data", "app-config")
	req := provisionReq(d.addr, sec2, testSSID, testPass)
	req.CustomData = map[string][]byte{"custom-data": []byte("hello"), "app-config": {0, 1, 2, 0xff}}
	events, err := collect(t, h.client, req)
	if err != nil || !lastResult(t, events).GetSuccess() {
		t.Fatalf("provision: %v %v", err, steps(events))
	}
	var got []*espprovv1.CustomDataReply
	credentialsAt, customAt := -1, -1
	for i, e := range events {
		switch e.GetStep() {
		case espprovv1.Step_STEP_CUSTOM_DATA:
			got = append(got, e.GetCustomData())
			customAt = i
		case espprovv1.Step_STEP_CREDENTIALS_SENT:
			credentialsAt = i
		}
	}
	if len(got) != 2 || got[0].GetEndpoint() != "app-config" || got[1].GetEndpoint() != "custom-data" {
		t.Fatalf("custom data events %v, want app-config then custom-data", got)
	}
	if !bytes.Equal(got[0].GetReply(), append([]byte("espsim-echo:app-config:"), 0, 1, 2, 0xff)) ||
		string(got[1].GetReply()) != "espsim-echo:custom-data:hello" {
		t.Errorf("replies %q %q", got[0].GetReply(), got[1].GetReply())
	}
	if customAt > credentialsAt {
		t.Errorf("custom data event %d after the credentials %d", customAt, credentialsAt)
	}

	// A missing endpoint: FailedPrecondition naming it, no credentials sent.
	bare := customDevice(t, "custom-data")
	req = provisionReq(bare.addr, sec2, testSSID, testPass)
	req.CustomData = map[string][]byte{"custom-data": []byte("x"), "missing-ep": []byte("y")}
	_, err = collect(t, h.client, req)
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(status.Convert(err).Message(), `"missing-ep"`) {
		t.Fatalf("missing endpoint: %v, want FailedPrecondition naming it", err)
	}
	if n := bare.dev.Stats().Exchanges["prov-config"]; n != 0 {
		t.Errorf("%d prov-config exchanges after a missing endpoint, want none", n)
	}

	// Bad requests change nothing on the device.
	for name, cd := range map[string]map[string][]byte{
		"empty value":       {"custom-data": nil},
		"builtin endpoint":  {"prov-config": []byte("x")},
		"slash in the name": {"a/b": []byte("x")},
		"too large":         {"custom-data": make([]byte, 5000)},
	} {
		before := totalExchanges(bare.dev)
		req := provisionReq(bare.addr, sec2, testSSID, testPass)
		req.CustomData = cd
		if _, err := collect(t, h.client, req); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: %v, want InvalidArgument", name, err)
		}
		if totalExchanges(bare.dev) != before {
			t.Errorf("%s: the device was contacted", name)
		}
	}
}

// REST: custom_data as base64 JSON, replies in the newline-delimited stream;
// reprovision as a JSON field.
func TestProvisionCustomDataREST(t *testing.T) {
	h := startServer(t)
	d := customDevice(t, "custom-data")
	body := `{"device":{"transport":"TRANSPORT_HTTPD","address":"` + d.addr + `"},
	  "security":{"sec2Username":"wifiprov","sec2Password":"abcd1234"},
	  "wifi":{"ssid":"HomeNet","passphrase":"secret-pass"},
	  "timeouts":{"statusPoll":"0.05s"},
	  "reprovision":true,
	  "customData":{"custom-data":"aGVsbG8="}}`
	resp, err := http.Post("http://"+h.srv.HTTPAddr()+"/v1/devices:provision", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	var reply []byte
	success := false
	for sc.Scan() {
		var line struct {
			Result *struct {
				Step       string `json:"step"`
				CustomData *struct {
					Endpoint string `json:"endpoint"`
					Reply    []byte `json:"reply"`
				} `json:"customData"`
				Result *struct {
					Success bool `json:"success"`
				} `json:"result"`
			} `json:"result"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if r := line.Result; r != nil && r.Step == "STEP_CUSTOM_DATA" && r.CustomData != nil && r.CustomData.Endpoint == "custom-data" {
			reply = r.CustomData.Reply
		}
		if r := line.Result; r != nil && r.Step == "STEP_RESULT" && r.Result != nil {
			success = r.Result.Success
		}
	}
	if string(reply) != "espsim-echo:custom-data:hello" || !success {
		t.Fatalf("REST stream: reply %q success %v", reply, success)
	}
}

// The default schedule reads the status at most 50 ms apart while a join is
// likely (a join is seen within 50 ms); a status_poll given in the
// request caps every gap at that value instead (fewer reads).
func TestStatusPollSchedule(t *testing.T) {
	h := startServer(t)
	polls := func(statusPoll time.Duration) int {
		d := startDevice(t, device.Config{SecVer: 1, PoP: testPoP, ConnectDelay: 3 * time.Second}, simhttpd.Options{})
		req := provisionReq(d.addr, &espprovv1.Security{Pop: testPoP}, testSSID, testPass)
		req.Timeouts = nil
		if statusPoll > 0 {
			req.Timeouts = &espprovv1.Timeouts{StatusPoll: durationpb.New(statusPoll)}
		}
		events, err := collect(t, h.client, req)
		if err != nil || !lastResult(t, events).GetSuccess() {
			t.Fatalf("provision: %v %v", err, steps(events))
		}
		return d.dev.Stats().Exchanges["prov-config"] - 2 // set and apply
	}
	// Nominal counts: about 60 and 9. A loaded machine stretches every gap,
	// so the bounds leave room on the side it can move.
	if n := polls(0); n < 15 {
		t.Errorf("default schedule: %d status reads during a 3 s join, want at least 15 (at most 50 ms apart)", n)
	}
	if n := polls(time.Second); n > 9 {
		t.Errorf("status_poll 1s: %d status reads during a 3 s join, want at most 9", n)
	}
}
