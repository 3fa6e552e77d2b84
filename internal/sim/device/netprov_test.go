package device

import (
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

// A Thread network in range: channel 15, PAN ID 0xface, ext PAN ID
// dead00beef00cafe, name "OT", key 00112233445566778899aabbccddeeff.
const (
	otDataset    = "000300000f 0102face 0208dead00beef00cafe 03024f54 051000112233445566778899aabbccddeeff"
	otWrongKey   = "000300000f 0102face 0208dead00beef00cafe 0510ffeeddccbbaa99887766554433221100"
	otMalformed  = "000500000f"
	reqThreadSet = "08 08 92 01 " // + length + 0a + length + dataset
)

func setThread(t *testing.T, ds string) string {
	b := unhex(t, ds)
	inner := append([]byte{0x0a, byte(len(b))}, b...)
	return reqThreadSet + hex.EncodeToString(append([]byte{byte(len(inner))}, inner...))
}

func TestNetProvProtoVer(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		caps string
	}{
		{"wifi", Config{NetProv: true}, `"no_sec", "wifi_prov", "wifi_scan"`},
		{"thread", Config{NetProv: true, NoWifi: true, Thread: true}, `"no_sec", "thread_prov", "thread_scan"`},
		{"both", Config{NetProv: true, Thread: true}, `"no_sec", "wifi_prov", "wifi_scan", "thread_prov", "thread_scan"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := mustNew(t, tc.cfg).Handle("s", EndpointVersion, []byte("---"))
			if err != nil {
				t.Fatal(err)
			}
			want := "{\n\t\"prov\":\t{\n\t\t\"ver\":\t\"netprov-v1.2\",\n\t\t\"sec_ver\":\t0,\n\t\t\"sec_patch_ver\":\t0,\n\t\t\"cap\":\t[" + tc.caps + "]\n\t}\n}"
			if string(got) != want {
				t.Fatalf("got %q\nwant %q", got, want)
			}
		})
	}
}

func TestNetProvThreadStateMachine(t *testing.T) {
	const ms = time.Millisecond
	base := Config{NetProv: true, NoWifi: true, Thread: true, ThreadAttachDelay: 10 * ms, ThreadAttachTimeout: 50 * ms,
		CleanupDelay: 5 * ms, ThreadNetworks: []ThreadNetwork{{Dataset: unhex(t, otDataset)}}}
	const (
		getStatus  = "08 06 82 01 00"
		attaching  = "08 07 8a 01 02 10 01"
		attached   = "08 07 8a 01 16 5a 14 08 cef503 12 08 dead00beef00cafe 18 0f 22 02 4f54"
		notFound   = "08 07 8a 01 04 10 03 50 01"
		invalid    = "08 07 8a 01 04 10 03 50 00"
		setOK      = "08 09 9a 01 00"
		apply      = "08 0a"
		applyOK    = "08 0b aa 01 00"
		applyErr   = "08 0b aa 01 02 08 05"
		resetOK    = "08 06 82 01 00"
		resetErr   = "08 06 10 05 82 01 00"
		wifiStatus = "08 01 5a 02 08 04" // Wi-Fi on a Thread-only device: InvalidArgument
	)
	tests := []struct {
		name  string
		steps []step
	}{
		{"attach", []step{
			{req: getStatus, want: attaching},
			{req: setThread(t, otDataset), want: setOK},
			{req: apply, want: applyOK},
			{advance: 9 * ms, req: getStatus, want: attaching},
			{advance: 1 * ms, req: getStatus, want: attached},
			{req: apply, want: "08 0b aa 01 02 08 05"}, // nothing pending
			{advance: 5 * ms, ep: EndpointVersion, req: "2d2d2d", wantErr: ErrStopped},
		}},
		{"wrong key: not found after the attach timer, reset, retry", []step{
			{req: setThread(t, otWrongKey), want: setOK},
			{req: apply, want: applyOK},
			{advance: 49 * ms, req: getStatus, want: attaching},
			{ep: EndpointCtrl, req: "08 05", want: resetErr}, // not failed yet
			{advance: 1 * ms, req: getStatus, want: notFound},
			{ep: EndpointCtrl, req: "08 05", want: resetOK},
			{req: getStatus, want: attaching},
			{req: setThread(t, otDataset), want: setOK},
			{req: apply, want: applyOK},
			{advance: 10 * ms, req: getStatus, want: attached},
		}},
		{"malformed dataset: apply fails, status says DatasetInvalid", []step{
			{req: setThread(t, otMalformed), want: setOK},
			{req: apply, want: applyErr},
			{req: getStatus, want: invalid},
			{ep: EndpointCtrl, req: "08 05", want: resetOK},
		}},
		{"Wi-Fi messages on a Thread-only device", []step{
			{req: "52 00", want: wifiStatus},
			{req: "08 02 62 08 0a 06 6d7973736964", want: "08 03 6a 02 08 04"},
			{req: "08 04", want: "08 05 7a 02 08 04"},
			{ep: EndpointScan, req: "52 04 08 01 20 78", want: "08 01 10 04 5a 00"},
			{ep: EndpointCtrl, req: "08 01", want: "08 02 10 04 62 00"},
		}},
		{"thread scan", []step{
			{ep: EndpointScan, req: "08 06 82 01 02 08 01", want: "08 07 8a 01 00"},
			{ep: EndpointScan, req: "08 08", want: "08 09 9a 01 04 08 01 10 01"},
			{ep: EndpointScan, req: "08 0a a2 01 02 10 02", want: "08 0b 10 05 aa 01 00"},
		}},
		{"unknown message types fail the exchange", []step{
			{req: "08 0c", wantErr: errBadMsg},
			{ep: EndpointCtrl, req: "08 00", wantErr: errBadMsg},
			{ep: EndpointScan, req: "08 0c", wantErr: errBadMsg},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			runScript(t, base, newClock(), tc.steps)
		})
	}
}

func TestNetProvThreadScanEntry(t *testing.T) {
	d := mustNew(t, Config{NetProv: true, Thread: true, ThreadNetworks: []ThreadNetwork{
		{Dataset: unhex(t, otDataset), RSSI: -70, LQI: 200, ExtAddr: [8]byte{0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77}}}})
	do(t, d, EndpointScan, "08 06 82 01 02 08 01", "08 07 8a 01 00")
	do(t, d, EndpointScan, "08 0a a2 01 02 10 01",
		"08 0b aa 01 2e 0a 2c 08 cef503 10 0f 18 baffffffffffffffff01 20 c801 2a 08 0011223344556677 32 02 4f54 3a 08 dead00beef00cafe")
	// The Wi-Fi half of a device with both still works, byte for byte.
	do(t, d, EndpointConfig, reqGetStatus, respConnecting)
	if s := d.Thread(); s.State != ThreadIdle {
		t.Fatalf("thread %v", s)
	}
	if strings.Contains(d.Config().String(), "0011223344") || strings.Contains(d.Config().ThreadNetworks[0].String(), "00112233445566778899") {
		t.Fatal("a String shows the network key")
	}
}

func TestNetProvValidation(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Thread: true}, "need NetProv"},
		{Config{NetProv: true, NoWifi: true}, "Wi-Fi or Thread"},
		{Config{NetProv: true, ThreadNetworks: []ThreadNetwork{{Dataset: unhex(t, otDataset)}}}, "Thread enabled"},
		{Config{NetProv: true, Thread: true, ThreadNetworks: []ThreadNetwork{{Dataset: unhex(t, "0102face")}}}, "no network key"},
		{Config{NetProv: true, Thread: true, ThreadNetworks: []ThreadNetwork{{Dataset: unhex(t, otMalformed)}}}, "claims"},
	} {
		if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%v) = %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

// FuzzHandleNetProv: arbitrary requests never panic a network_provisioning
// device with Wi-Fi and Thread, and it keeps answering.
func FuzzHandleNetProv(f *testing.F) {
	for _, s := range []string{"08 06 82 01 00", "08 0a", "08 06 82 01 02 08 01", "08 0a a2 01 02 10 02", "08 05", "08 07", reqGetStatus} {
		f.Add(uint8(0), unhex(f, s))
	}
	f.Fuzz(func(t *testing.T, ep uint8, req []byte) {
		d := mustNew(t, Config{NetProv: true, Thread: true, APs: []AP{myAP}, ConnectDelay: time.Nanosecond,
			ThreadAttachDelay: time.Nanosecond, NoAutoStop: true, ThreadNetworks: []ThreadNetwork{{Dataset: unhex(t, otDataset)}}})
		eps := d.Endpoints()
		_, _ = d.Handle("s", eps[int(ep)%len(eps)], req)
		_, _ = d.Handle("s", EndpointConfig, req)
		_, _ = d.Handle("s", EndpointScan, req)
		_, _ = d.Handle("s", EndpointCtrl, req)
		if _, err := d.Handle("s", EndpointVersion, []byte("x")); err != nil {
			t.Fatal(err)
		}
	})
}
