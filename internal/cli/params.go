package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
)

// Defaults of the reference CLI and the firmware.
const (
	softAPDefaultIP         = "192.168.4.1"
	defaultDevicePort       = 80
	defaultDiscoveryTimeout = 5.0
	defaultBaud             = 115200
)

// transportNames are the values of --transport (and QR "transport").
var transportNames = map[string]espprovv1.Transport{
	"softap":     espprovv1.Transport_TRANSPORT_SOFTAP,
	"httpd":      espprovv1.Transport_TRANSPORT_HTTPD,
	"ble":        espprovv1.Transport_TRANSPORT_BLE,
	"console":    espprovv1.Transport_TRANSPORT_CONSOLE,
	"on-network": espprovv1.Transport_TRANSPORT_ON_NETWORK,
}

const transportList = "softap, ble, console, on-network or httpd"

// parseTransport validates a transport name case-insensitively (D11).
func parseTransport(s string) (espprovv1.Transport, bool) {
	n := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "_", "-")
	t, ok := transportNames[n]
	return t, ok
}

func transportString(t espprovv1.Transport) string {
	for k, v := range transportNames {
		if v == t {
			return k
		}
	}
	return t.String()
}

// qrPayload is the provisioning QR code JSON (rainmaker.md §5).
type qrPayload struct {
	Ver       string
	Name      string
	PoP       string
	Transport string
	Username  string
	Password  string
	Security  *int
}

// parseQR parses --qrcode. The "password" field (soft-AP network key) is
// read but not used: the soft-AP must be joined by the host first.
func parseQR(s string) (*qrPayload, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, usageErr("Invalid JSON in --qrcode: %v", err)
	}
	if dec.More() {
		return nil, usageErr("Invalid JSON in --qrcode: unexpected data after the JSON object")
	}
	if m == nil {
		return nil, usageErr("Invalid JSON in --qrcode: expected an object such as {\"ver\":\"v1\",\"name\":\"PROV_fc9ea3\",\"pop\":\"7a9d365e\",\"transport\":\"ble\"}")
	}
	q := &qrPayload{}
	str := func(key string, dst *string) error {
		v, ok := m[key]
		if !ok || v == nil {
			return nil
		}
		s, ok := v.(string)
		if !ok {
			return usageErr("--qrcode: %q must be a string", key)
		}
		*dst = s
		return nil
	}
	for k, dst := range map[string]*string{"ver": &q.Ver, "name": &q.Name, "pop": &q.PoP, "transport": &q.Transport, "username": &q.Username, "password": &q.Password} {
		if err := str(k, dst); err != nil {
			return nil, err
		}
	}
	if q.Transport != "" {
		if _, ok := parseTransport(q.Transport); !ok {
			return nil, usageErr("--qrcode: unknown transport %q (use %s)", q.Transport, transportList)
		}
	}
	if v, ok := m["security"]; ok && v != nil {
		var n int
		switch x := v.(type) {
		case json.Number:
			i, err := strconv.Atoi(x.String())
			if err != nil {
				return nil, usageErr("--qrcode: security must be 0, 1 or 2 (got %s)", x)
			}
			n = i
		case string:
			i, err := strconv.Atoi(x)
			if err != nil {
				return nil, usageErr("--qrcode: security must be 0, 1 or 2 (got %q)", x)
			}
			n = i
		default:
			return nil, usageErr("--qrcode: security must be 0, 1 or 2")
		}
		if n < 0 || n > 2 {
			return nil, usageErr("--qrcode: security must be 0, 1 or 2 (got %d)", n)
		}
		q.Security = &n
	}
	return q, nil
}

// parseTags splits --tags on commas and checks key:value (D13).
func parseTags(s string) ([]string, error) {
	var out []string
	for _, t := range strings.Split(s, ",") {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		k, v, ok := strings.Cut(t, ":")
		if !ok || strings.TrimSpace(k) == "" || strings.TrimSpace(v) == "" {
			return nil, usageErr("Invalid tag format '%s'. Tags must be in key:value format.", t)
		}
		out = append(out, t)
	}
	return out, nil
}

// parseMetadata parses --metadata, which must be a JSON object.
func parseMetadata(s string) (*structpb.Struct, error) {
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, usageErr("Invalid JSON in --metadata: %v", err)
	}
	if dec.More() {
		return nil, usageErr("Invalid JSON in --metadata: unexpected data after the JSON object")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, usageErr("--metadata must be a JSON object such as '{\"serial_no\": \"abc123\"}'")
	}
	st, err := structpb.NewStruct(m)
	if err != nil {
		return nil, usageErr("--metadata: %v", err)
	}
	return st, nil
}

// deviceFlags address the device.
type deviceFlags struct {
	transport        string
	deviceIP         string
	deviceHost       string
	devicePort       int
	deviceName       string
	serialPort       string
	baud             uint32
	discoveryTimeout float64
	adapter          string
	generation       string
}

func (f *deviceFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.transport, "transport", "", "transport: softap, ble, console, on-network, httpd (default: QR code value, else softap)")
	fs.StringVar(&f.deviceIP, "device-ip", "", "device IP address (softap, httpd, on-network; on-network: bypasses mDNS)")
	fs.StringVar(&f.deviceHost, "device-host", "", "device host name, e.g. <node_id>.local (softap, httpd, on-network)")
	fs.IntVar(&f.devicePort, "device-port", defaultDevicePort, "device HTTP port (softap, httpd, on-network)")
	fs.StringVar(&f.deviceName, "device_name", "", "BLE advertised name (e.g. PROV_d76c30), or on-network instance name/node id")
	fs.StringVar(&f.serialPort, "port", "", "serial port for --transport console, e.g. /dev/ttyUSB0")
	fs.Uint32Var(&f.baud, "baud", defaultBaud, "serial speed for --transport console")
	fs.Float64Var(&f.discoveryTimeout, "discovery-timeout", defaultDiscoveryTimeout, "device discovery timeout in seconds (BLE scan, mDNS)")
	fs.StringVar(&f.adapter, "adapter", "", "BLE adapter, e.g. hci0 (default: the first one)")
	fs.StringVar(&f.generation, "prov-generation", "", "provisioning generation when the firmware's proto-ver is wrong: wifi (ESP-IDF ≤ 5) or network (ESP-IDF 6 network_provisioning); default: detected")
	fs.StringVar(&f.adapter, "ble-adapter", "", "BLE adapter, e.g. hci1 (same as --adapter; chip-tool's name)")
}

// build resolves the Device: explicit flag > QR code value > default.
func (f *deviceFlags) build(fs *pflag.FlagSet, qr *qrPayload) (*espprovv1.Device, error) {
	name := f.transport
	if !fs.Changed("transport") && qr != nil && qr.Transport != "" {
		name = qr.Transport
	}
	if name == "" {
		name = "softap"
	}
	tr, ok := parseTransport(name)
	if !ok {
		return nil, usageErr("unknown --transport %q (use %s)", name, transportList)
	}
	d := &espprovv1.Device{Transport: tr}
	gen, err := parseGeneration(f.generation)
	if err != nil {
		return nil, err
	}
	d.ProvGeneration = gen
	if fs.Changed("device-port") && (f.devicePort < 1 || f.devicePort > 65535) {
		return nil, usageErr("--device-port %d is out of range (1 to 65535)", f.devicePort)
	}
	if f.discoveryTimeout <= 0 || f.discoveryTimeout > 600 || math.IsNaN(f.discoveryTimeout) {
		return nil, usageErr("--discovery-timeout must be more than 0 and at most 600 seconds (got %v)", f.discoveryTimeout)
	}
	host, err := f.host()
	if err != nil {
		return nil, err
	}
	addressed := host != "" || fs.Changed("device-port")
	devName := f.deviceName
	if !fs.Changed("device_name") && qr != nil {
		devName = qr.Name
	}
	if (fs.Changed("port") || fs.Changed("baud")) && tr != espprovv1.Transport_TRANSPORT_CONSOLE {
		return nil, usageErr("--port and --baud apply to --transport console only")
	}
	if (fs.Changed("adapter") || fs.Changed("ble-adapter")) && tr != espprovv1.Transport_TRANSPORT_BLE {
		return nil, usageErr("--adapter/--ble-adapter applies to --transport ble only")
	}
	if fs.Changed("adapter") && fs.Changed("ble-adapter") {
		return nil, usageErr("give --adapter or --ble-adapter, not both")
	}
	port := f.devicePort
	switch tr {
	case espprovv1.Transport_TRANSPORT_SOFTAP:
		if host == "" {
			host = softAPDefaultIP
		}
		d.Address = net.JoinHostPort(host, strconv.Itoa(port))
	case espprovv1.Transport_TRANSPORT_HTTPD:
		if host == "" {
			return nil, usageErr("--transport httpd needs --device-ip or --device-host (and --device-port if not 80)")
		}
		d.Address = net.JoinHostPort(host, strconv.Itoa(port))
	case espprovv1.Transport_TRANSPORT_ON_NETWORK:
		if host != "" {
			d.Address = net.JoinHostPort(host, strconv.Itoa(port))
		}
		d.Name = devName
	case espprovv1.Transport_TRANSPORT_BLE:
		if addressed {
			return nil, usageErr("--device-ip, --device-host and --device-port do not apply to --transport ble (use --device_name)")
		}
		d.Name = devName
		d.Adapter = f.adapter
	case espprovv1.Transport_TRANSPORT_CONSOLE:
		if addressed {
			return nil, usageErr("--device-ip, --device-host and --device-port do not apply to --transport console (use --port)")
		}
		d.SerialPort = f.serialPort
		if f.baud < 300 || f.baud > 4000000 {
			return nil, usageErr("--baud %d is out of range (300 to 4000000)", f.baud)
		}
		d.BaudRate = f.baud
	}
	if fs.Changed("device_name") && tr != espprovv1.Transport_TRANSPORT_BLE && tr != espprovv1.Transport_TRANSPORT_ON_NETWORK {
		return nil, usageErr("--device_name applies to --transport ble and on-network only")
	}
	if tr == espprovv1.Transport_TRANSPORT_BLE || tr == espprovv1.Transport_TRANSPORT_ON_NETWORK || fs.Changed("discovery-timeout") {
		d.DiscoveryTimeout = durationpb.New(time.Duration(f.discoveryTimeout * float64(time.Second)))
	}
	return d, nil
}

// host returns the host part from --device-ip (wins, like the reference CLI)
// or --device-host. IPv6 literals are bracketed only when joined (D4).
func (f *deviceFlags) host() (string, error) {
	if f.deviceIP != "" {
		ip, err := netip.ParseAddr(strings.Trim(f.deviceIP, "[]"))
		if err != nil {
			return "", usageErr("--device-ip %q is not an IP address (use --device-host for names)", f.deviceIP)
		}
		return ip.String(), nil
	}
	h := strings.TrimSpace(f.deviceHost)
	if h == "" {
		return "", nil
	}
	if ip, err := netip.ParseAddr(strings.Trim(h, "[]")); err == nil {
		return ip.String(), nil
	}
	if strings.ContainsAny(h, ":/ \t") || len(h) > 253 {
		return "", usageErr("--device-host %q is not a host name (give the port with --device-port)", f.deviceHost)
	}
	return h, nil
}

// securityFlags select the session security.
type securityFlags struct {
	pop      string
	secVer   int
	sec2User string
	sec2Pass string
}

func (f *securityFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.pop, "pop", "", "proof of possession (Security 1; with Security 2 it is the default SRP password)")
	fs.IntVar(&f.secVer, "sec_ver", 0, "security scheme 0, 1 or 2 (default: detected from the device)")
	fs.StringVar(&f.sec2User, "sec2_username", "", "Security 2 SRP username (RainMaker firmware: wifiprov)")
	fs.StringVar(&f.sec2Pass, "sec2_password", "", "Security 2 SRP password (RainMaker firmware: the PoP)")
	registerSecretFile(fs, popSecret)
	registerSecretFile(fs, sec2PassSecret)
}

// build resolves the Security: --sec_ver > QR security (or QR username,
// which only Security 2 QR codes carry) > auto-detect; --pop > positional
// PoP > QR pop. With Security 2 the username comes from --sec2_username or
// QR username and the password from --sec2_password or the PoP (D15).
func (f *securityFlags) build(fs *pflag.FlagSet, positionalPoP string, qr *qrPayload, getenv func(string) string) (*espprovv1.Security, error) {
	for _, src := range []secretSource{popSecret, sec2PassSecret} {
		if err := fromFile(fs, src); err != nil {
			return nil, err
		}
	}
	// ESPPROV_POP is a standing default: a PoP given for this device
	// (positional, QR) wins over it.
	if !fs.Changed("pop") && positionalPoP == "" && (qr == nil || qr.PoP == "") && getenv(popSecret.env) != "" {
		f.pop = getenv(popSecret.env)
	}
	if !fs.Changed("sec2_password") && getenv(sec2PassSecret.env) != "" {
		f.sec2Pass = getenv(sec2PassSecret.env)
	}
	sec := &espprovv1.Security{}
	scheme := -1
	switch {
	case fs.Changed("sec_ver"):
		if f.secVer < 0 || f.secVer > 2 {
			return nil, usageErr("--sec_ver must be 0, 1 or 2 (got %d)", f.secVer)
		}
		scheme = f.secVer
	case qr != nil && qr.Security != nil:
		scheme = *qr.Security
	case qr != nil && qr.Username != "":
		scheme = 2
	}
	if scheme >= 0 {
		sec.Scheme = espprovv1.SecurityScheme(scheme + 1)
	}
	pop := f.pop
	if pop == "" {
		pop = positionalPoP
	}
	if pop == "" && qr != nil {
		pop = qr.PoP
	}
	user := f.sec2User
	if user == "" && qr != nil {
		user = qr.Username
	}
	pass := f.sec2Pass
	if pass == "" && (scheme == 2 || user != "") {
		pass = pop
	}
	switch scheme {
	case 2:
		sec.Sec2Username, sec.Sec2Password = user, pass
	case 1:
		sec.Pop = pop
		if fs.Changed("sec2_username") || fs.Changed("sec2_password") {
			return nil, usageErr("--sec2_username/--sec2_password need Security 2 (--sec_ver 2)")
		}
	case 0:
		if fs.Changed("sec2_username") || fs.Changed("sec2_password") {
			return nil, usageErr("--sec2_username/--sec2_password need Security 2 (--sec_ver 2)")
		}
	default:
		sec.Pop = pop
		if user != "" {
			sec.Sec2Username, sec.Sec2Password = user, pass
		}
	}
	return sec, nil
}

// timeoutFlags bound the waits.
type timeoutFlags struct {
	overall    time.Duration
	exchange   time.Duration
	wifi       time.Duration
	statusPoll time.Duration
}

func (f *timeoutFlags) register(fs *pflag.FlagSet, withWifi bool) {
	fs.DurationVar(&f.overall, "timeout", 3*time.Minute, "limit for the whole operation")
	fs.DurationVar(&f.exchange, "exchange-timeout", 10*time.Second, "limit for one request/response with the device")
	if withWifi {
		fs.DurationVar(&f.wifi, "wifi-timeout", 60*time.Second, "limit for the device to join Wi-Fi after the credentials were applied")
		fs.DurationVar(&f.statusPoll, "status-poll", 0, "longest interval between Wi-Fi status polls, from 10ms doubling (default: at most 50ms apart for 4s, then 500ms; at least 50ms)")
	}
}

func (f *timeoutFlags) build() (*espprovv1.Timeouts, error) {
	for _, c := range []struct {
		name string
		v    time.Duration
	}{{"--timeout", f.overall}, {"--exchange-timeout", f.exchange}, {"--wifi-timeout", f.wifi}} {
		if c.v < 0 || c.v > time.Hour {
			return nil, usageErr("%s must be between 0 and 1h (got %s)", c.name, c.v)
		}
	}
	t := &espprovv1.Timeouts{Overall: durationpb.New(f.overall), Exchange: durationpb.New(f.exchange)}
	if f.wifi > 0 {
		t.WifiConnect = durationpb.New(f.wifi)
	}
	if f.statusPoll != 0 {
		if f.statusPoll < 50*time.Millisecond {
			return nil, usageErr("--status-poll must be at least 50ms (got %s)", f.statusPoll)
		}
		t.StatusPoll = durationpb.New(f.statusPoll)
	}
	return t, nil
}

// describeDevice names the device for "Looking for ..." lines.
func describeDevice(d *espprovv1.Device) string {
	switch d.GetTransport() {
	case espprovv1.Transport_TRANSPORT_BLE:
		return d.GetName()
	case espprovv1.Transport_TRANSPORT_CONSOLE:
		return d.GetSerialPort()
	}
	return d.GetAddress()
}

func fmtSeconds(f float64) string { return fmt.Sprintf("%gs", f) }
