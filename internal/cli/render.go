package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
)

// jsonOpts: the proto's lowerCamel JSON names, as the REST gateway uses (ip4Address).
var jsonOpts = protojson.MarshalOptions{}

// writeProtoLine writes m as one JSON line.
func writeProtoLine(w io.Writer, m proto.Message) {
	b, err := jsonOpts.Marshal(m)
	if err != nil {
		writeJSONLine(w, map[string]any{"error": map[string]any{"message": "cannot encode event: " + err.Error()}})
		return
	}
	// protojson varies its whitespace on purpose; compact it so that every
	// event is one stable line.
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err == nil {
		b = buf.Bytes()
	}
	_, _ = w.Write(append(b, '\n'))
}

// authName is the reference CLI's auth mode name (rainmaker.md §1.7).
func authName(a espprovv1.WifiAuthMode) string {
	names := []string{"Open", "WEP", "WPA_PSK", "WPA2_PSK", "WPA_WPA2_PSK", "WPA2_ENTERPRISE", "WPA3_PSK",
		"WPA2_WPA3_PSK", "WIFI_AUTH_WAPI_PSK", "OWE", "WPA3_ENT_192", "WPA3_EXT_PSK", "WPA3_EXT_PSK_MIXED_MODE",
		"DPP", "WPA3_ENTERPRISE", "WPA2_WPA3_ENTERPRISE", "WPA_ENTERPRISE"}
	i := int(a) - 1
	if i < 0 || i >= len(names) {
		return "Unknown"
	}
	return names[i]
}

// apTable renders the numbered Wi-Fi list with "Join another network".
func apTable(aps []*espprovv1.AccessPoint) []string {
	lines := []string{
		"Select the Wi-Fi network from the following list:",
		fmt.Sprintf("%-4s %-33s %-17s %-3s %-4s %s", "S.N.", "SSID", "BSSID", "CHN", "RSSI", "AUTH"),
	}
	for i, ap := range aps {
		lines = append(lines, fmt.Sprintf("[%2d] %-33s %-17s %-3d %-4d %s", i+1, printable(ap.GetSsid()), ap.GetBssid(), ap.GetChannel(), ap.GetRssi(), authName(ap.GetAuth())))
	}
	lines = append(lines, fmt.Sprintf("[%2d] Join another network", len(aps)+1))
	return lines
}

// printable replaces control characters so an SSID cannot drive the terminal.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

func truncate(s string, width int) string {
	if len([]rune(s)) > width-1 {
		r := []rune(s)
		return string(r[:width-4]) + "..."
	}
	return s
}

// onNetworkTable renders discovered on-network devices as the seed does.
func onNetworkTable(devs []*espprovv1.DiscoverResponse) []string {
	rule := strings.Repeat("-", 120)
	lines := []string{"", fmt.Sprintf("Discovered %d device(s):", len(devs)), rule,
		fmt.Sprintf("%-4s%-21s%-26s%-17s%-7s%-5s%-9s%s", "#", "Instance Name", "Node ID", "IP Address", "Port", "Sec", "PoP", "Service"), rule}
	for i, d := range devs {
		host, port := splitAddr(d.GetAddress())
		lines = append(lines, fmt.Sprintf("%-4d%-21s%-26s%-17s%-7s%-5s%-9s%s", i+1, truncate(printable(d.GetName()), 20),
			truncate(printable(d.GetNodeId()), 25), host, port, secNumber(d.GetSecurity()), popColumn(d), "ChalResp"))
	}
	return append(lines, rule)
}

// deviceTable renders discovered devices of the other transports.
func deviceTable(devs []*espprovv1.DiscoverResponse) []string {
	lines := []string{fmt.Sprintf("Discovered %d device(s):", len(devs)),
		fmt.Sprintf("%-4s%-24s%-26s%-5s%-9s%-9s%-13s%s", "#", "Name", "Address", "Sec", "PoP", "Prov", "Networks", "RSSI")}
	for i, d := range devs {
		rssi := ""
		if d.GetRssi() != 0 {
			rssi = fmt.Sprint(d.GetRssi())
		}
		name := d.GetName()
		if name == "" {
			name = "-"
		}
		lines = append(lines, fmt.Sprintf("%-4d%-24s%-26s%-5s%-9s%-9s%-13s%s", i+1, truncate(printable(name), 23), truncate(d.GetAddress(), 25),
			secNumber(d.GetSecurity()), popColumn(d), generationName(d.GetProvGeneration()), networkNames(d.GetNetworkTypes()), rssi))
	}
	return lines
}

func splitAddr(a string) (string, string) {
	if i := strings.LastIndex(a, ":"); i > 0 && !strings.HasSuffix(a, "]") {
		return strings.Trim(a[:i], "[]"), a[i+1:]
	}
	return a, ""
}

func secNumber(s espprovv1.SecurityScheme) string {
	if s == espprovv1.SecurityScheme_SECURITY_SCHEME_UNSPECIFIED {
		return "?"
	}
	return fmt.Sprint(int(s) - 1)
}

func popColumn(d *espprovv1.DiscoverResponse) string {
	switch d.GetSecurity() {
	case espprovv1.SecurityScheme_SECURITY_SCHEME_1:
		if d.GetPopRequired() {
			return "Yes"
		}
		return "No"
	case espprovv1.SecurityScheme_SECURITY_SCHEME_2:
		return "SRP6a"
	}
	return "N/A"
}

// renderer prints provisioning events as the reference CLI's progress lines.
type renderer struct {
	ui   *ui
	json bool
	out  io.Writer

	securityShown bool
	sessionShown  bool
	wifiFailShown bool
	mappedShown   bool
	jobShown      bool // the job id was printed
	lastWifi      espprovv1.WifiStationState
}

func (r *renderer) line(format string, a ...any) {
	if r.json {
		return
	}
	r.ui.println(format, a...)
}

func (r *renderer) deviceInfo(info *espprovv1.DeviceInfo) {
	if r.securityShown || info == nil {
		return
	}
	r.securityShown = true
	if info.GetSecuritySource() != "requested" {
		r.line("==== Auto-detected Security Scheme: %s ====", secNumber(info.GetSecurity()))
	}
}

func (r *renderer) session() {
	if r.sessionShown {
		return
	}
	r.sessionShown = true
	r.line("Establishing session - Successful")
}

// newSession lets the next session's lines print again (fresh Provision call).
func (r *renderer) newSession() {
	r.sessionShown = false
	r.wifiFailShown = false
	r.lastWifi = espprovv1.WifiStationState_WIFI_STATION_STATE_UNSPECIFIED
}

func wifiFailText(r espprovv1.WifiFailReason) string {
	switch r {
	case espprovv1.WifiFailReason_WIFI_FAIL_REASON_AUTH_ERROR:
		return "wrong passphrase"
	case espprovv1.WifiFailReason_WIFI_FAIL_REASON_NETWORK_NOT_FOUND:
		return "network not found"
	}
	return "no reason given"
}

func (r *renderer) event(ev *espprovv1.ProvisionResponse) {
	if r.json {
		writeProtoLine(r.out, ev)
		return
	}
	if id := ev.GetJobId(); id != "" && !r.jobShown {
		r.jobShown = true
		r.line("Job %s", id)
	}
	switch ev.GetStep() {
	case espprovv1.Step_STEP_QUEUED:
		r.ui.startSpinner("Queued: " + ev.GetMessage())
	case espprovv1.Step_STEP_CONNECTING:
		r.ui.startSpinner("Connecting")
	case espprovv1.Step_STEP_SECURITY_DETECTED:
		r.deviceInfo(ev.GetDeviceInfo())
		r.ui.startSpinner("Establishing session")
	case espprovv1.Step_STEP_SESSION_ESTABLISHED:
		r.session()
	case espprovv1.Step_STEP_MAPPING:
		r.mapping(ev.GetMapping(), ev.GetMessage())
	case espprovv1.Step_STEP_CUSTOM_DATA:
		r.line("%s", customDataLine(ev.GetCustomData()))
	case espprovv1.Step_STEP_REPROVISIONED:
		r.line("Re-provisioning: the device forgot its earlier Wi-Fi credentials.")
	case espprovv1.Step_STEP_CREDENTIALS_SENT:
		if ev.GetNetwork() == espprovv1.NetworkType_NETWORK_TYPE_THREAD {
			r.line("Sending Thread dataset to node - Successful")
			break
		}
		r.line("Sending Wi-Fi credentials to node - Successful")
	case espprovv1.Step_STEP_CONFIG_APPLIED:
		if ev.GetNetwork() == espprovv1.NetworkType_NETWORK_TYPE_THREAD {
			r.line("Applying Thread dataset to node - Successful")
			r.ui.startSpinner("Waiting for the device to attach to Thread")
			break
		}
		r.line("Applying Wi-Fi config to node - Successful")
		r.ui.startSpinner("Waiting for the device to join Wi-Fi")
	case espprovv1.Step_STEP_THREAD_STATE:
		r.threadEvent(ev)
	case espprovv1.Step_STEP_WIFI_STATE:
		ws := ev.GetWifiState()
		switch ws.GetState() {
		case espprovv1.WifiStationState_WIFI_STATION_STATE_CONNECTING:
			if ws.AttemptsRemaining != nil {
				r.line("++++ WiFi state: Connecting... (attempt failed: %s, %d attempts remaining) ++++", wifiFailText(ws.GetFailReason()), ws.GetAttemptsRemaining())
			} else if r.lastWifi != ws.GetState() {
				r.line("++++ WiFi state: Connecting... ++++")
			}
		case espprovv1.WifiStationState_WIFI_STATION_STATE_CONNECTED:
			r.line("==== WiFi state: Connected ====")
		case espprovv1.WifiStationState_WIFI_STATION_STATE_CONNECTION_FAILED, espprovv1.WifiStationState_WIFI_STATION_STATE_DISCONNECTED:
			what := "Connection failed"
			if ws.GetState() == espprovv1.WifiStationState_WIFI_STATION_STATE_DISCONNECTED {
				what = "Disconnected"
			}
			r.line("---- WiFi state: %s (%s) ----", what, wifiFailText(ws.GetFailReason()))
			r.wifiFailShown = true
			r.line("Wi-Fi Provisioning Failed.")
		}
		r.lastWifi = ws.GetState()
	case espprovv1.Step_STEP_DEVICE_RESET:
		r.line("Device reset via prov-ctrl successful.")
	case espprovv1.Step_STEP_AWAITING_RETRY:
		r.ui.stopSpinner()
	case espprovv1.Step_STEP_RESULT:
		r.ui.stopSpinner()
		res := ev.GetResult()
		if res.GetSuccess() {
			if t := res.GetThread(); res.GetNetwork() == espprovv1.NetworkType_NETWORK_TYPE_THREAD {
				r.line("Thread Provisioning Successful")
				r.line("Device attached to %q (PAN ID 0x%04x, channel %d)", printable(t.GetNetworkName()), t.GetPanId(), t.GetChannel())
				return
			}
			if res.GetIp4Address() != "" || res.GetSsid() != "" {
				r.line("Wi-Fi Provisioning Successful")
				r.line("Device joined %q (IP address %s)", res.GetSsid(), res.GetIp4Address())
			}
			return
		}
		if isThreadResult(res) && !r.wifiFailShown {
			r.wifiFailShown = true
			r.line("Thread Provisioning Failed.")
		}
		if isWifiResult(res) && !r.wifiFailShown {
			r.wifiFailShown = true
			r.line("Wi-Fi Provisioning Failed.")
		}
	}
}

func (r *renderer) mapping(m *espprovv1.MappingEvent, msg string) {
	cr := m.GetFlow() == espprovv1.MappingFlow_MAPPING_FLOW_CHALLENGE_RESPONSE
	switch {
	case m == nil:
		if msg != "" {
			r.line("%s", msg)
		}
	case m.GetMapped() && m.GetChalRespDisabled():
		r.mappedLine(m, cr)
		r.line("Challenge-response disabled on the device.")
	case m.GetMapped():
		r.mappedLine(m, cr)
		if strings.HasPrefix(msg, "warning:") {
			r.line("Warning: %s", strings.TrimSpace(strings.TrimPrefix(msg, "warning:")))
		}
	case cr && m.GetNodeId() == "":
		r.line("Device supports challenge-response, initiating user-node association...")
	case cr:
		// the device signed the challenge; the cloud verifies next
	case m.GetNodeId() == "":
		r.line("%s", msg)
	case m.GetRequestId() == "":
		r.line("Sending user information to node - Successful")
	case m.GetRequestStatus() == "":
		r.line("Waiting for node mapping confirmation...")
		r.ui.startSpinner("Waiting for node mapping confirmation")
	default:
		r.line("Mapping status: %s", m.GetRequestStatus())
	}
}

// mappedLine prints the success lines once.
func (r *renderer) mappedLine(m *espprovv1.MappingEvent, cr bool) {
	if r.mappedShown {
		return
	}
	r.mappedShown = true
	if cr {
		r.line("Challenge-response user-node association successful")
	}
	r.line("Node %s added to your account successfully!", m.GetNodeId())
}

// isWifiResult reports whether a failed result is a Wi-Fi failure: the
// credentials had been applied (the result names the SSID) or the device
// reported a reason.
func isWifiResult(res *espprovv1.Result) bool {
	if res == nil || res.GetSuccess() || res.GetIp4Address() != "" {
		return false // an IP means Wi-Fi succeeded: the failure is elsewhere (mapping)
	}
	if res.GetNetwork() == espprovv1.NetworkType_NETWORK_TYPE_THREAD {
		return false
	}
	return res.GetSsid() != "" || res.GetFailReason() != espprovv1.WifiFailReason_WIFI_FAIL_REASON_UNSPECIFIED || res.GetDeviceReset()
}
