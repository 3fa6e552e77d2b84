// Package validate checks every field of an espprov.v1 request against the
// limits of the firmware and the cloud, without any I/O. The service runs
// it before contacting anything (InvalidArgument), and the CLI runs the
// same checks on its flags before it connects (exit code 2), so both refuse
// the same input with the same words.
package validate

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
)

// ErrInvalid marks every error of this package.
var ErrInvalid = errors.New("invalid request")

// Error names the field and what is wrong with it; its message never
// contains a secret's value.
type Error struct {
	Field string
	Msg   string
}

func (e *Error) Error() string { return e.Field + ": " + e.Msg }

// Is makes errors.Is(err, ErrInvalid) true.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

func bad(field, format string, args ...any) error {
	return &Error{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Limits (bytes unless noted). SSID and passphrase are the provisioning
// manager's (prov-config refuses an SSID over 32 bytes and a passphrase
// over 63: its buffers are 32 and 64 bytes with a terminating NUL; the SSID
// is cut at the first NUL).
const (
	MaxSSID        = 32
	MinPassphrase  = 8
	MaxPassphrase  = 63
	MaxPoP         = 128
	MaxSRPUsername = 64
	MaxSRPPassword = 128
	MaxDeviceName  = 64
	MaxHostName    = 253
	MaxSerialPort  = 1024
	MaxTags        = 32
	MaxTag         = 256
	MaxMetadata    = 16 << 10 // as JSON
)

// Bounds of a duration field; zero (or unset) means the default.
type Bounds struct{ Min, Max time.Duration }

// Durations are the accepted ranges of every duration field.
var Durations = map[string]Bounds{
	"timeouts.exchange":        {100 * time.Millisecond, 10 * time.Minute},
	"timeouts.overall":         {5 * time.Second, time.Hour},
	"timeouts.wifi_connect":    {time.Second, 30 * time.Minute}, // the firmware starts connecting 1 s after apply
	"timeouts.status_poll":     {10 * time.Millisecond, time.Minute},
	"timeouts.thread_attach":   {time.Second, 30 * time.Minute},
	"device.discovery_timeout": {100 * time.Millisecond, 10 * time.Minute},
	"timeout":                  {100 * time.Millisecond, 10 * time.Minute}, // Discover
	"mapping.poll_interval":    {10 * time.Millisecond, 5 * time.Minute},
	"mapping.max_wait":         {time.Second, time.Hour},
}

// Duration checks field's value d (0 = default, allowed).
func Duration(field string, d time.Duration) error {
	b, ok := Durations[field]
	switch {
	case d < 0:
		return bad(field, "must not be negative (got %s)", d)
	case d == 0 || !ok:
		return nil
	case d < b.Min || d > b.Max:
		return bad(field, "must be between %s and %s, or unset for the default (got %s)", b.Min, b.Max, d)
	}
	return nil
}

type protoDuration interface{ AsDuration() time.Duration }

func pdur(field string, d protoDuration, isNil bool) error {
	if isNil {
		return nil
	}
	return Duration(field, d.AsDuration())
}

// Timeouts checks every field of t (nil is fine: defaults).
func Timeouts(t *espprovv1.Timeouts) error {
	for _, f := range []struct {
		name string
		d    protoDuration
		nil  bool
	}{
		{"timeouts.exchange", t.GetExchange(), t.GetExchange() == nil},
		{"timeouts.overall", t.GetOverall(), t.GetOverall() == nil},
		{"timeouts.wifi_connect", t.GetWifiConnect(), t.GetWifiConnect() == nil},
		{"timeouts.status_poll", t.GetStatusPoll(), t.GetStatusPoll() == nil},
		{"timeouts.thread_attach", t.GetThreadAttach(), t.GetThreadAttach() == nil},
	} {
		if err := pdur(f.name, f.d, f.nil); err != nil {
			return err
		}
	}
	return nil
}

// controlChar returns the first control character of s, or -1.
func controlChar(s string) rune {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return r
		}
	}
	return -1
}

// Text checks a free-text field: at most max bytes, no control characters
// (a NUL would cut it short in the firmware's C strings). secret fields
// never echo the value.
func Text(field, s string, max int, secret bool) error {
	if len(s) > max {
		return bad(field, "is %d bytes long; at most %d", len(s), max)
	}
	if r := controlChar(s); r >= 0 {
		if secret {
			return bad(field, "contains a control character (%U)", r)
		}
		return bad(field, "%q contains a control character (%U)", s, r)
	}
	return nil
}

// SSID: 1 to 32 bytes, no NUL.
func SSID(ssid string) error {
	switch {
	case ssid == "":
		return bad("wifi.ssid", "is required (1 to %d bytes)", MaxSSID)
	case len(ssid) > MaxSSID:
		return bad("wifi.ssid", "is %d bytes long; Wi-Fi allows at most %d", len(ssid), MaxSSID)
	case strings.IndexByte(ssid, 0) >= 0:
		return bad("wifi.ssid", "contains a NUL byte (the device would cut the SSID there)")
	}
	return nil
}

// Passphrase: empty (open network), 8 to 63 printable ASCII characters.
// A 64-hex-digit PSK is refused: the provisioning manager accepts at most
// 63 bytes (its buffer ends with a NUL), so it could never be applied.
func Passphrase(p string) error {
	const field = "wifi.passphrase"
	switch n := len(p); {
	case n == 0:
		return nil
	case n == 64:
		if _, err := hex.DecodeString(p); err == nil {
			return bad(field, "is a 64-hex-digit PSK, which the ESP provisioning manager does not accept (at most 63 characters): give the passphrase itself")
		}
		return bad(field, "is 64 characters long; at most %d", MaxPassphrase)
	case n < MinPassphrase || n > MaxPassphrase:
		return bad(field, "must be %d to %d characters (got %d), or empty for an open network", MinPassphrase, MaxPassphrase, n)
	}
	for i := 0; i < len(p); i++ {
		if p[i] < 0x20 || p[i] > 0x7e {
			return bad(field, "must be printable ASCII (WPA2 passphrase rules): character %d is not", i+1)
		}
	}
	return nil
}

// Wifi checks the credentials.
func Wifi(w *espprovv1.WifiCredentials) error {
	if err := SSID(w.GetSsid()); err != nil {
		return err
	}
	return Passphrase(w.GetPassphrase())
}

// Security checks the PoP and the Security 2 credentials.
func Security(s *espprovv1.Security) error {
	if err := Text("security.pop", s.GetPop(), MaxPoP, true); err != nil {
		return err
	}
	if err := Text("security.sec2_username", s.GetSec2Username(), MaxSRPUsername, false); err != nil {
		return err
	}
	if u := s.GetSec2Username(); u != "" && !utf8.ValidString(u) {
		return bad("security.sec2_username", "is not valid UTF-8")
	}
	return Text("security.sec2_password", s.GetSec2Password(), MaxSRPPassword, true)
}

// Host checks an IP address (IPv6 without brackets, optional %zone) or a
// DNS host name.
func Host(field, host string) error {
	if host == "" {
		return bad(field, "has no host")
	}
	if r := controlChar(host); r >= 0 {
		return bad(field, "%q contains a control character (%U)", host, r)
	}
	ip, zone, _ := strings.Cut(host, "%")
	if net.ParseIP(ip) != nil {
		if strings.ContainsAny(zone, " /\\") {
			return bad(field, "%q has an invalid zone", host)
		}
		return nil
	}
	if len(host) > MaxHostName {
		return bad(field, "host name is %d bytes long; at most %d", len(host), MaxHostName)
	}
	for _, label := range strings.Split(strings.TrimSuffix(host, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return bad(field, "%q is not a valid IP address or host name", host)
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return bad(field, "%q is not a valid IP address or host name", host)
			}
		}
	}
	return nil
}

// Port checks a decimal port 1..65535.
func Port(field, port string) error {
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
		return bad(field, "port must be a number from 1 to 65535 (got %q)", port)
	}
	return nil
}

// HostPort checks "host:port" ("[IPv6]:port").
func HostPort(field, addr string) error {
	if r := controlChar(addr); r >= 0 {
		return bad(field, "%q contains a control character (%U)", addr, r)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return bad(field, "%q is not host:port (IPv6 as [addr]:port)", addr)
	}
	if err := Host(field, host); err != nil {
		return err
	}
	return Port(field, port)
}

// HostOptionalPort checks "host", "host:port", "IPv6" or "[IPv6]:port".
func HostOptionalPort(field, addr string) error {
	if r := controlChar(addr); r >= 0 {
		return bad(field, "%q contains a control character (%U)", addr, r)
	}
	if host, port, err := net.SplitHostPort(addr); err == nil {
		if err := Host(field, host); err != nil {
			return err
		}
		return Port(field, port)
	}
	return Host(field, strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]"))
}

// Device checks the generic fields of a device target; transport modules
// check their own rules (required fields, defaults) on top.
func Device(d *espprovv1.Device) error {
	if err := Text("device.address", d.GetAddress(), MaxHostName+8, false); err != nil {
		return err
	}
	if a := d.GetAddress(); a != "" {
		var err error
		if d.GetTransport() == espprovv1.Transport_TRANSPORT_ON_NETWORK {
			err = HostOptionalPort("device.address", a)
		} else if d.GetTransport() == espprovv1.Transport_TRANSPORT_SOFTAP || d.GetTransport() == espprovv1.Transport_TRANSPORT_HTTPD {
			err = HostPort("device.address", a)
		}
		if err != nil {
			return err
		}
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{
		{"device.name", d.GetName(), MaxDeviceName},
		{"device.name_prefix", d.GetNamePrefix(), MaxDeviceName},
		{"device.adapter", d.GetAdapter(), MaxDeviceName},
		{"device.serial_port", d.GetSerialPort(), MaxSerialPort},
	} {
		if err := Text(f.name, f.v, f.max, false); err != nil {
			return err
		}
	}
	return pdur("device.discovery_timeout", d.GetDiscoveryTimeout(), d.GetDiscoveryTimeout() == nil)
}

// Tags: key:value, non-empty key and value, bounded count and size.
func Tags(tags []string) error {
	if len(tags) > MaxTags {
		return bad("mapping.tags", "%d tags; at most %d", len(tags), MaxTags)
	}
	for _, t := range tags {
		if err := Text("mapping.tags", t, MaxTag, false); err != nil {
			return err
		}
		k, v, ok := strings.Cut(t, ":")
		if !ok || strings.TrimSpace(k) == "" || strings.TrimSpace(v) == "" {
			return bad("mapping.tags", "invalid tag format '%s'. Tags must be in key:value format", t)
		}
	}
	return nil
}

// Metadata: a JSON object of bounded size.
func Metadata(m map[string]any) error {
	if len(m) == 0 {
		return nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return bad("mapping.metadata", "cannot be sent as JSON: %v", err)
	}
	if len(b) > MaxMetadata {
		return bad("mapping.metadata", "is %d bytes as JSON; at most %d", len(b), MaxMetadata)
	}
	return nil
}

// Mapping checks tags, metadata and the mapping durations.
func Mapping(m *espprovv1.Mapping) error {
	if err := Tags(m.GetTags()); err != nil {
		return err
	}
	if m.GetMetadata() != nil {
		if err := Metadata(m.GetMetadata().AsMap()); err != nil {
			return err
		}
	}
	if err := pdur("mapping.poll_interval", m.GetPollInterval(), m.GetPollInterval() == nil); err != nil {
		return err
	}
	return pdur("mapping.max_wait", m.GetMaxWait(), m.GetMaxWait() == nil)
}

// Bounds of a job's labels (ProvisionRequest.labels, UpdateJobLabels and
// station profiles alike).
const (
	MaxLabels     = 16
	MaxLabelKey   = 64
	MaxLabelValue = 256
)

// Label checks one label: a key of 1 to MaxLabelKey characters of UTF-8
// without '=', ';' or line breaks, and a value of at most MaxLabelValue
// characters of UTF-8 on one line.
func Label(k, v string) error {
	if k == "" || len(k) > MaxLabelKey || !utf8.ValidString(k) || strings.ContainsAny(k, "\r\n\x00=;") {
		return bad("labels", "key %q must be 1 to %d characters without '=', ';' or line breaks", k, MaxLabelKey)
	}
	if len(v) > MaxLabelValue || !utf8.ValidString(v) || strings.ContainsAny(v, "\r\n\x00") {
		return bad("labels", "the value of %q must be at most %d characters on one line", k, MaxLabelValue)
	}
	return nil
}
