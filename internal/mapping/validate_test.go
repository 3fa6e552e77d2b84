package mapping

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
)

func TestValidateTags(t *testing.T) {
	tests := []struct {
		tags []string
		ok   bool
	}{
		{nil, true},
		{[]string{"location:pune"}, true},
		{[]string{"esp.location:mumbai", "name:a:b"}, true},
		{[]string{"location"}, false},
		{[]string{":pune"}, false},
		{[]string{"location:"}, false},
		{[]string{" : "}, false},
		{[]string{"a:b", ""}, false},
	}
	for _, tc := range tests {
		err := ValidateTags(tc.tags)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrInvalidTag)) {
			t.Errorf("ValidateTags(%q) = %v, want ok=%v", tc.tags, err, tc.ok)
		}
	}
}

func TestParseTags(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		ok   bool
	}{
		{"", nil, true},
		{"location:pune, name:espressif ,", []string{"location:pune", "name:espressif"}, true},
		{"a:b,,c:d", []string{"a:b", "c:d"}, true},
		{"a:b,bad", nil, false},
	}
	for _, tc := range tests {
		got, err := ParseTags(tc.in)
		if (err == nil) != tc.ok || !slices.Equal(got, tc.want) {
			t.Errorf("ParseTags(%q) = %q, %v; want %q ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestParseMetadata(t *testing.T) {
	tests := []struct {
		in   string
		want string // JSON of the result; "" for nil
		ok   bool
	}{
		{"", "", true},
		{"   ", "", true},
		{`{}`, `{}`, true},
		{`{"serial":"A1","n":12345678901234567890}`, `{"n":12345678901234567890,"serial":"A1"}`, true},
		{`{"a":{"b":[1,2]}}`, `{"a":{"b":[1,2]}}`, true},
		{`[1,2]`, "", false},
		{`"str"`, "", false},
		{`42`, "", false},
		{`null`, "", false},
		{`true`, "", false},
		{`{"a":1} {"b":2}`, "", false},
		{`{"a":`, "", false},
		{`not json`, "", false},
	}
	for _, tc := range tests {
		got, err := ParseMetadata(tc.in)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrInvalidMetadata)) {
			t.Errorf("ParseMetadata(%q) err = %v, want ok=%v", tc.in, err, tc.ok)
			continue
		}
		var js string
		if got != nil {
			b, _ := json.Marshal(got)
			js = string(b)
		}
		if js != tc.want {
			t.Errorf("ParseMetadata(%q) = %s, want %s", tc.in, js, tc.want)
		}
	}
}

func TestPlan(t *testing.T) {
	tests := []struct {
		caps    Capabilities
		noWifi  bool
		want    Flow
		wantErr error
	}{
		{Capabilities{}, false, FlowTraditional, nil},
		{Capabilities{ChResp: true}, false, FlowChallengeResponse, nil},
		{Capabilities{ChResp: true, LocalCtrl: true}, true, FlowChallengeResponse, nil},
		{Capabilities{}, true, FlowUnspecified, ErrNoChalResp},
		{Capabilities{Claim: true}, false, FlowUnspecified, ErrNotClaimed},
		{Capabilities{Claim: true, ChResp: true}, false, FlowUnspecified, ErrNotClaimed},
	}
	for _, tc := range tests {
		got, err := Plan(tc.caps, tc.noWifi)
		if got != tc.want || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
			t.Errorf("Plan(%+v, %v) = %v, %v; want %v, %v", tc.caps, tc.noWifi, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestDisableByDefault(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		transport string
		override  *bool
		want      bool
	}{
		{"on-network", nil, true},
		{"ble", nil, false},
		{"softap", nil, false},
		{"console", nil, false},
		{"on-network", &no, false},
		{"ble", &yes, true},
	}
	for _, tc := range tests {
		if got := DisableByDefault(tc.transport, tc.override); got != tc.want {
			t.Errorf("DisableByDefault(%s, %v) = %v, want %v", tc.transport, tc.override, got, tc.want)
		}
	}
}

func TestNewSecretKey(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		k, err := NewSecretKey()
		if err != nil {
			t.Fatal(err)
		}
		if len(k) != 36 || k[8] != '-' || k[13] != '-' || k[14] != '4' || k[18] != '-' || k[23] != '-' ||
			!slices.Contains([]byte("89ab"), k[19]) || seen[k] {
			t.Fatalf("not a fresh UUIDv4: %s", k)
		}
		seen[k] = true
	}
}
