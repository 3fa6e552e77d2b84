package profiles_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/services/profiles"
)

const secret = "very-Secret-pass-42"

func write(t *testing.T, dir, name, body string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // umask
		t.Fatal(err)
	}
	return p
}

// TestReadRefuses: each broken file is refused with an error naming the
// problem and never the passphrase.
func TestReadRefuses(t *testing.T) {
	dir := t.TempDir()
	passFile := write(t, dir, "open.pass", secret+"\n", 0o644)
	tests := []struct {
		name, body string
		mode       os.FileMode
		want       string
	}{
		{"world-readable with a passphrase", "profiles: [{name: a, wifi: {ssid: n, passphrase: " + secret + "}}]", 0o644, "readable by every user"},
		{"world-readable passphrase file", "profiles: [{name: a, wifi: {ssid: n, passphrase_file: " + passFile + "}}]", 0o600, "readable by every user"},
		{"unknown key", "profiles: [{name: a, pasphrase: x}]", 0o600, "pasphrase"},
		{"bad transport", "profiles: [{name: a, transport: pigeon}]", 0o600, "pigeon"},
		{"bad security", "profiles: [{name: a, security: 3}]", 0o600, "security"},
		{"bad name", "profiles: [{name: 'a b'}]", 0o600, "name must be"},
		{"duplicate", "profiles: [{name: a}, {name: a}]", 0o600, "appears twice"},
		{"short passphrase", "profiles: [{name: a, wifi: {ssid: n, passphrase: short}}]", 0o600, "wifi"},
		{"wifi and thread", "profiles: [{name: a, wifi: {ssid: n}, thread: {dataset: 00}}]", 0o600, "not both"},
		{"bad dataset", "profiles: [{name: a, thread: {dataset: zz" + secret + "}}]", 0o600, "not valid hex"},
		{"both passphrase forms", "profiles: [{name: a, wifi: {ssid: n, passphrase: " + secret + ", passphrase_file: /x}}]", 0o600, "not both"},
		{"negative timeout", "profiles: [{name: a, timeouts: {overall: -1s}}]", 0o600, "negative"},
		{"bad label key", "profiles: [{name: a, labels: {'a=b': x}}]", 0o600, "labels"},
		{"long station", "profiles: [{name: a, station: " + strings.Repeat("s", 129) + "}]", 0o600, "station"},
		{"cloud with credentials", "profiles: [{name: a, mapping: {enabled: true, cloud: 'https://u:p@x'}}]", 0o600, "without credentials"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := write(t, dir, "p"+string(rune('a'+i))+".yaml", tc.body, tc.mode)
			_, err := profiles.Load(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error shows the secret: %v", err)
			}
		})
	}
}

// TestApply: the request's own fields win, unset ones come from the
// profile; the address follows the device name; labels merge; List shows
// no secret; an unknown name is NotFound naming it.
func TestApply(t *testing.T) {
	dir := t.TempDir()
	passFile := write(t, dir, "net.pass", secret+"\n", 0o600)
	path := write(t, dir, "profiles.yaml", `profiles:
  - name: st
    transport: httpd
    address: 10.0.0.1:80
    addresses: {unit-7: 10.0.0.7:80}
    security: 2
    sec2_username: wifiprov
    wifi: {ssid: net, passphrase_file: `+passFile+`}
    mapping: {enabled: true, cloud: lab}
    work_order: WO-1
    station: S1
    labels: {line: "1", shift: a}
    timeouts: {overall: 2m}
`, 0o644) // no inline secret: may be world-readable
	set, err := profiles.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   *espprovv1.ProvisionRequest
		want func(*espprovv1.ProvisionRequest) string // "" when right
	}{
		{"all from the profile", &espprovv1.ProvisionRequest{Profile: "st", Device: &espprovv1.Device{Name: "unit-7"}, Security: &espprovv1.Security{Sec2Password: "p"}},
			func(r *espprovv1.ProvisionRequest) string {
				if r.GetDevice().GetAddress() != "10.0.0.7:80" || r.GetDevice().GetTransport() != espprovv1.Transport_TRANSPORT_HTTPD ||
					r.GetSecurity().GetScheme() != espprovv1.SecurityScheme_SECURITY_SCHEME_2 || r.GetSecurity().GetSec2Username() != "wifiprov" ||
					r.GetSecurity().GetSec2Password() != "p" || r.GetWifi().GetPassphrase() != secret || r.GetWifi().GetSsid() != "net" ||
					!r.GetMapping().GetEnabled() || r.GetMapping().GetCloudUrl() != "lab" || r.GetStation() != "S1" || r.GetWorkOrder() != "WO-1" ||
					r.GetLabels()["shift"] != "a" || r.GetTimeouts().GetOverall().AsDuration().Minutes() != 2 {
					return "not filled"
				}
				return ""
			}},
		{"unknown name: default address", &espprovv1.ProvisionRequest{Profile: "st", Device: &espprovv1.Device{Name: "unit-9"}},
			func(r *espprovv1.ProvisionRequest) string {
				if r.GetDevice().GetAddress() != "10.0.0.1:80" {
					return "address " + r.GetDevice().GetAddress()
				}
				return ""
			}},
		{"the request wins", &espprovv1.ProvisionRequest{Profile: "st", Device: &espprovv1.Device{Name: "unit-7", Address: "1.2.3.4:80", Transport: espprovv1.Transport_TRANSPORT_SOFTAP},
			NoWifi: true, Mapping: &espprovv1.Mapping{}, Station: "S2", Labels: map[string]string{"shift": "b"}},
			func(r *espprovv1.ProvisionRequest) string {
				if r.GetDevice().GetAddress() != "1.2.3.4:80" || r.GetDevice().GetTransport() != espprovv1.Transport_TRANSPORT_SOFTAP || r.GetWifi() != nil ||
					r.GetMapping().GetEnabled() || r.GetStation() != "S2" || r.GetLabels()["shift"] != "b" || r.GetLabels()["line"] != "1" {
					return "overridden"
				}
				return ""
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := protojson.Format(tc.in)
			out, err := set.Apply(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if msg := tc.want(out); msg != "" {
				t.Errorf("%s: %v", msg, out)
			}
			if protojson.Format(tc.in) != before {
				t.Error("Apply changed its argument")
			}
			again, _ := set.Apply(out)
			if protojson.Format(again) != protojson.Format(out) {
				t.Error("applying twice changed the request")
			}
		})
	}
	_, err = set.Apply(&espprovv1.ProvisionRequest{Profile: "other"})
	if status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), `"other"`) {
		t.Errorf("unknown profile: %v", err)
	}
	list := set.List()
	if len(list) != 1 || !list[0].GetPassphraseSet() || list[0].GetCloud() != "lab" || strings.Contains(protojson.Format(list[0]), secret) {
		t.Errorf("List: %v", list)
	}
	var none *profiles.Set
	if _, err := none.Apply(&espprovv1.ProvisionRequest{Profile: "st"}); status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), "--profiles") {
		t.Errorf("no profiles: %v", err)
	}
}
