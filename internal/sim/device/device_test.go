package device

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/espprov/espprov/internal/wire/devicepb"
	"github.com/espprov/espprov/security"
	"github.com/espprov/espprov/security/sec0"
	"github.com/espprov/espprov/security/sec1"
	"github.com/espprov/espprov/security/sec2"
)

// fakeClock is a manually advanced clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

func mustNew(t testing.TB, c Config) *Device {
	t.Helper()
	d, err := New(c)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return d
}

// do runs one exchange and compares the response bytes with want (hex).
func do(t *testing.T, d *Device, ep, req, want string) {
	t.Helper()
	got, err := d.Handle("s1", ep, unhex(t, req))
	if err != nil {
		t.Fatalf("%s %s: %v", ep, req, err)
	}
	if w := unhex(t, want); !bytes.Equal(got, w) {
		t.Fatalf("%s %s:\n got %x\nwant %x", ep, req, got, w)
	}
}

const (
	reqGetStatus   = "52 00"
	reqSetMyssid   = "08 02 62 14 0a 06 6d7973736964 12 0a 6d7970617373776f7264"
	reqApply       = "08 04"
	respSetOK      = "08 03 6a 00"
	respApplyOK    = "08 05 7a 00"
	respApplyErr   = "08 05 7a 02 08 05"
	respConnecting = "08 01 5a 02 10 01"
	respAuthErr    = "08 01 5a 04 10 03 50 00"
	respNotFound   = "08 01 5a 04 10 03 50 01"
	respConnected  = "08 01 5a 24 5a 22 0a 0c 3139322e3136382e312e3233 10 03 1a 06 6d7973736964 22 06 240ac4112233 28 06"
)

var myAP = AP{SSID: "myssid", Passphrase: "mypassword", BSSID: [6]byte{0x24, 0x0a, 0xc4, 0x11, 0x22, 0x33}, Channel: 6, RSSI: -45, Auth: 3}

func TestProtoVerBytes(t *testing.T) {
	sec2 := "7b0a092270726f76223a097b0a090922766572223a092276312e31222c0a0909227365635f766572223a09322c0a0909227365635f70617463685f766572223a09312c0a090922636170223a095b22776966695f7363616e225d0a097d0a7d"
	tests := []struct {
		name string
		cfg  Config
		apps []AppInfo
		want string
		n    int
	}{
		{"sec2", Config{SecVer: 2, SecPatchVer: 1, SRPPassword: "x"}, nil, sec2, 95},
		{"sec1 no pop", Config{SecVer: 1}, nil,
			hex.EncodeToString([]byte("{\n\t\"prov\":\t{\n\t\t\"ver\":\t\"v1.1\",\n\t\t\"sec_ver\":\t1,\n\t\t\"sec_patch_ver\":\t0,\n\t\t\"cap\":\t[\"no_pop\", \"wifi_scan\"]\n\t}\n}")), 105},
		{"sec1 pop", Config{SecVer: 1, PoP: "abcd1234"}, nil,
			hex.EncodeToString([]byte("{\n\t\"prov\":\t{\n\t\t\"ver\":\t\"v1.1\",\n\t\t\"sec_ver\":\t1,\n\t\t\"sec_patch_ver\":\t0,\n\t\t\"cap\":\t[\"wifi_scan\"]\n\t}\n}")), 0},
		{"sec0", Config{}, nil,
			hex.EncodeToString([]byte("{\n\t\"prov\":\t{\n\t\t\"ver\":\t\"v1.1\",\n\t\t\"sec_ver\":\t0,\n\t\t\"sec_patch_ver\":\t0,\n\t\t\"cap\":\t[\"no_sec\", \"wifi_scan\"]\n\t}\n}")), 0},
		{"sec2 patch0 omits key", Config{SecVer: 2, SRPPassword: "x"}, nil,
			hex.EncodeToString([]byte("{\n\t\"prov\":\t{\n\t\t\"ver\":\t\"v1.1\",\n\t\t\"sec_ver\":\t2,\n\t\t\"cap\":\t[\"wifi_scan\"]\n\t}\n}")), 0},
		{"app info first", Config{SecVer: 2, SecPatchVer: 1, SRPPassword: "x",
			AppInfo: []AppInfo{{Label: "rmaker", Ver: "1.0", Caps: []string{"claim"}}}},
			[]AppInfo{{Label: "rmaker_extra", Ver: "1.0", Caps: []string{"ch_resp", "local_ctrl"}}, {Label: "empty", Ver: "a\"b\\\t\x01"}},
			hex.EncodeToString([]byte("{\n" +
				"\t\"rmaker\":\t{\n\t\t\"ver\":\t\"1.0\",\n\t\t\"cap\":\t[\"claim\"]\n\t},\n" +
				"\t\"rmaker_extra\":\t{\n\t\t\"ver\":\t\"1.0\",\n\t\t\"cap\":\t[\"ch_resp\", \"local_ctrl\"]\n\t},\n" +
				"\t\"empty\":\t{\n\t\t\"ver\":\t\"a\\\"b\\\\\\t\\u0001\",\n\t\t\"cap\":\t[]\n\t},\n" +
				"\t\"prov\":\t{\n\t\t\"ver\":\t\"v1.1\",\n\t\t\"sec_ver\":\t2,\n\t\t\"sec_patch_ver\":\t1,\n\t\t\"cap\":\t[\"wifi_scan\"]\n\t}\n}")), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := mustNew(t, tc.cfg)
			for _, a := range tc.apps {
				d.SetAppInfo(a.Label, a.Ver, a.Caps...)
			}
			for _, req := range []string{"none", "---", "v1.1", "x"} {
				got, err := d.Handle("s", EndpointVersion, []byte(req))
				if err != nil {
					t.Fatal(err)
				}
				if hex.EncodeToString(got) != tc.want {
					t.Fatalf("request %q:\n got %q\nwant %q", req, got, unhex(t, tc.want))
				}
				if tc.n != 0 && len(got) != tc.n {
					t.Fatalf("length %d, want %d", len(got), tc.n)
				}
			}
			if _, err := d.Handle("s", EndpointVersion, nil); !errors.Is(err, ErrEmptyRequest) {
				t.Fatalf("empty request: err = %v", err)
			}
		})
	}
}

// step is one exchange of a scripted scenario: advance the clock, send req
// (hex) to ep, expect want (hex) or, if wantErr, a transport failure.
type step struct {
	advance time.Duration
	ep      string
	req     string
	want    string
	wantErr error // non-nil: Handle must fail with an error matching it
}

var errAny = errors.New("any error")

func runScript(t *testing.T, cfg Config, clk *fakeClock, steps []step) *Device {
	t.Helper()
	if cfg.Now == nil {
		cfg.Now = clk.Now
	}
	d := mustNew(t, cfg)
	for i, s := range steps {
		clk.Advance(s.advance)
		ep := s.ep
		if ep == "" {
			ep = EndpointConfig
		}
		got, err := d.Handle("s1", ep, unhex(t, s.req))
		if s.wantErr != nil {
			if err == nil {
				t.Fatalf("step %d (%s %s): got %x, want error", i, ep, s.req, got)
			}
			if s.wantErr != errAny && !errors.Is(err, s.wantErr) {
				t.Fatalf("step %d (%s %s): err %v, want %v", i, ep, s.req, err, s.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("step %d (%s %s): %v", i, ep, s.req, err)
		}
		if w := unhex(t, s.want); !bytes.Equal(got, w) {
			t.Fatalf("step %d (%s %s):\n got %x\nwant %x", i, ep, s.req, got, w)
		}
	}
	return d
}

func TestConfigStateMachine(t *testing.T) {
	const ms = time.Millisecond
	base := Config{ConnectDelay: 10 * ms, StationIP: "192.168.1.23", APs: []AP{myAP}, CleanupDelay: 5 * ms}
	with := func(f func(*Config)) Config {
		c := base
		f(&c)
		return c
	}
	setWrongPass := "08 02 62 0f 0a 06 6d7973736964 12 05 7772 6f6e67" // passphrase "wrong"
	setOther := "08 02 62 0a 0a 08 6f746865726e6574"                   // ssid "othernet", no passphrase
	tests := []struct {
		name  string
		cfg   Config
		steps []step
	}{
		{"initial GetStatus is Connecting without oneof", base, []step{
			{req: reqGetStatus, want: respConnecting},
			{req: "08 00", want: respConnecting}, // payload optional
		}},
		{"success path and auto-stop", base, []step{
			{req: reqSetMyssid, want: respSetOK},
			{req: reqApply, want: respApplyOK},
			{req: reqGetStatus, want: respConnecting},
			{advance: 9 * ms, req: reqGetStatus, want: respConnecting},
			{advance: 1 * ms, req: reqGetStatus, want: respConnected},
			{advance: 4 * ms, req: reqGetStatus, want: respConnected},
			{advance: 1 * ms, req: reqGetStatus, wantErr: ErrStopped},
			{ep: EndpointVersion, req: "6e6f6e65", wantErr: ErrStopped},
		}},
		{"auto-stop without GetStatus after timeout", with(func(c *Config) { c.AutoStopTimeout = 50 * ms }), []step{
			{req: reqSetMyssid, want: respSetOK},
			{req: reqApply, want: respApplyOK},
			{advance: 59 * ms, ep: EndpointVersion, req: "2d2d2d", want: hex.EncodeToString(protoVerJSON(nil, provMgrVersion, 0, 0, true, []string{"wifi_scan"}))},
			{advance: 1 * ms, req: reqGetStatus, wantErr: ErrStopped},
		}},
		{"no auto-stop keeps answering; reprov allowed", with(func(c *Config) { c.NoAutoStop = true }), []step{
			{req: reqSetMyssid, want: respSetOK},
			{req: reqApply, want: respApplyOK},
			{advance: 10 * ms, req: reqGetStatus, want: respConnected},
			{advance: time.Hour, req: reqGetStatus, want: respConnected},
			{ep: EndpointCtrl, req: "08 03", want: "08 04 72 00"},
			{req: reqGetStatus, want: respConnecting},
			{req: reqSetMyssid, want: respSetOK},
			{req: reqApply, want: respApplyOK},
			{advance: 10 * ms, req: reqGetStatus, want: respConnected},
		}},
		{"reprov refused with auto-stop", base, []step{
			{ep: EndpointCtrl, req: "08 03", want: "08 04 10 05 72 00"},
		}},
		{"apply without pending", base, []step{
			{req: reqApply, want: respApplyErr},
		}},
		{"apply once", base, []step{
			{req: reqSetMyssid, want: respSetOK},
			{req: reqApply, want: respApplyOK},
			{req: reqApply, want: respApplyErr}, // pending was cleared
			{req: reqSetMyssid, want: respSetOK},
			{req: reqApply, want: respApplyErr}, // already applied
			{req: reqApply, want: respApplyErr}, // pending cleared again
		}},
		{"wrong passphrase: AuthError", base, []step{
			{req: setWrongPass, want: respSetOK},
			{req: reqApply, want: respApplyOK},
			{advance: 9 * ms, req: reqGetStatus, want: respConnecting},
			{advance: 1 * ms, req: reqGetStatus, want: respAuthErr},
			{ep: EndpointCtrl, req: "08 01", want: "08 02 62 00"},
			{req: reqGetStatus, want: respConnecting},
			{req: reqSetMyssid, want: respSetOK},
			{req: reqApply, want: respApplyOK},
			{advance: 10 * ms, req: reqGetStatus, want: respConnected},
		}},
		{"unknown SSID: NetworkNotFound", base, []step{
			{req: setOther, want: respSetOK},
			{req: reqApply, want: respApplyOK},
			{advance: 10 * ms, req: reqGetStatus, want: respNotFound},
		}},
		{"open network needs empty passphrase", with(func(c *Config) { c.APs = []AP{{SSID: "othernet", Channel: 1, RSSI: -50}} }), []step{
			{req: setOther, want: respSetOK},
			{req: reqApply, want: respApplyOK},
			{advance: 10 * ms, req: reqGetStatus, want: "08 01 5a 24 5a 22 0a 0c 3139322e3136382e312e3233 1a 08 6f746865726e6574 22 06" +
				hex.EncodeToString(mustNew(t, Config{APs: []AP{{SSID: "othernet"}}}).cfg.APs[0].BSSID[:]) + " 28 01"},
		}},
		{"attempts: attempt_failed then Failed", with(func(c *Config) { c.WifiConnAttempts = 3 }), []step{
			{req: setWrongPass, want: respSetOK},
			{req: reqApply, want: respApplyOK},
			{advance: 5 * ms, req: reqGetStatus, want: respConnecting},
			{advance: 5 * ms, req: reqGetStatus, want: "08 01 5a 06 10 01 62 02 08 02"},
			{advance: 10 * ms, req: reqGetStatus, want: "08 01 5a 06 10 01 62 02 08 01"},
			{advance: 10 * ms, req: reqGetStatus, want: respAuthErr},
			{advance: time.Hour, req: reqGetStatus, want: respAuthErr},
		}},
		{"attempts: success on first attempt", with(func(c *Config) { c.WifiConnAttempts = 3 }), []step{
			{req: reqSetMyssid, want: respSetOK},
			{req: reqApply, want: respApplyOK},
			{advance: 10 * ms, req: reqGetStatus, want: respConnected},
		}},
		{"ctrl reset refused unless failed", base, []step{
			{ep: EndpointCtrl, req: "08 01", want: "08 02 10 05 62 00"},
			{req: reqSetMyssid, want: respSetOK},
			{req: reqApply, want: respApplyOK},
			{ep: EndpointCtrl, req: "08 01", want: "08 02 10 05 62 00"},
			{advance: 10 * ms, ep: EndpointCtrl, req: "08 01", want: "08 02 10 05 62 00"},
		}},
		{"SetConfig validation", base, []step{
			{req: "08 02 62 0d 0a 06 6d7973736964 1a 03 010203", want: "08 03 6a 02 08 04"},                              // bssid 3 bytes
			{req: "08 02 62 23 0a 21 " + strings.Repeat("61", 33), want: "08 03 6a 02 08 04"},                            // ssid 33
			{req: "08 02 62 46 0a 02 6162 12 40 " + strings.Repeat("61", 64), want: "08 03 6a 02 08 04"},                 // passphrase 64
			{req: reqApply, want: respApplyErr},                                                                          // nothing pending
			{req: "08 02 62 27 0a 20 " + strings.Repeat("61", 32) + " 12 03 616263", want: respSetOK},                    // ssid 32 ok
			{req: "08 02 62 1e 0a 06 6d7973736964 12 0a 6d7970617373776f7264 1a 06 010203040506 20 0b", want: respSetOK}, // bssid/channel ignored
			{req: reqApply, want: respApplyOK},
			{advance: 10 * ms, req: reqGetStatus, want: respConnected},
		}},
		{"SSID and passphrase cut at NUL", base, []step{
			{req: "08 02 62 18 0a 08 6d7973736964 0062 12 0c 6d7970617373776f7264 0000", want: respSetOK},
			{req: reqApply, want: respApplyOK},
			{advance: 10 * ms, req: reqGetStatus, want: respConnected},
		}},
		{"transport failures", base, []step{
			{req: "08 02", wantErr: errBadMsg}, // SetConfig without cmd_set_config
			{req: "08 07", wantErr: errBadMsg}, // unknown msg
			{req: "ff ff ff", wantErr: errAny}, // not protobuf
			{ep: EndpointScan, req: "08 00", wantErr: errBadMsg},
			{ep: EndpointScan, req: "08 04", wantErr: errBadMsg},
			{ep: EndpointScan, req: "08 06", wantErr: errBadMsg},
			{ep: EndpointCtrl, req: "08 00", wantErr: errBadMsg},
			{ep: EndpointCtrl, req: "08 05", wantErr: errBadMsg},
			{ep: "nope", req: "00", wantErr: ErrUnknownEndpoint},
			{req: "", wantErr: ErrEmptyRequest},
			{req: reqGetStatus, want: respConnecting}, // still alive
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			runScript(t, tc.cfg, newClock(), tc.steps)
		})
	}
}

func TestScan(t *testing.T) {
	five := []AP{
		{SSID: "a", RSSI: -40, Channel: 1},
		myAP,
		{SSID: "b", RSSI: -30, Channel: 11, Passphrase: "12345678", Auth: 7},
		{SSID: "c", RSSI: -44, Channel: 3},
		{SSID: "d", RSSI: -35, Channel: 9, Auth: 16, Passphrase: "x"},
	}
	clk := newClock()
	d := runScript(t, Config{APs: five}, clk, []step{
		{ep: EndpointScan, req: "08 02", want: "08 03 6a 00"}, // no scan yet
		{ep: EndpointScan, req: "08 04 72 00", want: "08 05 7a 00"},
		{ep: EndpointScan, req: "08 04 72 02 10 01", want: "08 05 10 05 7a 00"},
		{ep: EndpointScan, req: "52 04 08 01 20 78", want: "08 01 5a 00"},
		{ep: EndpointScan, req: "52 06 08 01 18 05 20 78", want: "08 01 5a 00"},
		{ep: EndpointScan, req: "08 02", want: "08 03 6a 04 08 01 10 05"},
		{ep: EndpointScan, req: "08 04 72 04 08 04 10 01", want: "08 05 7a 21 0a 1f 0a 06 6d7973736964 10 06 18 d3ffffffffffffffff01 22 06 240ac4112233 28 03"},
		{ep: EndpointScan, req: "08 04 72 04 08 05 10 01", want: "08 05 10 05 7a 00"},
		{ep: EndpointScan, req: "08 04 72 04 08 04 10 02", want: "08 05 10 05 7a 00"},
	})
	// Order: RSSI descending.
	out, err := d.Handle("s1", EndpointScan, unhex(t, "08 04 72 02 10 05"))
	if err != nil {
		t.Fatal(err)
	}
	var p pb.WiFiScanPayload
	if err := proto.Unmarshal(out, &p); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range p.GetRespScanResult().GetEntries() {
		got = append(got, fmt.Sprintf("%s/%d/%d/%d", e.GetSsid(), e.GetRssi(), e.GetChannel(), e.GetAuth()))
	}
	if want := "b/-30/11/7 d/-35/9/16 a/-40/1/0 c/-44/3/0 myssid/-45/6/3"; strings.Join(got, " ") != want {
		t.Fatalf("entries %q, want %q", got, want)
	}

	t.Run("cap and non-blocking duration", func(t *testing.T) {
		var many []AP
		for i := range 20 {
			many = append(many, AP{SSID: fmt.Sprintf("n%02d", i), RSSI: -90 + i})
		}
		clk := newClock()
		d := runScript(t, Config{APs: many, ScanDuration: time.Second}, clk, []step{
			{ep: EndpointScan, req: "52 00", want: "08 01 5a 00"}, // non-blocking
			{ep: EndpointScan, req: "08 02", want: "08 03 6a 00"}, // running
			{ep: EndpointScan, req: "52 00", want: "08 01 5a 00"}, // already running
			{advance: time.Second, ep: EndpointScan, req: "08 02", want: "08 03 6a 04 08 01 10 10"},
		})
		out, err := d.Handle("s1", EndpointScan, unhex(t, "08 04 72 02 10 01"))
		if err != nil {
			t.Fatal(err)
		}
		var p pb.WiFiScanPayload
		if err := proto.Unmarshal(out, &p); err != nil || string(p.GetRespScanResult().GetEntries()[0].GetSsid()) != "n19" {
			t.Fatalf("first entry %v err %v", p.GetRespScanResult().GetEntries(), err)
		}
		cfg := mustNew(t, Config{ScanMaxEntries: 3, APs: many})
		out, err = cfg.Handle("s", EndpointScan, unhex(t, "52 02 08 01"))
		if err != nil {
			t.Fatal(err)
		}
		out, err = cfg.Handle("s", EndpointScan, unhex(t, "08 02"))
		if err != nil || !bytes.Equal(out, unhex(t, "08 03 6a 04 08 01 10 03")) {
			t.Fatalf("ScanMaxEntries 3: %x %v", out, err)
		}
	})

	t.Run("scan only before apply", func(t *testing.T) {
		runScript(t, Config{APs: five, NoAutoStop: true}, newClock(), []step{
			{req: reqSetMyssid, want: respSetOK},
			{ep: EndpointScan, req: "52 02 08 01", want: "08 01 5a 00"}, // pending only: still started
			{req: reqApply, want: respApplyOK},
			{ep: EndpointScan, req: "52 02 08 01", wantErr: errAny}, // blocking never answers
			{ep: EndpointScan, req: "08 02", want: "08 03 6a 00"},
			{ep: EndpointScan, req: "52 00", want: "08 01 5a 00"},
			{advance: time.Minute, ep: EndpointScan, req: "08 02", want: "08 03 6a 00"},
		})
	})
}

func TestNewValidation(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"sec ver", Config{SecVer: 3}, "security version 3"},
		{"patch ver", Config{SecVer: 2, SecPatchVer: 2, SRPPassword: "x"}, "patch version 2"},
		{"patch ver sec1", Config{SecVer: 1, SecPatchVer: 1}, "Security 2 only"},
		{"pop on sec2", Config{SecVer: 2, PoP: "p", SRPPassword: "x"}, "Security 1 only"},
		{"pop on sec0", Config{PoP: "p"}, "Security 1 only"},
		{"srp on sec1", Config{SecVer: 1, SRPPassword: "x"}, "Security 2 only"},
		{"sec2 no password", Config{SecVer: 2}, "SRP password"},
		{"salt zero", Config{SecVer: 2, SRPPassword: "x", SRPSalt: []byte{0, 1}}, "zero byte"},
		{"ssid empty", Config{APs: []AP{{}}}, "SSID must be"},
		{"ssid long", Config{APs: []AP{{SSID: strings.Repeat("a", 33)}}}, "SSID must be"},
		{"pass long", Config{APs: []AP{{SSID: "a", Passphrase: strings.Repeat("a", 64)}}}, "passphrase"},
		{"channel", Config{APs: []AP{{SSID: "a", Channel: 15}}}, "channel 15"},
		{"rssi", Config{APs: []AP{{SSID: "a", RSSI: 3}}}, "RSSI 3"},
		{"auth", Config{APs: []AP{{SSID: "a", Auth: 17}}}, "auth mode 17"},
		{"ip", Config{StationIP: "::1"}, "IPv4"},
		{"attempts", Config{WifiConnAttempts: -1}, "negative"},
		{"delay", Config{ConnectDelay: -1}, "negative delay"},
		{"name", Config{Name: strings.Repeat("n", 33)}, "longer than 32"},
		{"app prov", Config{AppInfo: []AppInfo{{Label: "prov"}}}, "reserved"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want containing %q", err, tc.want)
			}
		})
	}
	t.Run("secrets not in errors", func(t *testing.T) {
		_, err := New(Config{PoP: "s3cretpop"})
		if err == nil || strings.Contains(err.Error(), "s3cretpop") {
			t.Fatalf("err = %v", err)
		}
		_, err = New(Config{APs: []AP{{SSID: "a", Passphrase: strings.Repeat("z", 64)}}})
		if err == nil || strings.Contains(err.Error(), "zzzz") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestDefaults(t *testing.T) {
	d := mustNew(t, Config{MAC: [6]byte{0x24, 0x0a, 0xc4, 0x1a, 0x2b, 0x3c}})
	c := d.Config()
	if c.Name != "PROV_1A2B3C" || c.NodeID != "240AC41A2B3C" || c.StationIP != "192.168.1.62" ||
		c.ConnectDelay != time.Second || c.CleanupDelay != time.Second || c.ScanMaxEntries != 16 {
		t.Fatalf("defaults: %+v", c)
	}
	r := mustNew(t, Config{})
	if rc := r.Config(); !strings.HasPrefix(rc.Name, "PROV_") || len(rc.Name) != 11 || rc.MAC[0]&3 != 2 {
		t.Fatalf("random identity %q %x", rc.Name, rc.MAC)
	}
	if got := d.Endpoints(); strings.Join(got, ",") != "prov-ctrl,prov-scan,prov-session,prov-config,proto-ver" {
		t.Fatalf("endpoints %v", got)
	}
}

func TestSecretsHidden(t *testing.T) {
	clk := newClock()
	cfg := Config{SecVer: 1, PoP: "popsecret", APs: []AP{{SSID: "net", Passphrase: "wifisecret"}}, Now: clk.Now, ConnectDelay: time.Millisecond}
	d := mustNew(t, cfg)
	for _, s := range []string{fmt.Sprint(cfg), fmt.Sprint(d.Config()), d.Wifi().String(), fmt.Sprint(cfg.APs[0]), fmt.Sprintf("%v", d.Wifi())} {
		if strings.Contains(s, "popsecret") || strings.Contains(s, "wifisecret") {
			t.Fatalf("secret leaked: %s", s)
		}
	}
}

func TestWifiStatus(t *testing.T) {
	clk := newClock()
	d := runScript(t, Config{APs: []AP{myAP}, ConnectDelay: time.Second, WifiConnAttempts: 2, StationIP: "10.0.0.7"}, clk, []step{
		{req: reqSetMyssid, want: respSetOK},
	})
	if w := d.Wifi(); w.State != WifiIdle || !w.Pending || w.SSID != "" {
		t.Fatalf("after set: %v", w)
	}
	do(t, d, EndpointConfig, reqApply, respApplyOK)
	if w := d.Wifi(); w.State != WifiConnecting || w.SSID != "myssid" || w.Pending {
		t.Fatalf("after apply: %v", w)
	}
	clk.Advance(time.Second)
	w := d.Wifi()
	if w.State != WifiConnected || w.IP != "10.0.0.7" || w.Stopped {
		t.Fatalf("connected: %v", w)
	}
	if s := w.String(); s != `wifi{connected ssid="myssid" ip=10.0.0.7}` || strings.Contains(s, "mypassword") {
		t.Fatalf("String %q", s)
	}
	clk.Advance(DefaultAutoStopTimeout)
	if w := d.Wifi(); !w.Stopped {
		t.Fatalf("not stopped: %v", w)
	}
	d.Reset()
	if w := d.Wifi(); w.State != WifiIdle || w.Stopped || w.SSID != "" {
		t.Fatalf("after reset: %v", w)
	}
	do(t, d, EndpointConfig, reqGetStatus, respConnecting)
	if st := d.Stats(); st.Exchanges[EndpointConfig] != 1 || st.SessionsOpened != 1 {
		t.Fatalf("stats after reset %+v", st)
	}
}

func TestAppEndpoints(t *testing.T) {
	d := mustNew(t, Config{})
	var got [][]byte
	var mu sync.Mutex
	if err := d.RegisterEndpoint("custom-data", func(req []byte) ([]byte, error) {
		mu.Lock()
		got = append(got, bytes.Clone(req))
		mu.Unlock()
		_ = d.Wifi() // handlers may look at the device
		return []byte("SUCCESS\x00"), nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := d.RegisterEndpoint("fail", func([]byte) ([]byte, error) { return nil, errors.New("boom") }); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"custom-data", "prov-config", ""} {
		if err := d.RegisterEndpoint(name, func([]byte) ([]byte, error) { return nil, nil }); err == nil {
			t.Fatalf("duplicate/empty %q accepted", name)
		}
	}
	if eps := strings.Join(d.Endpoints(), ","); eps != "prov-ctrl,prov-scan,prov-session,prov-config,proto-ver,custom-data,fail" {
		t.Fatalf("endpoints %s", eps)
	}
	out, err := d.Handle("s", "custom-data", []byte("hello"))
	if err != nil || string(out) != "SUCCESS\x00" || string(got[0]) != "hello" {
		t.Fatalf("custom-data: %q %v %q", out, err, got)
	}
	if _, err := d.Handle("s", "fail", []byte("x")); err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("failing handler: %v", err)
	}
	st := d.Stats()
	if st.Exchanges["custom-data"] != 1 || st.Exchanges["fail"] != 1 || st.Failures != 1 {
		t.Fatalf("stats %+v", st)
	}
}

// xorHS is a test-local two-step handshaker: "hello" → "hi", "proof:<k>" →
// "ok" when k matches (else ErrRejected); then a XOR cipher with k.
type xorHS struct {
	key   byte
	state int
}

func (h *xorHS) Step(in []byte) ([]byte, bool, error) {
	switch {
	case string(in) == "hello":
		h.state = 1
		return []byte("hi"), false, nil
	case h.state == 1 && len(in) == 7 && string(in[:6]) == "proof:":
		if in[6] != h.key {
			h.state = 0
			return nil, false, security.ErrRejected
		}
		h.state = 2
		return []byte("ok"), true, nil
	}
	return nil, false, security.ErrProtocol
}

type xorCipher byte

func (k xorCipher) Encrypt(p []byte) ([]byte, error) {
	out := make([]byte, len(p))
	for i := range p {
		out[i] = p[i] ^ byte(k)
	}
	return out, nil
}
func (k xorCipher) Decrypt(p []byte) ([]byte, error) { return k.Encrypt(p) }

func (h *xorHS) Cipher() security.Cipher { return xorCipher(h.key) }

func TestSessions(t *testing.T) {
	const key = 0x5a
	d := mustNew(t, Config{SecVer: 1, NewHandshaker: func() (security.Handshaker, error) { return &xorHS{key: key}, nil }})
	enc := func(b []byte) []byte { out, _ := xorCipher(key).Encrypt(b); return out }
	getStatus := unhex(t, reqGetStatus)

	if _, err := d.Handle("a", EndpointConfig, enc(getStatus)); !errors.Is(err, ErrNoSession) || !errors.Is(err, security.ErrNotEstablished) {
		t.Fatalf("before handshake: %v", err)
	}
	hs := func(sess string, proof byte) error {
		if out, err := d.Handle(sess, EndpointSession, []byte("hello")); err != nil || string(out) != "hi" {
			return fmt.Errorf("step0: %q %w", out, err)
		}
		out, err := d.Handle(sess, EndpointSession, []byte{'p', 'r', 'o', 'o', 'f', ':', proof})
		if err != nil {
			return err
		}
		if string(out) != "ok" {
			return fmt.Errorf("step1: %q", out)
		}
		return nil
	}
	if err := hs("a", 1); !errors.Is(err, security.ErrRejected) {
		t.Fatalf("wrong proof: %v", err)
	}
	if _, err := d.Handle("a", EndpointConfig, enc(getStatus)); !errors.Is(err, ErrNoSession) {
		t.Fatalf("after rejected proof: %v", err)
	}
	if err := hs("a", key); err != nil {
		t.Fatal(err)
	}
	out, err := d.Handle("a", EndpointConfig, enc(getStatus))
	if err != nil || !bytes.Equal(out, enc(unhex(t, respConnecting))) {
		t.Fatalf("encrypted GetStatus: %x %v", out, err)
	}
	// A different transport session discards the keys.
	if _, err := d.Handle("b", EndpointConfig, enc(getStatus)); !errors.Is(err, ErrNoSession) {
		t.Fatalf("new session: %v", err)
	}
	if err := hs("b", key); err != nil {
		t.Fatal(err)
	}
	// Restarting the handshake in the same session drops the established state.
	if out, err := d.Handle("b", EndpointSession, []byte("hello")); err != nil || string(out) != "hi" {
		t.Fatalf("restart: %q %v", out, err)
	}
	if _, err := d.Handle("b", EndpointConfig, enc(getStatus)); !errors.Is(err, ErrNoSession) {
		t.Fatalf("after restart: %v", err)
	}
	if _, err := d.Handle("b", EndpointSession, []byte("garbage")); !errors.Is(err, security.ErrProtocol) {
		t.Fatalf("garbage: %v", err)
	}
	if err := hs("b", key); err != nil {
		t.Fatal(err)
	}
	d.CloseSession("other") // not current: no effect
	if _, err := d.Handle("b", EndpointConfig, enc(getStatus)); err != nil {
		t.Fatal(err)
	}
	d.CloseSession("b")
	if _, err := d.Handle("b", EndpointConfig, enc(getStatus)); !errors.Is(err, ErrNoSession) {
		t.Fatalf("after CloseSession: %v", err)
	}
	// proto-ver never needs the session.
	if _, err := d.Handle("c", EndpointVersion, []byte("none")); err != nil {
		t.Fatal(err)
	}
	st := d.Stats()
	if st.SessionsOpened != 4 || st.HandshakesCompleted != 3 || st.RejectedProofs != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSec0Session(t *testing.T) {
	d := mustNew(t, Config{})
	c := sec0.NewClient()
	in := []byte(nil)
	for {
		out, done, err := c.Step(in)
		if err != nil {
			t.Fatal(err)
		}
		if done {
			break
		}
		in, err = d.Handle("s", EndpointSession, out)
		if err != nil {
			t.Fatal(err)
		}
	}
	do(t, d, EndpointConfig, reqGetStatus, respConnecting)
	// Security 1 request on a Security 0 device fails the exchange.
	bad, _ := proto.Marshal(&pb.SessionData{SecVer: pb.SecSchemeVersion_SecScheme1, Proto: &pb.SessionData_Sec1{Sec1: &pb.Sec1Payload{Payload: &pb.Sec1Payload_Sc0{Sc0: &pb.SessionCmd0{ClientPubkey: make([]byte, 32)}}}}})
	if _, err := d.Handle("s", EndpointSession, bad); err == nil {
		t.Fatal("sec1 request accepted by sec0 device")
	}
	if st := d.Stats(); st.HandshakesCompleted != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestConcurrent(t *testing.T) {
	d := mustNew(t, Config{APs: []AP{myAP}, ConnectDelay: time.Microsecond, NoAutoStop: true, StationIP: "192.168.1.23"})
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sess := fmt.Sprint("s", g%3)
			for i := range 50 {
				var ep, req string
				switch i % 5 {
				case 0:
					ep, req = EndpointVersion, "6e6f6e65"
				case 1:
					ep, req = EndpointConfig, reqSetMyssid
				case 2:
					ep, req = EndpointConfig, reqApply
				case 3:
					ep, req = EndpointScan, "52 02 20 78" // non-blocking: a blocking scan after apply fails
				case 4:
					ep, req = EndpointConfig, reqGetStatus
				}
				if _, err := d.Handle(sess, ep, unhex(t, req)); err != nil {
					errs <- err
					return
				}
				_ = d.Stats()
				_ = d.Wifi()
				if i == 25 && g == 0 {
					d.SetAppInfo("x", "1")
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if st := d.Stats(); st.Exchanges[EndpointVersion] != 160 || st.Exchanges[EndpointConfig] != 480 {
		t.Fatalf("stats %+v", st)
	}
	if w := d.Wifi(); w.State != WifiConnected {
		t.Fatalf("wifi %v", w)
	}
}

// handshake runs client against d on session sess.
func handshake(d *Device, sess string, c security.Handshaker) error {
	var in []byte
	for i := 0; i < 10; i++ {
		out, done, err := c.Step(in)
		if err != nil {
			return fmt.Errorf("client step %d: %w", i, err)
		}
		if done {
			return nil
		}
		in, err = d.Handle(sess, EndpointSession, out)
		if err != nil {
			return fmt.Errorf("device step %d: %w", i, err)
		}
	}
	return errors.New("handshake did not finish")
}

// roundTrip encrypts req with the client cipher, runs it and decrypts.
func roundTrip(d *Device, sess, ep string, c security.Cipher, req []byte) ([]byte, error) {
	ct, err := c.Encrypt(req)
	if err != nil {
		return nil, err
	}
	out, err := d.Handle(sess, ep, ct)
	if err != nil {
		return nil, err
	}
	return c.Decrypt(out)
}

func TestSec1Session(t *testing.T) {
	for _, pop := range []string{"", "abcd1234"} {
		t.Run("pop="+pop, func(t *testing.T) {
			clk := newClock()
			d := mustNew(t, Config{SecVer: 1, PoP: pop, APs: []AP{myAP}, StationIP: "192.168.1.23", Now: clk.Now})
			if err := handshake(d, "s", sec1.NewClient([]byte(pop+"x"))); !errors.Is(err, security.ErrRejected) {
				t.Fatalf("wrong pop: %v", err)
			}
			c := sec1.NewClient([]byte(pop))
			if err := handshake(d, "s", c); err != nil {
				t.Fatal(err)
			}
			for _, s := range []struct{ req, want string }{
				{reqGetStatus, respConnecting},
				{reqSetMyssid, respSetOK},
				{reqApply, respApplyOK},
			} {
				got, err := roundTrip(d, "s", EndpointConfig, c.Cipher(), unhex(t, s.req))
				if err != nil || !bytes.Equal(got, unhex(t, s.want)) {
					t.Fatalf("%s: %x %v", s.req, got, err)
				}
			}
			clk.Advance(time.Second)
			got, err := roundTrip(d, "s", EndpointConfig, c.Cipher(), unhex(t, reqGetStatus))
			if err != nil || !bytes.Equal(got, unhex(t, respConnected)) {
				t.Fatalf("connected: %x %v", got, err)
			}
			st := d.Stats()
			if st.HandshakesCompleted != 1 || st.RejectedProofs != 1 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

func TestSec2Session(t *testing.T) {
	for _, patch := range []int{0, 1} {
		t.Run(fmt.Sprint("patch", patch), func(t *testing.T) {
			clk := newClock()
			d := mustNew(t, Config{SecVer: 2, SecPatchVer: patch, SRPPassword: "abcd1234", APs: []AP{myAP},
				StationIP: "192.168.1.23", Now: clk.Now, ConnectDelay: time.Millisecond})
			if err := handshake(d, "s", sec2.NewClient("wifiprov", "wrong")); !errors.Is(err, security.ErrRejected) {
				t.Fatalf("wrong password: %v", err)
			}
			if err := handshake(d, "s", sec2.NewClient("other", "abcd1234")); !errors.Is(err, security.ErrRejected) {
				t.Fatalf("wrong username: %v", err)
			}
			c := sec2.NewClient("wifiprov", "abcd1234")
			if err := handshake(d, "s", c); err != nil {
				t.Fatal(err)
			}
			for _, s := range []struct{ ep, req, want string }{
				{EndpointScan, "52 04 08 01 20 78", "08 01 5a 00"},
				{EndpointScan, "08 02", "08 03 6a 04 08 01 10 01"},
				{EndpointConfig, reqSetMyssid, respSetOK},
				{EndpointConfig, reqApply, respApplyOK},
			} {
				got, err := roundTrip(d, "s", s.ep, c.Cipher(), unhex(t, s.req))
				if err != nil || !bytes.Equal(got, unhex(t, s.want)) {
					t.Fatalf("%s: %x %v", s.req, got, err)
				}
			}
			clk.Advance(time.Millisecond)
			got, err := roundTrip(d, "s", EndpointConfig, c.Cipher(), unhex(t, reqGetStatus))
			if err != nil || !bytes.Equal(got, unhex(t, respConnected)) {
				t.Fatalf("connected: %x %v", got, err)
			}
			// A tampered request fails the exchange.
			ct, _ := c.Cipher().Encrypt(unhex(t, reqGetStatus))
			ct[0] ^= 1
			if _, err := d.Handle("s", EndpointConfig, ct); err == nil {
				t.Fatal("tampered request accepted")
			}
			if st := d.Stats(); st.HandshakesCompleted != 1 || st.RejectedProofs != 2 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
	t.Run("published salt", func(t *testing.T) {
		salt := unhex(t, "036ee0c7bcb9eda84c9eac97d93decf4")
		d := mustNew(t, Config{SecVer: 2, SecPatchVer: 1, SRPPassword: "abcd1234", SRPSalt: salt})
		if !bytes.Equal(d.salt, salt) || hex.EncodeToString(d.verifier[:16]) != "7c7c85476508946dd636af37d7e89143" {
			t.Fatalf("salt %x verifier %x…", d.salt, d.verifier[:16])
		}
		if err := handshake(d, "s", sec2.NewClient("wifiprov", "abcd1234")); err != nil {
			t.Fatal(err)
		}
	})
}

func TestStrings(t *testing.T) {
	var b strings.Builder
	printCJSONString(&b, "q\"\\\b\f\n\r\t\x1fé")
	if got := b.String(); got != `"q\"\\\b\f\n\r\t\u001fé"` {
		t.Fatalf("escaped %s", got)
	}
	clk := newClock()
	d := runScript(t, Config{APs: []AP{myAP}, ConnectDelay: time.Second, WifiConnAttempts: 2}, clk, []step{
		{req: "08 02 62 0f 0a 06 6d7973736964 12 05 77726f6e67", want: respSetOK},
		{req: reqApply, want: respApplyOK},
	})
	clk.Advance(time.Second)
	if s := d.Wifi().String(); s != `wifi{connecting ssid="myssid" failed_attempts=1}` {
		t.Fatalf("%s", s)
	}
	clk.Advance(time.Second)
	if s := d.Wifi().String(); s != `wifi{failed ssid="myssid" reason=auth-error failed_attempts=2}` {
		t.Fatalf("%s", s)
	}
	if s := (WifiStatus{Pending: true, Stopped: true}).String(); s != "wifi{idle pending stopped}" {
		t.Fatalf("%s", s)
	}
	if WifiState(9).String() != "WifiState(9)" || FailNetworkNotFound.String() != "network-not-found" || FailReason(7).String() != "FailReason(7)" {
		t.Fatal("enum strings")
	}
	if d.Name() != d.Config().Name {
		t.Fatal("Name")
	}
}

// FuzzHandle checks that arbitrary requests never panic the device and that
// it keeps answering afterwards.
func FuzzHandle(f *testing.F) {
	for _, s := range []string{reqGetStatus, reqSetMyssid, reqApply, "52 04 08 01 20 78", "08 04 72 02 10 04", "08 01", "08 03", "a2 01 00"} {
		f.Add(uint8(0), unhex(f, s))
	}
	f.Fuzz(func(t *testing.T, ep uint8, req []byte) {
		d := mustNew(t, Config{APs: []AP{myAP}, ConnectDelay: time.Nanosecond, NoAutoStop: true})
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

func BenchmarkHandleGetStatus(b *testing.B) {
	d := mustNew(b, Config{})
	req := unhex(b, reqGetStatus)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := d.Handle("s", EndpointConfig, req); err != nil {
			b.Fatal(err)
		}
	}
}
