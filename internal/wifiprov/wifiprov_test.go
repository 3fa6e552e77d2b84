package wifiprov

import (
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

// recorder answers each call with a canned reply and records the request.
type recorder struct {
	replies map[string][]string // endpoint -> hex replies in order
	got     []string            // "endpoint hex"
}

func (r *recorder) Call(_ context.Context, ep string, req []byte) ([]byte, error) {
	r.got = append(r.got, ep+" "+hex.EncodeToString(req))
	q := r.replies[ep]
	if len(q) == 0 {
		return nil, errors.New("no reply scripted")
	}
	r.replies[ep] = q[1:]
	return hex.DecodeString(q[0])
}

const entry = "0a1f0a066d7973736964100618d3ffffffffffffffff012206240ac41122332803" // one RespScanResult entry of §9.5

func TestRequestBytesMatchSpec(t *testing.T) {
	// Expected bytes from protocol.md §9.5.
	tests := []struct {
		name  string
		run   func(c Caller) error
		reply map[string][]string
		want  []string
	}{
		{"set config", func(c Caller) error {
			return SetConfig(context.Background(), c, []byte("myssid"), []byte("mypassword"))
		},
			map[string][]string{"prov-config": {"08036a00"}},
			[]string{"prov-config 080262140a066d7973736964120a6d7970617373776f7264"}},
		{"apply", func(c Caller) error { return ApplyConfig(context.Background(), c) },
			map[string][]string{"prov-config": {"08057a00"}},
			[]string{"prov-config 0804"}},
		{"get status", func(c Caller) error { _, err := GetStatus(context.Background(), c); return err },
			map[string][]string{"prov-config": {"08015a021001"}},
			[]string{"prov-config 5200"}},
		{"reset", func(c Caller) error { return Reset(context.Background(), c) },
			map[string][]string{"prov-ctrl": {"08026200"}},
			[]string{"prov-ctrl 0801"}},
		{"reprov", func(c Caller) error { return Reprov(context.Background(), c) },
			map[string][]string{"prov-ctrl": {"08047200"}},
			[]string{"prov-ctrl 0803"}},
		{"scan softap, 5 results in pages of 4", func(c Caller) error {
			aps, err := Scan(context.Background(), c, ScanOptions{GroupChannels: 5, PageSize: 4})
			if err == nil && len(aps) != 5 {
				err = errors.New("wrong number of APs")
			}
			return err
		}, map[string][]string{"prov-scan": {"08015a00", "08036a0408011005",
			"08057a8401" + strings.Repeat(entry, 4), "08057a21" + entry}},
			[]string{"prov-scan 5206080118052078", "prov-scan 0802", "prov-scan 08047202" + "1004", "prov-scan 0804720408041001"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &recorder{replies: tc.reply}
			if err := tc.run(r); err != nil {
				t.Fatalf("call failed: %v", err)
			}
			if len(r.got) != len(tc.want) {
				t.Fatalf("requests = %q, want %q", r.got, tc.want)
			}
			for i := range tc.want {
				want := tc.want[i]
				if r.got[i] != want {
					t.Errorf("request %d = %s, want %s", i, r.got[i], want)
				}
			}
		})
	}
}

func TestGetStatusDecodes(t *testing.T) {
	tests := []struct {
		reply   string
		station string
		check   func(State) bool
	}{
		{"08015a021001", "Connecting", func(s State) bool { return !s.HasFailReason && s.AttemptsRemaining == nil }},
		{"08015a0610016202080" + "2", "Connecting", func(s State) bool { return s.AttemptsRemaining != nil && *s.AttemptsRemaining == 2 }},
		{"08015a0410035000", "ConnectionFailed", func(s State) bool { return s.HasFailReason && s.FailReason == 0 }},
		{"08015a0410035001", "ConnectionFailed", func(s State) bool { return s.HasFailReason && s.FailReason == 1 }},
		{"08015a245a220a0c3139322e3136382e312e32331003" + "1a066d7973736964" + "2206240ac4112233" + "2806", "Connected",
			func(s State) bool {
				return s.IP == "192.168.1.23" && string(s.SSID) == "myssid" && FormatBSSID(s.BSSID) == "24:0a:c4:11:22:33" && s.Channel == 6 && s.Auth == 3
			}},
	}
	for _, tc := range tests {
		r := &recorder{replies: map[string][]string{"prov-config": {tc.reply}}}
		st, err := GetStatus(context.Background(), r)
		if err != nil {
			t.Fatalf("%s: %v", tc.reply, err)
		}
		if st.Station.String() != tc.station || !tc.check(st) {
			t.Errorf("%s: decoded %+v", tc.reply, st)
		}
	}
}

func TestValidateCredentials(t *testing.T) {
	tests := []struct {
		ssid, pass string
		ok         bool
		msg        string
	}{
		{"net", "", true, ""},
		{"", "x", false, "empty"},
		{strings.Repeat("s", 32), strings.Repeat("p", 64), true, ""},
		{strings.Repeat("s", 33), "p", false, "at most 32"},
		{"net", strings.Repeat("p", 65), false, "at most 64"},
	}
	for _, tc := range tests {
		err := ValidateCredentials([]byte(tc.ssid), []byte(tc.pass))
		if (err == nil) != tc.ok || (err != nil && !strings.Contains(err.Error(), tc.msg)) {
			t.Errorf("ValidateCredentials(%d, %d) = %v", len(tc.ssid), len(tc.pass), err)
		}
		if err != nil && strings.Contains(err.Error(), tc.pass) && tc.pass != "" {
			t.Errorf("error leaks passphrase: %v", err)
		}
	}
}
