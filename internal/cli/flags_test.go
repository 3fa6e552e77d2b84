package cli

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
)

var errPrepared = errors.New("prepared")

// prepare resolves a provision command line in-process and returns the
// request it would send.
func prepare(t *testing.T, env map[string]string, args ...string) (*provRun, int, string) {
	t.Helper()
	if env == nil {
		env = map[string]string{}
	}
	if _, ok := env["XDG_CONFIG_HOME"]; !ok {
		env["XDG_CONFIG_HOME"] = t.TempDir()
	}
	var out, errb bytes.Buffer
	std := IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }}
	a := &app{io: std, stdout: &out, stderr: &errb, getenv: std.Getenv}
	a.ui = newUI(std.Stdin, &out, &errb)
	var got *provRun
	a.prepared = func(p *provRun) error { got = p; return errPrepared }
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errb)
	err := root.ExecuteContext(context.Background())
	if errors.Is(err, errPrepared) {
		return got, 0, out.String() + errb.String()
	}
	if err == nil {
		t.Fatalf("command ran without reaching the provisioning step")
	}
	return nil, ExitCode(err), err.Error()
}

func boolp(b bool) *bool { return &b }

func dur(d time.Duration) *durationpb.Duration { return durationpb.New(d) }

// TestProvisionFlags exercises every option of the seed's table (and the
// espprov additions) and checks the request that would be sent.
func TestProvisionFlags(t *testing.T) {
	wifi := &espprovv1.WifiCredentials{Ssid: "MyWiFiNetwork", Passphrase: "MyWiFiPassword"}
	creds := []string{"--ssid", "MyWiFiNetwork", "--passphrase", "MyWiFiPassword"}
	softap := &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_SOFTAP, Address: "192.168.4.1:80"}
	md, _ := structpb.NewStruct(map[string]any{"serial_no": "abc123"})
	tests := []struct {
		name string
		args []string
		want *espprovv1.ProvisionRequest
	}{
		{"--pop with the default transport softap",
			append([]string{"provision", "--pop", "abcd1234"}, creds...),
			&espprovv1.ProvisionRequest{Device: softap, Security: &espprovv1.Security{Pop: "abcd1234"}, Wifi: wifi}},
		{"positional pop (backward compatibility)",
			append([]string{"provision", "abcd1234"}, creds...),
			&espprovv1.ProvisionRequest{Device: softap, Security: &espprovv1.Security{Pop: "abcd1234"}, Wifi: wifi}},
		{"--pop wins over the positional pop",
			append([]string{"provision", "old", "--pop", "new"}, creds...),
			&espprovv1.ProvisionRequest{Device: softap, Security: &espprovv1.Security{Pop: "new"}, Wifi: wifi}},
		{"--transport ble --device_name --discovery-timeout --adapter",
			append([]string{"provision", "--pop", "abcd1234", "--transport", "ble", "--device_name", "PROV_d76c30", "--discovery-timeout", "10.5", "--adapter", "hci1"}, creds...),
			&espprovv1.ProvisionRequest{Device: &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_BLE, Name: "PROV_d76c30", Adapter: "hci1", DiscoveryTimeout: dur(10500 * time.Millisecond)},
				Security: &espprovv1.Security{Pop: "abcd1234"}, Wifi: wifi}},
		{"--transport BLE is case-insensitive, --device-name alias",
			append([]string{"provision", "--transport", "BLE", "--device-name", "PROV_1", "--sec-ver", "0"}, creds...),
			&espprovv1.ProvisionRequest{Device: &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_BLE, Name: "PROV_1", DiscoveryTimeout: dur(5 * time.Second)},
				Security: &espprovv1.Security{Scheme: espprovv1.SecurityScheme_SECURITY_SCHEME_0}, Wifi: wifi}},
		{"--transport console --port --baud",
			append([]string{"provision", "--transport", "console", "--port", "/dev/ttyUSB1", "--baud", "921600", "--sec_ver", "1", "--pop", "p"}, creds...),
			&espprovv1.ProvisionRequest{Device: &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_CONSOLE, SerialPort: "/dev/ttyUSB1", BaudRate: 921600},
				Security: &espprovv1.Security{Scheme: espprovv1.SecurityScheme_SECURITY_SCHEME_1, Pop: "p"}, Wifi: wifi}},
		{"--transport softap --device-ip --device-port",
			append([]string{"provision", "--transport", "softap", "--device-ip", "10.1.2.3", "--device-port", "8080", "--pop", "x"}, creds...),
			&espprovv1.ProvisionRequest{Device: &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_SOFTAP, Address: "10.1.2.3:8080"}, Security: &espprovv1.Security{Pop: "x"}, Wifi: wifi}},
		{"--transport httpd --device-host, IPv6 --device-ip bracketed",
			append([]string{"provision", "--transport", "httpd", "--device-ip", "fe80::1", "--pop", "x"}, creds...),
			&espprovv1.ProvisionRequest{Device: &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_HTTPD, Address: "[fe80::1]:80"}, Security: &espprovv1.Security{Pop: "x"}, Wifi: wifi}},
		{"--transport httpd --device-host name",
			append([]string{"provision", "--transport", "httpd", "--device-host", "node1.local", "--pop", "x"}, creds...),
			&espprovv1.ProvisionRequest{Device: &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_HTTPD, Address: "node1.local:80"}, Security: &espprovv1.Security{Pop: "x"}, Wifi: wifi}},
		{"--device-ip wins over --device-host",
			append([]string{"provision", "--transport", "httpd", "--device-host", "node1.local", "--device-ip", "10.0.0.9", "--pop", "x"}, creds...),
			&espprovv1.ProvisionRequest{Device: &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_HTTPD, Address: "10.0.0.9:80"}, Security: &espprovv1.Security{Pop: "x"}, Wifi: wifi}},
		{"--sec_ver 2 --sec2_username --sec2_password",
			append([]string{"provision", "--sec_ver", "2", "--sec2_username", "admin", "--sec2_password", "secure123"}, creds...),
			&espprovv1.ProvisionRequest{Device: softap, Security: &espprovv1.Security{Scheme: espprovv1.SecurityScheme_SECURITY_SCHEME_2, Sec2Username: "admin", Sec2Password: "secure123"}, Wifi: wifi}},
		{"--sec_ver 2 password defaults to the PoP",
			append([]string{"provision", "--sec_ver", "2", "--sec2_username", "wifiprov", "--pop", "abcd1234"}, creds...),
			&espprovv1.ProvisionRequest{Device: softap, Security: &espprovv1.Security{Scheme: espprovv1.SecurityScheme_SECURITY_SCHEME_2, Sec2Username: "wifiprov", Sec2Password: "abcd1234"}, Wifi: wifi}},
		{"--qrcode gives transport, name, pop",
			append([]string{"provision", "--qrcode", `{"ver":"v1","name":"PROV_fc9ea3","pop":"7a9d365e","transport":"ble"}`}, creds...),
			&espprovv1.ProvisionRequest{Device: &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_BLE, Name: "PROV_fc9ea3", DiscoveryTimeout: dur(5 * time.Second)},
				Security: &espprovv1.Security{Pop: "7a9d365e"}, Wifi: wifi}},
		{"explicit flags override --qrcode",
			append([]string{"provision", "--qrcode", `{"ver":"v1","name":"PROV_fc9ea3","pop":"7a9d365e","transport":"ble"}`, "--transport", "softap", "--pop", "mine"}, creds...),
			&espprovv1.ProvisionRequest{Device: softap, Security: &espprovv1.Security{Pop: "mine"}, Wifi: wifi}},
		{"--qrcode Security 2: username from QR, password from QR pop (D15), transport case-insensitive (D11)",
			append([]string{"provision", "--qrcode", `{"ver":"v1","name":"PROV_fc9ea3","username":"wifiprov","pop":"7a9d365e","transport":"SoftAP"}`}, creds...),
			&espprovv1.ProvisionRequest{Device: softap, Security: &espprovv1.Security{Scheme: espprovv1.SecurityScheme_SECURITY_SCHEME_2, Sec2Username: "wifiprov", Sec2Password: "7a9d365e"}, Wifi: wifi}},
		{"--qrcode security field honoured, flag --sec2_password wins",
			append([]string{"provision", "--qrcode", `{"ver":"v1","security":2,"username":"u","pop":"p","transport":"softap"}`, "--sec2_password", "flagpass"}, creds...),
			&espprovv1.ProvisionRequest{Device: softap, Security: &espprovv1.Security{Scheme: espprovv1.SecurityScheme_SECURITY_SCHEME_2, Sec2Username: "u", Sec2Password: "flagpass"}, Wifi: wifi}},
		{"--qrcode security 1, --sec_ver overrides to 0",
			append([]string{"provision", "--qrcode", `{"ver":"v1","security":"1","pop":"p","transport":"softap"}`, "--sec_ver", "0"}, creds...),
			&espprovv1.ProvisionRequest{Device: softap, Security: &espprovv1.Security{Scheme: espprovv1.SecurityScheme_SECURITY_SCHEME_0}, Wifi: wifi}},
		{"--no-wifi with --tags and --metadata enables mapping",
			[]string{"provision", "--pop", "abcd1234", "--no-wifi", "--tags", "location:mumbai, env:production,", "--metadata", `{"serial_no": "abc123"}`},
			&espprovv1.ProvisionRequest{Device: softap, Security: &espprovv1.Security{Pop: "abcd1234"}, NoWifi: true,
				Mapping: &espprovv1.Mapping{Enabled: true, Tags: []string{"location:mumbai", "env:production"}, Metadata: md}}},
		{"--disable-chal-resp",
			append([]string{"provision", "--pop", "x", "--disable-chal-resp", "--tags", "a:b"}, creds...),
			&espprovv1.ProvisionRequest{Device: softap, Security: &espprovv1.Security{Pop: "x"}, Wifi: wifi, Mapping: &espprovv1.Mapping{Enabled: true, Tags: []string{"a:b"}, DisableChalResp: boolp(true)}}},
		{"--no-disable-chal-resp overrides --disable-chal-resp",
			append([]string{"provision", "--pop", "x", "--disable-chal-resp", "--no-disable-chal-resp", "--tags", "a:b"}, creds...),
			&espprovv1.ProvisionRequest{Device: softap, Security: &espprovv1.Security{Pop: "x"}, Wifi: wifi, Mapping: &espprovv1.Mapping{Enabled: true, Tags: []string{"a:b"}, DisableChalResp: boolp(false)}}},
		{"--no-retry is accepted in scripts",
			append([]string{"provision", "--pop", "x", "--no-retry"}, creds...),
			&espprovv1.ProvisionRequest{Device: softap, Security: &espprovv1.Security{Pop: "x"}, Wifi: wifi}},
		{"--passphrase '' for an open network",
			[]string{"provision", "--pop", "x", "--ssid", "Cafe", "--passphrase", ""},
			&espprovv1.ProvisionRequest{Device: softap, Security: &espprovv1.Security{Pop: "x"}, Wifi: &espprovv1.WifiCredentials{Ssid: "Cafe"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, code, out := prepare(t, nil, tc.args...)
			if p == nil {
				t.Fatalf("exit %d: %s", code, out)
			}
			got := proto.Clone(p.req).(*espprovv1.ProvisionRequest)
			got.Timeouts = nil
			if !proto.Equal(got, tc.want) {
				t.Errorf("request:\n%s\nwant:\n%s", prototext.Format(got), prototext.Format(tc.want))
			}
		})
	}
}

// TestOnNetworkFlags: on-network builds a mapping-only request with the
// documented defaults (D1: disable after mapping unless told otherwise is
// the server's default for an unset field).
func TestOnNetworkFlags(t *testing.T) {
	p, code, out := prepare(t, nil, "provision", "--transport", "on-network", "--device-host", "XeRQn9TDhQ.local", "--device-port", "8080",
		"--discovery-timeout", "10.0", "--pop", "abcd1234", "--tags", "esp.location:office")
	if p == nil {
		t.Fatalf("exit %d: %s", code, out)
	}
	want := &espprovv1.ProvisionRequest{
		Device:   &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_ON_NETWORK, Address: "XeRQn9TDhQ.local:8080", DiscoveryTimeout: dur(10 * time.Second)},
		Security: &espprovv1.Security{Pop: "abcd1234"},
		Mapping:  &espprovv1.Mapping{Enabled: true, Tags: []string{"esp.location:office"}},
	}
	got := proto.Clone(p.req).(*espprovv1.ProvisionRequest)
	got.Timeouts = nil
	if !proto.Equal(got, want) {
		t.Errorf("request:\n%s\nwant:\n%s", prototext.Format(got), prototext.Format(want))
	}
	if p.req.GetMapping().DisableChalResp != nil {
		t.Errorf("disable_chal_resp set without a flag: the documented per-transport default must apply")
	}
}

func TestTimeoutFlags(t *testing.T) {
	p, code, out := prepare(t, nil, "provision", "--pop", "x", "--ssid", "a", "--passphrase", "", "--timeout", "2m", "--exchange-timeout", "3s", "--wifi-timeout", "40s", "--status-poll", "200ms")
	if p == nil {
		t.Fatalf("exit %d: %s", code, out)
	}
	want := &espprovv1.Timeouts{Overall: dur(2 * time.Minute), Exchange: dur(3 * time.Second), WifiConnect: dur(40 * time.Second), StatusPoll: dur(200 * time.Millisecond)}
	if !proto.Equal(p.req.GetTimeouts(), want) {
		t.Errorf("timeouts = %v, want %v", p.req.GetTimeouts(), want)
	}
}

// TestLoggedInEnablesMapping: a stored login turns mapping on and its tokens
// travel as gRPC metadata; without it only Wi-Fi is provisioned, with a note.
func TestLoggedInEnablesMapping(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"XDG_CONFIG_HOME": dir}
	p, _, out := prepare(t, env, "provision", "--pop", "x", "--ssid", "a", "--passphrase", "")
	if p.req.GetMapping().GetEnabled() || len(p.md) != 0 {
		t.Fatalf("mapping enabled without login: %v", p.req.GetMapping())
	}
	if !strings.Contains(out, "will not be added to an account") {
		t.Errorf("no not-logged-in note: %q", out)
	}
	a := &app{getenv: func(k string) string { return env[k] }}
	if _, err := a.saveCloud(cloudConfig{BaseURL: "http://127.0.0.1:1/v1/", UserName: "me", AccessToken: "acc-tok", IDToken: "id-tok", RefreshToken: "ref-tok"}); err != nil {
		t.Fatal(err)
	}
	p, _, out = prepare(t, env, "provision", "--pop", "x", "--ssid", "a", "--passphrase", "")
	if !p.req.GetMapping().GetEnabled() || p.req.GetMapping().GetCloudUrl() != "http://127.0.0.1:1/v1/" {
		t.Fatalf("mapping = %v, want enabled with the stored base URL", p.req.GetMapping())
	}
	if got := p.md.Get("x-rainmaker-access-token"); len(got) != 1 || got[0] != "acc-tok" {
		t.Errorf("access token metadata = %v", got)
	}
	if got := p.md.Get("x-rainmaker-refresh-token"); len(got) != 1 || got[0] != "ref-tok" {
		t.Errorf("refresh token metadata = %v", got)
	}
	if strings.Contains(out, "tok") {
		t.Errorf("a token was printed: %q", out)
	}
}
