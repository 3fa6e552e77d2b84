// Package profiles holds station profiles: named provisioning presets kept
// on the server (espprovd --profiles FILE) that a ProvisionRequest picks
// with its profile field. A Set is loaded from a YAML file, reloaded
// atomically (SIGHUP), listed without secrets (ListProfiles) and applied to
// requests: every field a request leaves unset comes from the profile.
package profiles

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/thread"
	"github.com/espprov/espprov/internal/validate"
)

// File is the profiles file.
//
//	profiles:
//	  - name: line-1
//	    description: Line 1, fixture A
//	    transport: httpd              # softap, httpd, ble, console, on-network
//	    address: 192.168.4.1:80       # default device address
//	    addresses:                    # device name (QR "name") -> host:port
//	      PROV_0001: 10.0.7.11:80
//	    adapter: hci0                 # BLE
//	    security: 2                   # 0, 1, 2 or auto (default)
//	    sec2_username: wifiprov
//	    wifi:
//	      ssid: factory-net
//	      passphrase_file: /etc/espprov/factory-net.pass   # or passphrase: ...
//	    # thread: {dataset_file: /etc/espprov/thread.hex} # or dataset: HEX
//	    mapping:
//	      enabled: true
//	      cloud: ""                   # "" = the server's account; or a --cloud NAME
//	    work_order: WO-2026-118
//	    station: line-1-a
//	    labels: {line: "1"}
//	    timeouts: {exchange: 10s, overall: 3m, wifi_connect: 60s}
type File struct {
	Profiles []Entry `yaml:"profiles"`
}

// Entry is one profile as written in the file.
type Entry struct {
	Name        string            `yaml:"name"`
	Description string            `yaml:"description"`
	Transport   string            `yaml:"transport"`
	Address     string            `yaml:"address"`
	Addresses   map[string]string `yaml:"addresses"`
	Adapter     string            `yaml:"adapter"`
	Security    string            `yaml:"security"`
	Sec2User    string            `yaml:"sec2_username"`
	Wifi        *WifiEntry        `yaml:"wifi"`
	Thread      *ThreadEntry      `yaml:"thread"`
	Mapping     *MappingEntry     `yaml:"mapping"`
	WorkOrder   string            `yaml:"work_order"`
	Station     string            `yaml:"station"`
	Labels      map[string]string `yaml:"labels"`
	Timeouts    TimeoutsEntry     `yaml:"timeouts"`
}

// WifiEntry is the Wi-Fi network; the passphrase inline or in a file.
type WifiEntry struct {
	SSID           string `yaml:"ssid"`
	Passphrase     string `yaml:"passphrase"`
	PassphraseFile string `yaml:"passphrase_file"`
}

// ThreadEntry is the Thread active dataset (hex TLVs), inline or in a file.
type ThreadEntry struct {
	Dataset     string `yaml:"dataset"`
	DatasetFile string `yaml:"dataset_file"`
}

// MappingEntry turns RainMaker mapping on and names the cloud whose
// account is used ("" is the server's own).
type MappingEntry struct {
	Enabled bool   `yaml:"enabled"`
	Cloud   string `yaml:"cloud"`
}

// TimeoutsEntry are Go durations ("10s", "3m").
type TimeoutsEntry struct {
	Exchange      time.Duration `yaml:"exchange"`
	Overall       time.Duration `yaml:"overall"`
	WifiConnect   time.Duration `yaml:"wifi_connect"`
	ThreadAttach  time.Duration `yaml:"thread_attach"`
	StatusPollMax time.Duration `yaml:"status_poll"`
}

// Profile is a checked profile with its secrets read.
type Profile struct {
	Entry
	transport  espprovv1.Transport
	scheme     espprovv1.SecurityScheme
	passphrase string // the Wi-Fi passphrase (from the file or inline)
	dataset    string // Thread dataset hex
	threadName string
}

var nameRe = regexp.MustCompile(`^[A-Za-z0-9._:\-]{1,64}$`)

var transports = map[string]espprovv1.Transport{
	"softap": espprovv1.Transport_TRANSPORT_SOFTAP, "httpd": espprovv1.Transport_TRANSPORT_HTTPD,
	"ble": espprovv1.Transport_TRANSPORT_BLE, "console": espprovv1.Transport_TRANSPORT_CONSOLE,
	"on-network": espprovv1.Transport_TRANSPORT_ON_NETWORK,
}

var schemes = map[string]espprovv1.SecurityScheme{
	"": espprovv1.SecurityScheme_SECURITY_SCHEME_UNSPECIFIED, "auto": espprovv1.SecurityScheme_SECURITY_SCHEME_UNSPECIFIED,
	"0": espprovv1.SecurityScheme_SECURITY_SCHEME_0, "1": espprovv1.SecurityScheme_SECURITY_SCHEME_1, "2": espprovv1.SecurityScheme_SECURITY_SCHEME_2,
}

// Read reads and checks a profiles file. A file (or passphrase/dataset
// file) holding a secret must not be readable by other users. Errors name
// the file and the profile, never a secret.
func Read(path string) ([]*Profile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("profiles: %w", err)
	}
	f := &File{}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("profiles: %s: %w", path, err)
	}
	seen := map[string]bool{}
	out := make([]*Profile, 0, len(f.Profiles))
	inlineSecret := false
	for i, e := range f.Profiles {
		p, err := check(e)
		if err != nil {
			return nil, fmt.Errorf("profiles: %s: profile %d (%q): %w", path, i+1, e.Name, err)
		}
		if seen[p.Name] {
			return nil, fmt.Errorf("profiles: %s: profile name %q appears twice", path, p.Name)
		}
		seen[p.Name] = true
		inlineSecret = inlineSecret || (e.Wifi != nil && e.Wifi.Passphrase != "") || (e.Thread != nil && e.Thread.Dataset != "")
		out = append(out, p)
	}
	if inlineSecret {
		if err := private(path); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// private refuses a secret file that other users may read.
func private(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("profiles: %w", err)
	}
	if st.Mode().Perm()&0o004 != 0 {
		return fmt.Errorf("profiles: %s holds a secret and is readable by every user (mode %04o): chmod o-r %s", path, st.Mode().Perm(), path)
	}
	return nil
}

// secretFile reads a passphrase or dataset file (one line, trimmed).
func secretFile(path string) (string, error) {
	if err := private(path); err != nil {
		return "", err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("profiles: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

func check(e Entry) (*Profile, error) {
	p := &Profile{Entry: e}
	if !nameRe.MatchString(e.Name) {
		return nil, errors.New("name must be 1 to 64 letters, digits, '.', '_', ':' or '-'")
	}
	if e.Transport != "" {
		t, ok := transports[strings.ReplaceAll(strings.ToLower(e.Transport), "_", "-")]
		if !ok {
			return nil, fmt.Errorf("transport %q is not one of softap, httpd, ble, console, on-network", e.Transport)
		}
		p.transport = t
	}
	sc, ok := schemes[strings.ToLower(e.Security)]
	if !ok {
		return nil, fmt.Errorf("security %q is not 0, 1, 2 or auto", e.Security)
	}
	p.scheme = sc
	if e.Wifi != nil && e.Thread != nil {
		return nil, errors.New("set wifi or thread, not both")
	}
	if w := e.Wifi; w != nil {
		if w.Passphrase != "" && w.PassphraseFile != "" {
			return nil, errors.New("wifi: set passphrase or passphrase_file, not both")
		}
		p.passphrase = w.Passphrase
		if w.PassphraseFile != "" {
			s, err := secretFile(w.PassphraseFile)
			if err != nil {
				return nil, fmt.Errorf("wifi.passphrase_file: %w", err)
			}
			p.passphrase = s
		}
		if err := validate.Wifi(&espprovv1.WifiCredentials{Ssid: w.SSID, Passphrase: p.passphrase}); err != nil {
			return nil, fmt.Errorf("wifi: %w", err)
		}
	}
	if th := e.Thread; th != nil {
		if (th.Dataset == "") == (th.DatasetFile == "") {
			return nil, errors.New("thread: set dataset or dataset_file (one of them)")
		}
		p.dataset = th.Dataset
		if th.DatasetFile != "" {
			s, err := secretFile(th.DatasetFile)
			if err != nil {
				return nil, fmt.Errorf("thread.dataset_file: %w", err)
			}
			p.dataset = strings.TrimSpace(s)
		}
		ds, err := thread.ParseHex(p.dataset)
		if err != nil {
			return nil, errors.New("thread: the dataset is not valid hex TLVs (as `ot-ctl dataset active -x` prints)")
		}
		if err := ds.CheckComplete(); err != nil {
			return nil, fmt.Errorf("thread: %w", err)
		}
		p.threadName = ds.NetworkName
	}
	if m := e.Mapping; m != nil && strings.Contains(m.Cloud, "@") {
		return nil, errors.New("mapping.cloud must be a cloud name or URL without credentials")
	}
	if len(e.Labels) > validate.MaxLabels {
		return nil, fmt.Errorf("labels: at most %d (a job has at most %d labels; got %d)", validate.MaxLabels, validate.MaxLabels, len(e.Labels))
	}
	for k, v := range e.Labels {
		if err := validate.Label(k, v); err != nil {
			return nil, err
		}
	}
	if len(e.WorkOrder) > 128 || len(e.Station) > 128 || strings.ContainsAny(e.WorkOrder+e.Station, "\r\n\x00") {
		return nil, errors.New("work_order and station are at most 128 characters on one line")
	}
	for k, v := range e.Addresses {
		if k == "" || v == "" {
			return nil, errors.New("addresses: device names and addresses must not be empty")
		}
	}
	for _, d := range []time.Duration{e.Timeouts.Exchange, e.Timeouts.Overall, e.Timeouts.WifiConnect, e.Timeouts.ThreadAttach, e.Timeouts.StatusPollMax} {
		if d < 0 {
			return nil, errors.New("timeouts must not be negative")
		}
	}
	return p, nil
}
