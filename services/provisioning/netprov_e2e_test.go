package provisioning_test

import (
	"context"
	"encoding/hex"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/types/known/durationpb"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/sim/device"
	simhttpd "github.com/espprov/espprov/internal/sim/httpd"
)

// The Thread network in range of the simulated ESP-IDF 6 devices.
const (
	otKey      = "00112233445566778899aabbccddeeff"
	otDataset  = "000300000f" + "0102face" + "0208dead00beef00cafe" + "030a4f70656e546872656164" + "0510" + otKey
	otWrongKey = "000300000f0102face0208dead00beef00cafe0510ffeeddccbbaa99887766554433221100"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// netprovConfig is an ESP-IDF 6 network_provisioning device, Security 2 like
// IDF 6's default, with the Wi-Fi and/or Thread networks in range.
func netprovConfig(t testing.TB, wifi, thread bool) device.Config {
	c := device.Config{NetProv: true, NoWifi: !wifi, Thread: thread, SecVer: 2, SecPatchVer: 1, SRPUsername: testUser, SRPPassword: testPoP,
		ThreadAttachDelay: 30 * time.Millisecond, ThreadAttachTimeout: 300 * time.Millisecond}
	if thread {
		c.ThreadNetworks = []device.ThreadNetwork{{Dataset: mustHex(t, otDataset), RSSI: -60},
			{Dataset: mustHex(t, "0003000019010212340208aaaaaaaaaaaaaaaa0303466f6f0510"+strings.Repeat("11", 16)), RSSI: -80}}
	}
	return c
}

var sec2Creds = &espprovv1.Security{Sec2Username: testUser, Sec2Password: testPoP}

func threadReq(addr string, creds *espprovv1.ThreadCredentials) *espprovv1.ProvisionRequest {
	to := fastTimeouts()
	to.ThreadAttach = durationpb5s()
	return &espprovv1.ProvisionRequest{
		Device:   &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_HTTPD, Address: addr},
		Security: sec2Creds, Thread: creds, Timeouts: to,
	}
}

func TestNetProvThreadProvision(t *testing.T) {
	h := startServer(t)
	panID := uint32(0xface)
	for _, tc := range []struct {
		name  string
		creds *espprovv1.ThreadCredentials
	}{
		{"dataset", &espprovv1.ThreadCredentials{Dataset: otDataset}},
		{"parts", &espprovv1.ThreadCredentials{NetworkKey: otKey, PanId: &panID, ExtPanId: "dead00beef00cafe", Channel: 15, NetworkName: "OpenThread"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := startDevice(t, netprovConfig(t, false, true), simhttpd.Options{})
			events, err := collect(t, h.client, threadReq(d.addr, tc.creds))
			if err != nil {
				t.Fatalf("provision: %v (steps %v)", err, steps(events))
			}
			res := lastResult(t, events)
			if !res.GetSuccess() || res.GetNetwork() != espprovv1.NetworkType_NETWORK_TYPE_THREAD ||
				res.GetThread().GetState() != espprovv1.ThreadAttachState_THREAD_ATTACH_STATE_ATTACHED ||
				res.GetThread().GetNetworkName() != "OpenThread" || res.GetThread().GetPanId() != 0xface || res.GetThread().GetExtPanId() != "dead00beef00cafe" {
				t.Fatalf("result %v", res)
			}
			var info *espprovv1.DeviceInfo
			var states []espprovv1.ThreadAttachState
			for _, ev := range events {
				if ev.GetDeviceInfo() != nil {
					info = ev.GetDeviceInfo()
				}
				if ev.GetStep() == espprovv1.Step_STEP_THREAD_STATE {
					states = append(states, ev.GetThreadState().GetState())
					if ev.GetNetwork() != espprovv1.NetworkType_NETWORK_TYPE_THREAD {
						t.Errorf("thread state event names network %v", ev.GetNetwork())
					}
				}
				if strings.Contains(prototext.Format(ev), otKey) || strings.Contains(ev.GetMessage(), "0510") {
					t.Fatalf("an event shows the network key: %v", ev)
				}
			}
			if info.GetProvGeneration() != espprovv1.ProvGeneration_PROV_GENERATION_NETWORK_PROVISIONING || info.GetVersion() != "netprov-v1.2" ||
				len(info.GetNetworkTypes()) != 1 || info.GetNetworkTypes()[0] != espprovv1.NetworkType_NETWORK_TYPE_THREAD {
				t.Errorf("device info %v", info)
			}
			if len(states) == 0 || states[len(states)-1] != espprovv1.ThreadAttachState_THREAD_ATTACH_STATE_ATTACHED {
				t.Errorf("thread states %v", states)
			}
			if st := d.dev.Thread(); st.State != device.ThreadAttached || st.Network != "OpenThread" {
				t.Errorf("device thread %v", st)
			}
		})
	}
}

func TestNetProvThreadWrongKey(t *testing.T) {
	h := startServer(t)
	d := startDevice(t, netprovConfig(t, false, true), simhttpd.Options{})
	events, err := collect(t, h.client, threadReq(d.addr, &espprovv1.ThreadCredentials{Dataset: otWrongKey}))
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(status.Convert(err).Message(), "ThreadNetworkNotFound") {
		t.Fatalf("err = %v, want FailedPrecondition naming ThreadNetworkNotFound", err)
	}
	res := lastResult(t, events)
	if res.GetSuccess() || res.GetThread().GetFailReason() != espprovv1.ThreadFailReason_THREAD_FAIL_REASON_NETWORK_NOT_FOUND ||
		!res.GetDeviceReset() || res.GetNetwork() != espprovv1.NetworkType_NETWORK_TYPE_THREAD || res.GetErrorCode() != "FailedPrecondition" {
		t.Fatalf("result %v", res)
	}
	if st := d.dev.Thread(); st.State != device.ThreadIdle {
		t.Fatalf("device not reset: %v", st)
	}
	// Reset through prov-ctrl: the same device now takes the right dataset.
	if _, err := collect(t, h.client, threadReq(d.addr, &espprovv1.ThreadCredentials{Dataset: otDataset})); err != nil {
		t.Fatalf("second provisioning: %v", err)
	}
}

func TestNetProvRefusals(t *testing.T) {
	h := startServer(t)
	t.Run("thread credentials to a Wi-Fi-only device", func(t *testing.T) {
		d := startDevice(t, netprovConfig(t, true, false), simhttpd.Options{})
		_, err := collect(t, h.client, threadReq(d.addr, &espprovv1.ThreadCredentials{Dataset: otDataset}))
		if status.Code(err) != codes.FailedPrecondition || !strings.Contains(status.Convert(err).Message(), "offers Wi-Fi, not Thread") {
			t.Fatalf("err = %v", err)
		}
		if n := d.dev.Stats().Exchanges["prov-config"] + d.dev.Stats().Exchanges["prov-session"]; n != 0 {
			t.Fatalf("%d exchanges after proto-ver; want none", n)
		}
	})
	t.Run("wifi credentials to a Thread-only device", func(t *testing.T) {
		d := startDevice(t, netprovConfig(t, false, true), simhttpd.Options{})
		_, err := collect(t, h.client, provisionReq(d.addr, sec2Creds, testSSID, testPass))
		if status.Code(err) != codes.FailedPrecondition || !strings.Contains(status.Convert(err).Message(), "offers Thread, not Wi-Fi") {
			t.Fatalf("err = %v", err)
		}
		if n := d.dev.Stats().Exchanges["prov-config"]; n != 0 {
			t.Fatalf("prov-config used %d times", n)
		}
		_, err = h.client.ScanWifi(context.Background(), &espprovv1.ScanWifiRequest{Device: &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_HTTPD, Address: d.addr}, Security: sec2Creds})
		if status.Code(err) != codes.FailedPrecondition || !strings.Contains(status.Convert(err).Message(), "offers Thread") {
			t.Fatalf("ScanWifi: %v", err)
		}
	})
	t.Run("ScanThread on an IDF 5 device", func(t *testing.T) {
		d := startDevice(t, device.Config{SecVer: 0}, simhttpd.Options{})
		_, err := h.client.ScanThread(context.Background(), &espprovv1.ScanThreadRequest{Device: &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_HTTPD, Address: d.addr}})
		if status.Code(err) != codes.FailedPrecondition || !strings.Contains(status.Convert(err).Message(), "wifi_provisioning") {
			t.Fatalf("err = %v", err)
		}
	})
	panID := uint32(0xface)
	for _, tc := range []struct {
		name  string
		creds *espprovv1.ThreadCredentials
		want  string
	}{
		{"malformed dataset", &espprovv1.ThreadCredentials{Dataset: "000500000f"}, "claims"},
		{"not hex", &espprovv1.ThreadCredentials{Dataset: "zz"}, "hex"},
		{"incomplete dataset", &espprovv1.ThreadCredentials{Dataset: "0102face"}, "no network key"},
		{"both forms", &espprovv1.ThreadCredentials{Dataset: otDataset, Channel: 15}, "not both"},
		{"missing parts", &espprovv1.ThreadCredentials{NetworkKey: otKey}, "missing thread.pan_id, thread.ext_pan_id, thread.channel"},
		{"short key", &espprovv1.ThreadCredentials{NetworkKey: "0011", PanId: &panID, ExtPanId: "dead00beef00cafe", Channel: 15}, "32 hex digits"},
		{"bad channel", &espprovv1.ThreadCredentials{NetworkKey: otKey, PanId: &panID, ExtPanId: "dead00beef00cafe", Channel: 40}, "channel 40"},
		{"empty", &espprovv1.ThreadCredentials{}, "Thread needs thread.dataset"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := startDevice(t, netprovConfig(t, false, true), simhttpd.Options{})
			_, err := collect(t, h.client, threadReq(d.addr, tc.creds))
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), tc.want) {
				t.Fatalf("err = %v, want InvalidArgument with %q", err, tc.want)
			}
			if strings.Contains(status.Convert(err).Message(), otKey) {
				t.Fatal("the error shows the network key")
			}
			if n := len(d.dev.Stats().Exchanges); n != 0 {
				t.Fatalf("the device was contacted: %v", d.dev.Stats().Exchanges)
			}
		})
	}
	t.Run("wifi and thread together", func(t *testing.T) {
		req := threadReq("127.0.0.1:1", &espprovv1.ThreadCredentials{Dataset: otDataset})
		req.Wifi = &espprovv1.WifiCredentials{Ssid: testSSID}
		if _, err := collect(t, h.client, req); status.Code(err) != codes.InvalidArgument {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestNetProvWifi(t *testing.T) {
	h := startServer(t)
	t.Run("success through the network messages", func(t *testing.T) {
		d := startDevice(t, netprovConfig(t, true, true), simhttpd.Options{})
		events, err := collect(t, h.client, provisionReq(d.addr, sec2Creds, testSSID, testPass))
		if err != nil {
			t.Fatal(err)
		}
		res := lastResult(t, events)
		if !res.GetSuccess() || res.GetNetwork() != espprovv1.NetworkType_NETWORK_TYPE_WIFI || res.GetIp4Address() != d.dev.Config().StationIP {
			t.Fatalf("result %v", res)
		}
		if info := events[1].GetDeviceInfo(); len(info.GetNetworkTypes()) != 2 {
			t.Fatalf("device info %v", info)
		}
	})
	t.Run("wrong passphrase, interactive retry on the same session", func(t *testing.T) {
		d := startDevice(t, netprovConfig(t, true, false), simhttpd.Options{})
		retried, final := runInteractive(t, h, provisionReq(d.addr, sec2Creds, testSSID, "wrong-passphrase"), func(ev *espprovv1.ProvisionResponse) *espprovv1.ProvisionInteractiveRequest {
			if ev.GetResult().GetFailReason() != espprovv1.WifiFailReason_WIFI_FAIL_REASON_AUTH_ERROR || !ev.GetResult().GetDeviceReset() {
				t.Errorf("awaiting retry: %v", ev)
			}
			return &espprovv1.ProvisionInteractiveRequest{Action: &espprovv1.ProvisionInteractiveRequest_Retry{Retry: &espprovv1.WifiCredentials{Ssid: testSSID, Passphrase: testPass}}}
		})
		if !retried || !final.GetSuccess() {
			t.Fatalf("retried=%t final=%v", retried, final)
		}
		if n := d.dev.Stats().HandshakesCompleted; n != 1 {
			t.Errorf("handshakes = %d, want 1", n)
		}
	})
	t.Run("generation override on a device whose proto-ver says v1.1", func(t *testing.T) {
		d := startDevice(t, device.Config{SecVer: 0}, simhttpd.Options{})
		req := provisionReq(d.addr, nil, testSSID, testPass)
		req.Device.ProvGeneration = espprovv1.ProvGeneration_PROV_GENERATION_NETWORK_PROVISIONING
		events, err := collect(t, h.client, req)
		if err != nil {
			t.Fatal(err)
		}
		if g := events[1].GetDeviceInfo().GetProvGeneration(); g != espprovv1.ProvGeneration_PROV_GENERATION_NETWORK_PROVISIONING {
			t.Fatalf("generation %v", g)
		}
	})
}

func TestNetProvThreadInteractiveRetry(t *testing.T) {
	h := startServer(t)
	d := startDevice(t, netprovConfig(t, false, true), simhttpd.Options{})
	retried, final := runInteractive(t, h, threadReq(d.addr, &espprovv1.ThreadCredentials{Dataset: otWrongKey}), func(ev *espprovv1.ProvisionResponse) *espprovv1.ProvisionInteractiveRequest {
		if ev.GetResult().GetThread().GetFailReason() != espprovv1.ThreadFailReason_THREAD_FAIL_REASON_NETWORK_NOT_FOUND {
			t.Errorf("awaiting retry: %v", ev)
		}
		return &espprovv1.ProvisionInteractiveRequest{Action: &espprovv1.ProvisionInteractiveRequest_RetryThread{RetryThread: &espprovv1.ThreadCredentials{Dataset: otDataset}}}
	})
	if !retried || !final.GetSuccess() || final.GetThread().GetNetworkName() != "OpenThread" {
		t.Fatalf("retried=%t final=%v", retried, final)
	}
	if n := d.dev.Stats().HandshakesCompleted; n != 1 {
		t.Errorf("handshakes = %d, want 1", n)
	}
}

// runInteractive drives ProvisionInteractive, answering STEP_AWAITING_RETRY
// once with answer's message; it returns the final result.
func runInteractive(t *testing.T, h *harness, req *espprovv1.ProvisionRequest, answer func(*espprovv1.ProvisionResponse) *espprovv1.ProvisionInteractiveRequest) (bool, *espprovv1.Result) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := h.client.ProvisionInteractive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&espprovv1.ProvisionInteractiveRequest{Action: &espprovv1.ProvisionInteractiveRequest_Start{Start: req}}); err != nil {
		t.Fatal(err)
	}
	retried := false
	var final *espprovv1.Result
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return retried, final
		}
		if err != nil {
			t.Fatalf("stream: %v", err)
		}
		ev := resp.GetEvent()
		switch ev.GetStep() {
		case espprovv1.Step_STEP_AWAITING_RETRY:
			if retried {
				t.Fatal("asked to retry twice")
			}
			retried = true
			if err := stream.Send(answer(ev)); err != nil {
				t.Fatal(err)
			}
		case espprovv1.Step_STEP_RESULT:
			final = ev.GetResult()
		}
	}
}

func TestScanThread(t *testing.T) {
	h := startServer(t)
	d := startDevice(t, netprovConfig(t, false, true), simhttpd.Options{})
	resp, err := h.client.ScanThread(context.Background(), &espprovv1.ScanThreadRequest{
		Device: &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_HTTPD, Address: d.addr}, Security: sec2Creds, Timeouts: fastTimeouts()})
	if err != nil {
		t.Fatal(err)
	}
	nets := resp.GetNetworks()
	if len(nets) != 2 || nets[0].GetNetworkName() != "OpenThread" || nets[0].GetPanId() != 0xface || nets[0].GetChannel() != 15 ||
		nets[0].GetExtPanId() != "dead00beef00cafe" || nets[0].GetRssi() != -60 || nets[0].GetLqi() != 200 || len(nets[0].GetExtAddress()) != 16 ||
		nets[1].GetNetworkName() != "Foo" || nets[1].GetChannel() != 25 {
		t.Fatalf("networks %v", nets)
	}
	if resp.GetDeviceInfo().GetProvGeneration() != espprovv1.ProvGeneration_PROV_GENERATION_NETWORK_PROVISIONING {
		t.Fatalf("device info %v", resp.GetDeviceInfo())
	}
}

// REST: a Thread dataset through /v1/devices:provision, and the scan.
func TestCurlThread(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal("curl is not installed (apt-get install curl); .ci/run installs it")
	}
	h := startServer(t)
	sec := `"security":{"sec2Username":"wifiprov","sec2Password":"abcd1234"},"timeouts":{"statusPoll":"0.05s"}`
	t.Run("provision", func(t *testing.T) {
		d := startDevice(t, netprovConfig(t, false, true), simhttpd.Options{})
		out, err := exec.Command(curl, "-sS", "-N", "--max-time", "30", "-H", "Content-Type: application/json", "-X", "POST", "http://"+h.srv.HTTPAddr()+"/v1/devices:provision",
			"-d", `{"device":{"transport":"TRANSPORT_HTTPD","address":"`+d.addr+`"},`+sec+`,"thread":{"dataset":"`+otDataset+`"}}`).Output()
		if err != nil {
			t.Fatalf("curl: %v\n%s", err, out)
		}
		lines := ndjson(t, out)
		last := lines[len(lines)-1]["result"].(map[string]any)
		res, _ := last["result"].(map[string]any)
		if res["success"] != true || res["network"] != "NETWORK_TYPE_THREAD" || res["thread"].(map[string]any)["networkName"] != "OpenThread" {
			t.Fatalf("last line %v", lines[len(lines)-1])
		}
		if strings.Contains(string(out), otKey) {
			t.Fatal("the stream shows the network key")
		}
	})
	t.Run("wrong key", func(t *testing.T) {
		d := startDevice(t, netprovConfig(t, false, true), simhttpd.Options{})
		out, _ := exec.Command(curl, "-sS", "-N", "--max-time", "30", "-H", "Content-Type: application/json", "-X", "POST", "http://"+h.srv.HTTPAddr()+"/v1/devices:provision",
			"-d", `{"device":{"transport":"TRANSPORT_HTTPD","address":"`+d.addr+`"},`+sec+`,"thread":{"dataset":"`+otWrongKey+`"}}`).Output()
		lines := ndjson(t, out)
		if e, ok := lines[len(lines)-1]["error"].(map[string]any); !ok || e["code"] != float64(9) {
			t.Fatalf("last line %v", lines[len(lines)-1])
		}
	})
	t.Run("wifi on a network_provisioning device", func(t *testing.T) {
		d := startDevice(t, netprovConfig(t, true, false), simhttpd.Options{})
		out, err := exec.Command(curl, "-sS", "-N", "--max-time", "30", "-H", "Content-Type: application/json", "-X", "POST", "http://"+h.srv.HTTPAddr()+"/v1/devices:provision",
			"-d", `{"device":{"transport":"TRANSPORT_HTTPD","address":"`+d.addr+`"},`+sec+`,"wifi":{"ssid":"`+testSSID+`","passphrase":"`+testPass+`"}}`).Output()
		if err != nil {
			t.Fatalf("curl: %v\n%s", err, out)
		}
		lines := ndjson(t, out)
		res, _ := lines[len(lines)-1]["result"].(map[string]any)["result"].(map[string]any)
		if res["success"] != true || res["network"] != "NETWORK_TYPE_WIFI" || res["ip4Address"] != d.dev.Config().StationIP {
			t.Fatalf("last line %v", lines[len(lines)-1])
		}
	})
	t.Run("scan", func(t *testing.T) {
		d := startDevice(t, netprovConfig(t, false, true), simhttpd.Options{})
		out, err := exec.Command(curl, "-sS", "--max-time", "30", "-H", "Content-Type: application/json", "-X", "POST", "http://"+h.srv.HTTPAddr()+"/v1/devices:scanThread",
			"-d", `{"device":{"transport":"TRANSPORT_HTTPD","address":"`+d.addr+`"},`+sec+`}`).Output()
		if err != nil {
			t.Fatalf("curl: %v", err)
		}
		if !strings.Contains(string(out), `"networkName":"OpenThread"`) || !strings.Contains(string(out), `"panId":64206`) {
			t.Fatalf("scan: %s", out)
		}
	})
}

func durationpb5s() *durationpb.Duration { return durationpb.New(5 * time.Second) }

// reprovision through network_ctrl: a provisioned device (auto-stop off)
// takes new Wi-Fi credentials or a new Thread dataset after prov-ctrl
// reprov (Wi-Fi: msg 3, Thread: msg 7).
func TestNetProvReprovision(t *testing.T) {
	h := startServer(t)
	for _, tc := range []struct {
		name   string
		thread bool
	}{{"wifi", false}, {"thread", true}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := netprovConfig(t, !tc.thread, tc.thread)
			cfg.NoAutoStop = true
			d := startDevice(t, cfg, simhttpd.Options{})
			req := provisionReq(d.addr, sec2Creds, testSSID, testPass)
			if tc.thread {
				req = threadReq(d.addr, &espprovv1.ThreadCredentials{Dataset: otDataset})
			}
			if _, err := collect(t, h.client, req); err != nil {
				t.Fatal(err)
			}
			if _, err := collect(t, h.client, req); status.Code(err) != codes.FailedPrecondition || !strings.Contains(status.Convert(err).Message(), "reprovision") {
				t.Fatalf("second provisioning without reprovision: %v", err)
			}
			req.Reprovision = true
			events, err := collect(t, h.client, req)
			if err != nil {
				t.Fatalf("reprovision: %v (%v)", err, steps(events))
			}
			reprov := false
			for _, ev := range events {
				reprov = reprov || ev.GetStep() == espprovv1.Step_STEP_REPROVISIONED
			}
			if !reprov || !lastResult(t, events).GetSuccess() {
				t.Fatalf("steps %v", steps(events))
			}
		})
	}
}
