package protocomm

import (
	"encoding/hex"
	"reflect"
	"testing"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The 95-byte Security 2 reply of protocol.md §3.1.
const sec2VersionHex = "7b0a092270726f76223a097b0a090922766572223a092276312e31222c0a0909227365635f766572223a09322c0a0909227365635f70617463685f766572223a09312c0a090922636170223a095b22776966695f7363616e225d0a097d0a7d"

func TestParseVersion(t *testing.T) {
	tests := []struct {
		name  string
		in    []byte
		want  Version
		apps  map[string]App
		order []string
	}{
		{"sec2 firmware bytes", mustHex(t, sec2VersionHex), Version{JSON: true, HasProv: true, Ver: "v1.1", SecVer: 2, SecPatchVer: 1, Caps: []string{"wifi_scan"}}, map[string]App{}, nil},
		{"sec1 no pop", []byte("{\n\t\"prov\":\t{\n\t\t\"ver\":\t\"v1.1\",\n\t\t\"sec_ver\":\t1,\n\t\t\"sec_patch_ver\":\t0,\n\t\t\"cap\":\t[\"no_pop\", \"wifi_scan\"]\n\t}\n}"),
			Version{JSON: true, HasProv: true, Ver: "v1.1", SecVer: 1, Caps: []string{"no_pop", "wifi_scan"}}, map[string]App{}, nil},
		{"pre-5.0: no sec_ver", []byte(`{"prov":{"ver":"v1.1","cap":["no_sec","wifi_scan"]}}`),
			Version{JSON: true, HasProv: true, Ver: "v1.1", SecVer: -1, Caps: []string{"no_sec", "wifi_scan"}}, map[string]App{}, nil},
		{"rainmaker apps before prov", []byte(`{"rmaker":{"ver":"1.0","cap":["claim"]},"rmaker_extra":{"ver":"1.0","cap":["ch_resp","local_ctrl"]},"prov":{"ver":"v1.1","sec_ver":2,"cap":["wifi_scan"]}}`),
			Version{JSON: true, HasProv: true, Ver: "v1.1", SecVer: 2, Caps: []string{"wifi_scan"}},
			map[string]App{"rmaker": {"1.0", []string{"claim"}}, "rmaker_extra": {"1.0", []string{"ch_resp", "local_ctrl"}}}, []string{"rmaker", "rmaker_extra"}},
		{"legacy plain string", []byte("V0.1"), Version{Ver: "V0.1", SecVer: -1}, nil, nil},
		{"json without prov.cap", []byte(`{"prov":{"ver":"v1.1"}}`), Version{JSON: true, Ver: "v1.1", SecVer: -1}, map[string]App{}, nil},
		{"wrong types are ignored", []byte(`{"prov":{"ver":3,"sec_ver":"2","sec_patch_ver":1.5,"cap":"wifi_scan"}}`), Version{JSON: true, SecVer: -1}, map[string]App{}, nil},
		{"truncated json", []byte(`{"prov":{"ver":"v1`), Version{Ver: `{"prov":{"ver":"v1`, SecVer: -1}, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseVersion(tc.in)
			if err != nil {
				t.Fatalf("ParseVersion: %v", err)
			}
			if string(got.Raw) != string(tc.in) {
				t.Errorf("Raw not kept")
			}
			tc.want.Raw = got.Raw
			tc.want.Apps, tc.want.AppOrder = tc.apps, tc.order
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %#v\nwant %#v", got, tc.want)
			}
		})
	}
	if _, err := ParseVersion(nil); err == nil {
		t.Error("empty reply accepted")
	}
}

func TestSelectScheme(t *testing.T) {
	v := func(s string) Version { x, _ := ParseVersion([]byte(s)); return x }
	tests := []struct {
		name      string
		v         Version
		requested Scheme
		want      Scheme
		source    string
		wantErr   bool
	}{
		{"explicit wins", v(`{"prov":{"sec_ver":2,"cap":[]}}`), Scheme1, Scheme1, SourceRequested, false},
		{"sec_ver 2 picked (reference CLI cannot)", v(`{"prov":{"sec_ver":2,"cap":["wifi_scan"]}}`), Auto, Scheme2, SourceSecVer, false},
		{"sec_ver 0", v(`{"prov":{"sec_ver":0,"cap":["no_sec"]}}`), Auto, Scheme0, SourceSecVer, false},
		{"old firmware no_sec", v(`{"prov":{"cap":["no_sec","wifi_scan"]}}`), Auto, Scheme0, SourceNoSec, false},
		{"old firmware sec1", v(`{"prov":{"cap":["wifi_scan"]}}`), Auto, Scheme1, SourceNoSec, false},
		{"json without cap (D12)", v(`{"prov":{}}`), Auto, Scheme1, SourceDefault, false},
		{"plain string", v(`V0.1`), Auto, Scheme1, SourceDefault, false},
		{"invalid request", v(`{}`), Scheme(3), 0, "", true},
	}
	for _, tc := range tests {
		got, src, err := SelectScheme(tc.v, tc.requested)
		if (err != nil) != tc.wantErr || got != tc.want || src != tc.source {
			t.Errorf("%s: SelectScheme = %d, %q, %v; want %d, %q", tc.name, got, src, err, tc.want, tc.source)
		}
	}
}

func FuzzParseVersion(f *testing.F) {
	f.Add(mustHex(f, sec2VersionHex))
	f.Add([]byte(`{"rmaker_extra":{"ver":"1.0","cap":["ch_resp"]},"prov":{"ver":"v1.1","sec_ver":1,"cap":["no_pop"]}}`))
	f.Add([]byte("V0.1"))
	f.Add([]byte(`{"prov":[1,2]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := ParseVersion(b)
		if err != nil {
			return
		}
		if v.SecVer < -1 {
			t.Fatalf("negative sec_ver %d", v.SecVer)
		}
		s, _, err := SelectScheme(v, Auto)
		if err != nil || s < Scheme0 || s > Scheme2 {
			t.Fatalf("auto selection gave %d, %v", s, err)
		}
	})
}

func TestGeneration(t *testing.T) {
	for _, tc := range []struct {
		reply        string
		gen          Generation
		wifi, thread bool
	}{
		{`{"prov":{"ver":"v1.1","sec_ver":2,"cap":["wifi_scan"]}}`, GenerationWifiProv, true, false},
		{`V0.1`, GenerationWifiProv, true, false},
		{`{"prov":{"ver":"netprov-v1.2","sec_ver":2,"cap":["wifi_prov","wifi_scan"]}}`, GenerationNetProv, true, false},
		{`{"prov":{"ver":"netprov-v1.2","sec_ver":2,"cap":["thread_prov","thread_scan"]}}`, GenerationNetProv, false, true},
		{`{"prov":{"ver":"netprov-v1.2","sec_ver":2,"cap":["wifi_prov","wifi_scan","thread_prov","thread_scan"]}}`, GenerationNetProv, true, true},
		{`{"prov":{"ver":"NETPROV-v1.0","sec_ver":0,"cap":["no_sec","wifi_scan"]}}`, GenerationNetProv, true, false},
		{`{"prov":{"ver":"v1.1","cap":["thread_prov"]}}`, GenerationNetProv, false, true},
	} {
		v, err := ParseVersion([]byte(tc.reply))
		if err != nil {
			t.Fatal(err)
		}
		g := v.Generation()
		wifi, thread := v.Networks(g)
		if g != tc.gen || wifi != tc.wifi || thread != tc.thread {
			t.Errorf("%s: %v wifi=%t thread=%t, want %v %t %t", tc.reply, g, wifi, thread, tc.gen, tc.wifi, tc.thread)
		}
	}
	if GenerationNetProv.String() != "network_provisioning" || Generation(0).String() != "unknown" {
		t.Fatal("String")
	}
}
