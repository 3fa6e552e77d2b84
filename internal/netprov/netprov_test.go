package netprov

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/espprov/espprov/internal/wifiprov"
	"github.com/espprov/espprov/internal/wire/devicepb"
	pb "github.com/espprov/espprov/internal/wire/netprovpb"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// script is a Caller that expects exact request bytes and answers canned
// replies, in order.
type script struct {
	t     *testing.T
	steps []exchange
}

type exchange struct{ endpoint, req, reply string }

func (s *script) Call(_ context.Context, ep string, req []byte) ([]byte, error) {
	s.t.Helper()
	if len(s.steps) == 0 {
		s.t.Fatalf("unexpected call %s %x", ep, req)
	}
	x := s.steps[0]
	s.steps = s.steps[1:]
	if ep != x.endpoint || !bytes.Equal(req, unhex(s.t, x.req)) {
		s.t.Fatalf("request %s %x, want %s %s", ep, req, x.endpoint, strings.ReplaceAll(x.req, " ", ""))
	}
	return unhex(s.t, x.reply), nil
}

func (s *script) done() {
	s.t.Helper()
	if len(s.steps) > 0 {
		s.t.Fatalf("%d exchanges not made", len(s.steps))
	}
}

// The Wi-Fi messages of network_provisioning 1.x keep wifi_provisioning's
// numbers: the reference encodings of protocol.md §9.5 must come out of the
// network_* messages unchanged.
func TestWifiBytesMatchWifiProvisioning(t *testing.T) {
	ctx := context.Background()
	s := &script{t: t, steps: []exchange{
		{"prov-config", "08 02 62 14 0a 06 6d7973736964 12 0a 6d7970617373776f7264", "08 03 6a 00"},
		{"prov-config", "08 04", "08 05 7a 00"},
		{"prov-config", "52 00", "08 01 5a 02 10 01"},
		{"prov-config", "52 00", "08 01 5a 06 10 01 62 02 08 02"},
		{"prov-config", "52 00", "08 01 5a 24 5a 22 0a 0c 3139322e3136382e312e3233 10 03 1a 06 6d7973736964 22 06 240ac4112233 28 06"},
		{"prov-config", "52 00", "08 01 5a 04 10 03 50 01"},
		{"prov-ctrl", "08 01", "08 02 62 00"},
		{"prov-ctrl", "08 03", "08 04 10 05 72 00"},
	}}
	w := Wifi{C: s}
	if err := w.SetConfig(ctx, []byte("myssid"), []byte("mypassword")); err != nil {
		t.Fatal(err)
	}
	if err := w.ApplyConfig(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := w.GetStatus(ctx)
	if err != nil || st.Station != devicepb.WifiStationState_Connecting || st.AttemptsRemaining != nil {
		t.Fatalf("connecting: %+v %v", st, err)
	}
	st, err = w.GetStatus(ctx)
	if err != nil || st.AttemptsRemaining == nil || *st.AttemptsRemaining != 2 {
		t.Fatalf("attempt failed: %+v %v", st, err)
	}
	st, err = w.GetStatus(ctx)
	if err != nil || st.Station != devicepb.WifiStationState_Connected || st.IP != "192.168.1.23" || string(st.SSID) != "myssid" ||
		st.Channel != 6 || st.Auth != 3 || !bytes.Equal(st.BSSID, unhex(t, "240ac4112233")) {
		t.Fatalf("connected: %+v %v", st, err)
	}
	st, err = w.GetStatus(ctx)
	if err != nil || st.Station != devicepb.WifiStationState_ConnectionFailed || !st.HasFailReason || st.FailReason != devicepb.WifiConnectFailedReason_NetworkNotFound {
		t.Fatalf("failed: %+v %v", st, err)
	}
	if err := w.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Reprov(ctx); !errors.Is(err, ErrDevice) || !errors.Is(err, wifiprov.ErrReprovRefused) || !strings.Contains(err.Error(), "InternalError") {
		t.Fatalf("reprov: %v", err)
	}
	s.done()
}

func TestWifiScanBytes(t *testing.T) {
	s := &script{t: t, steps: []exchange{
		{"prov-scan", "52 06 08 01 18 05 20 78", "08 01 5a 00"},
		{"prov-scan", "08 02", "08 03 6a 04 08 01 10 01"},
		{"prov-scan", "08 04 72 02 10 01", "08 05 7a 21 0a 1f 0a 06 6d7973736964 10 06 18 d3ffffffffffffffff01 22 06 240ac4112233 28 03"},
	}}
	aps, err := Wifi{C: s}.Scan(context.Background(), wifiprov.ScanOptions{GroupChannels: 5, PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(aps) != 1 || string(aps[0].SSID) != "myssid" || aps[0].RSSI != -45 || aps[0].Channel != 6 || aps[0].Auth != 3 {
		t.Fatalf("aps %+v", aps)
	}
	s.done()
}

// Thread encodings, derived by hand from the field numbers of Espressif's
// network_config.proto / network_scan.proto / network_ctrl.proto (payload
// fields 16-21 take two-byte tags: 82 01, 8a 01, 92 01, 9a 01, a2 01, aa 01).
func TestThreadBytes(t *testing.T) {
	ctx := context.Background()
	attached := "08 07 8a 01 16 5a 14 08 cef503 12 08 dead00beef00cafe 18 0f 22 02 4f54"
	s := &script{t: t, steps: []exchange{
		{"prov-config", "08 08 92 01 07 0a 05 000300000f", "08 09 9a 01 00"},
		{"prov-config", "08 0a", "08 0b aa 01 00"},
		{"prov-config", "08 06 82 01 00", "08 07 8a 01 02 10 01"},
		{"prov-config", "08 06 82 01 00", attached},
		{"prov-config", "08 06 82 01 00", "08 07 8a 01 04 10 03 50 01"},
		{"prov-config", "08 0a", "08 0b aa 01 02 08 05"},
		{"prov-ctrl", "08 05", "08 06 82 01 00"},
		{"prov-ctrl", "08 07", "08 08 10 05 8a 01 00"},
	}}
	if err := ThreadSetConfig(ctx, s, unhex(t, "000300000f")); err != nil {
		t.Fatal(err)
	}
	if err := ThreadApplyConfig(ctx, s); err != nil {
		t.Fatal(err)
	}
	st, err := ThreadStatus(ctx, s)
	if err != nil || st.State != pb.ThreadNetworkState_Attaching || st.HasFailReason {
		t.Fatalf("attaching: %+v %v", st, err)
	}
	st, err = ThreadStatus(ctx, s)
	if err != nil || st.State != pb.ThreadNetworkState_Attached || st.PanID != 0xface || st.Channel != 15 || st.Name != "OT" ||
		!bytes.Equal(st.ExtPanID, unhex(t, "dead00beef00cafe")) {
		t.Fatalf("attached: %+v %v", st, err)
	}
	st, err = ThreadStatus(ctx, s)
	if err != nil || st.State != pb.ThreadNetworkState_AttachingFailed || !st.HasFailReason || st.FailReason != pb.ThreadAttachFailedReason_ThreadNetworkNotFound {
		t.Fatalf("failed: %+v %v", st, err)
	}
	if err := ThreadApplyConfig(ctx, s); !errors.Is(err, ErrApplyFailed) || !errors.Is(err, ErrDevice) {
		t.Fatalf("apply failure: %v", err)
	}
	if err := ThreadReset(ctx, s); err != nil {
		t.Fatal(err)
	}
	if err := ThreadReprov(ctx, s); !errors.Is(err, ErrDevice) {
		t.Fatalf("reprov: %v", err)
	}
	s.done()
}

func TestThreadScanBytes(t *testing.T) {
	entry := "08 cef503 10 0f 18 baffffffffffffffff01 20 c801 2a 08 0011223344556677 32 02 4f54 3a 08 dead00beef00cafe"
	s := &script{t: t, steps: []exchange{
		{"prov-scan", "08 06 82 01 02 08 01", "08 07 8a 01 00"},
		{"prov-scan", "08 08", "08 09 9a 01 04 08 01 10 02"},
		{"prov-scan", "08 0a a2 01 02 10 01", "08 0b aa 01 2e 0a 2c " + entry},
		{"prov-scan", "08 0a a2 01 04 08 01 10 01", "08 0b aa 01 2e 0a 2c " + entry},
	}}
	nets, err := ThreadScan(context.Background(), s, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(nets) != 2 {
		t.Fatalf("nets %+v", nets)
	}
	n := nets[0]
	if n.PanID != 0xface || n.Channel != 15 || n.RSSI != -70 || n.LQI != 200 || n.NetworkName != "OT" ||
		!bytes.Equal(n.ExtPanID, unhex(t, "dead00beef00cafe")) || !bytes.Equal(n.ExtAddr, unhex(t, "0011223344556677")) {
		t.Fatalf("net %+v", n)
	}
	s.done()
}

func TestReplyErrors(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		reply string
		run   func(wifiprov.Caller) error
		want  error
	}{
		{"garbage", "ff", func(c wifiprov.Caller) error { _, err := ThreadStatus(ctx, c); return err }, ErrReply},
		{"wrong type", "08 01 5a 02 10 01", func(c wifiprov.Caller) error { _, err := ThreadStatus(ctx, c); return err }, ErrReply},
		{"no status", "08 07", func(c wifiprov.Caller) error { _, err := ThreadStatus(ctx, c); return err }, ErrReply},
		{"wifi-only device", "08 09 9a 01 02 08 04", func(c wifiprov.Caller) error { return ThreadSetConfig(ctx, c, []byte{0, 3, 0, 0, 15}) }, ErrDevice},
		{"scan status", "08 07 10 04 8a 01 00", func(c wifiprov.Caller) error { _, err := ThreadScan(ctx, c, 4); return err }, ErrDevice},
		{"too many", "08 03 6a 04 08 01 10 ff 7f", nil, ErrReply},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fixed(unhex(t, tc.reply))
			run := tc.run
			if run == nil {
				run = func(wifiprov.Caller) error {
					_, err := Wifi{C: multi{unhex(t, "08 01 5a 00"), unhex(t, tc.reply)}.caller()}.Scan(ctx, wifiprov.ScanOptions{})
					return err
				}
			}
			if err := run(c); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

type fixed []byte

func (f fixed) Call(context.Context, string, []byte) ([]byte, error) { return f, nil }

type multi [][]byte

func (m multi) caller() wifiprov.Caller {
	i := 0
	return callerFunc(func() []byte { r := m[min(i, len(m)-1)]; i++; return r })
}

type callerFunc func() []byte

func (f callerFunc) Call(context.Context, string, []byte) ([]byte, error) { return f(), nil }

// FuzzReplies feeds arbitrary device replies to every decoder: none may
// panic, and a failure is always one of the package's errors.
func FuzzReplies(f *testing.F) {
	f.Add([]byte{0x08, 0x07, 0x8a, 0x01, 0x02, 0x10, 0x01})
	f.Add(unhex(f, "08 0b aa 01 2e 0a 2c 08 cef503 10 0f 18 baffffffffffffffff01 20 c801 2a 08 0011223344556677 32 02 4f54 3a 08 dead00beef00cafe"))
	f.Add(unhex(f, "08 01 5a 24 5a 22 0a 0c 3139322e3136382e312e3233 10 03 1a 06 6d7973736964 22 06 240ac4112233 28 06"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ctx := context.Background()
		c := fixed(b)
		check := func(err error) {
			if err != nil && !errors.Is(err, ErrReply) && !errors.Is(err, ErrDevice) {
				t.Fatalf("unclassified error %v", err)
			}
		}
		_, err := ThreadStatus(ctx, c)
		check(err)
		_, err = ThreadScan(ctx, c, 4)
		check(err)
		_, err = Wifi{C: c}.GetStatus(ctx)
		check(err)
		_, err = Wifi{C: c}.Scan(ctx, wifiprov.ScanOptions{})
		check(err)
		check(ThreadReset(ctx, c))
		check(ThreadApplyConfig(ctx, c))
	})
}

// A network name that is not UTF-8 (the firmware copies beacon bytes) still
// decodes: the name fields are bytes here, string in Espressif's files.
func TestThreadNameNotUTF8(t *testing.T) {
	st, err := ThreadStatus(context.Background(), fixed(unhex(t, "08 07 8a 01 08 5a 06 18 0f 22 02 ff4f")))
	if err != nil || st.Name != "\xffO" || st.Channel != 15 {
		t.Fatalf("%+v %v", st, err)
	}
}
