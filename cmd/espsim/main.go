// Command espsim runs simulated ESP32 devices that speak ESP-IDF protocomm
// over HTTP (the softAP/httpd transport), byte-compatible with firmware using
// wifi_provisioning, so esp_prov, phone apps and espprov can provision them.
//
// Defaults follow current firmware: Security 2 with sec_patch_ver 1, SRP
// username "wifiprov" and password "abcd1234" (the ESP-IDF example
// credentials), a 1 s connect delay and auto-stop after success.
//
//	espsim --ap home:secretpass --ap guest:
//	esp_prov.py --transport httpd --service_name 127.0.0.1:8080 \
//	    --sec_ver 2 --sec2_username wifiprov --sec2_pwd abcd1234 \
//	    --ssid home --passphrase secretpass
//
// # ESP-IDF 6 (network_provisioning, Thread)
//
// --netprov makes network_provisioning devices (proto-ver "netprov-v1.2",
// the network_* messages; Security 2 by default, like IDF 6). Each
// --thread-dataset HEX is a Thread network in range (its active
// operational dataset); a device given a dataset with a wrong network key
// never attaches and reports ThreadNetworkNotFound after
// --thread-attach-timeout (firmware: 20 s). --netprov-networks chooses
// what the device offers (default: thread with --thread-dataset, wifi with
// --ap or without --thread-dataset).
//
//	espsim --netprov --thread-dataset 000300000f0102face0208dead00beef00cafe051000112233445566778899aabbccddeeff
//	espprov provision --transport httpd --device-ip 127.0.0.1 --device-port 8080 \
//	    --sec_ver 2 --sec2_username wifiprov --sec2_password abcd1234 \
//	    --dataset 000300000f0102face0208dead00beef00cafe051000112233445566778899aabbccddeeff
//
// # RainMaker
//
// --cloud-listen serves a simulated ESP RainMaker cloud (the REST API paths
// of the real one) with one account, --cloud-user (default
// maker@example.com) with --cloud-password (default makerpass). The
// simulated cloud can only listen on 127.0.0.1 with an ephemeral port for
// now, so the only accepted value is 127.0.0.1:0; espsim prints the URL.
//
// --rainmaker chal-resp or traditional installs a RainMaker node on every
// device, with an RSA-2048 (--key-type rsa, default) or ECDSA P-256
// (--key-type ec) key whose public half is registered with the cloud.
// Challenge-response devices list rmaker_extra ch_resp in proto-ver and sign
// the cloud's challenge; traditional devices take the user id and secret key
// on cloud_user_assoc and report them to the cloud once they joined Wi-Fi.
// --needs-claim advertises an unclaimed node (rmaker claim), which firmware
// and espprov refuse to map.
//
// --on-network standalone or local-ctrl (with --rainmaker chal-resp) also
// serves each device's on-network challenge-response service on
// --on-network-listen (default 127.0.0.1:0; firmware uses :80 and :8080),
// announced as _esp_rmaker_chal_resp._tcp over multicast DNS unless
// --no-mdns is given.
//
// A RainMaker device and the cloud, mapped with the espprov CLI:
//
//	espsim --ap home:secretpass --cloud-listen 127.0.0.1:0 --rainmaker chal-resp
//	# prints: RainMaker cloud on http://127.0.0.1:PORT/v1/ (account maker@example.com)
//	echo makerpass | espprov login --email maker@example.com --password-stdin --base-url http://127.0.0.1:PORT/v1/
//	espprov provision --transport httpd --device-ip 127.0.0.1 --device-port 8080 \
//	    --sec_ver 2 --sec2_username wifiprov --sec2_password abcd1234 \
//	    --ssid home --passphrase secretpass
//
// The same device mapped over the network, without Wi-Fi provisioning:
//
//	espsim --cloud-listen 127.0.0.1:0 --rainmaker chal-resp \
//	    --on-network standalone --on-network-listen 127.0.0.1:8081 --no-mdns
//	espprov map --device-ip 127.0.0.1 --device-port 8081 \
//	    --sec_ver 2 --sec2_username wifiprov --sec2_password abcd1234
//
// # Fault injection
//
// --fault [DEVICES=]KIND@STEP[xN] makes devices misbehave once (or N times)
// at one step: drop (the exchange is dropped), stall (never answered),
// garbage, truncate (half the reply), key-length (a public key of the wrong
// length in the handshake), nonce (a reply encrypted with the wrong IV
// counter) at proto-ver, session-0, session-1, set-config, apply-config,
// get-status, scan, ctrl or an application endpoint; auth-error, not-found
// or slow (--slow-association) at wifi. DEVICES is a list of fleet indexes
// (0,3) or */N for every N-th device. --cloud-fault 5xx:N, 401:N or
// timeout:DURATION makes the simulated cloud fail.
//
//	espsim --fleet 20 --fault '*/10=drop@set-config' --fault 3=stall@session-1
//
// espsim prints one line for the cloud and one per device (name, address,
// node id, RainMaker mode, on-network address); never a password, PoP or key.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/espprov/espprov/internal/sim/device"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "espsim:", err)
		os.Exit(2)
	}
}

// defaultSRPPassword is the Security 2 password of the ESP-IDF
// wifi_prov_mgr example, used when --sec2-password is not given.
const defaultSRPPassword = "abcd1234"

// apFlag collects repeatable --ap SSID:PASSPHRASE values.
type apFlag struct{ aps []device.AP }

func (a *apFlag) String() string {
	names := make([]string, len(a.aps))
	for i, ap := range a.aps {
		names[i] = ap.SSID // never the passphrase
	}
	return strings.Join(names, ",")
}

func (a *apFlag) Set(v string) error {
	ssid, pass, ok := strings.Cut(v, ":")
	if !ok {
		return errors.New("want SSID:PASSPHRASE (SSID: for an open network)")
	}
	if ssid == "" {
		return errors.New("empty SSID")
	}
	// Spread the simulated APs over channels and signal strengths.
	n := len(a.aps)
	a.aps = append(a.aps, device.AP{SSID: ssid, Passphrase: pass, Channel: 1 + (n*5)%13, RSSI: -40 - 7*(n%8)})
	return nil
}

type options struct {
	listen       string
	secVer       int
	secPatchVer  int
	pop          string
	srpUser      string
	srpPass      string
	aps          apFlag
	connectDelay time.Duration
	name         string
	nodeID       string
	fleetN       int
	connAttempts int
	noAutoStop   bool
	stationIP    string
	nagle        bool
	customEPs    customFlag
	np           netprovOptions

	// RainMaker (see rainmaker.go).
	cloudListen     string
	cloudUser       string
	cloudPass       string
	rainmaker       string
	keyType         string
	needsClaim      bool
	onNetwork       string
	onNetworkListen string
	noMDNS          bool

	// Fault injection (see faults.go).
	faults          faultFlag
	slowAssociation time.Duration
	cloudFaults     cloudFaultFlag

	// BLE peripheral (see ble.go).
	ble bleOptions
}

func parseFlags(args []string, out io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("espsim", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&o.listen, "http-listen", "127.0.0.1:8080", "HTTP listen address HOST:PORT (port 0: ephemeral)")
	fs.IntVar(&o.secVer, "sec-ver", 2, "protocomm security scheme 0, 1 or 2 (firmware default 2)")
	fs.IntVar(&o.secPatchVer, "sec-patch-ver", -1, "Security 2 patch level 0 (pre-fix firmware) or 1 (default for --sec-ver 2)")
	fs.StringVar(&o.pop, "pop", "", "Security 1 proof of possession (empty: no_pop)")
	fs.StringVar(&o.srpUser, "sec2-username", device.DefaultSRPUsername, "Security 2 SRP username")
	fs.StringVar(&o.srpPass, "sec2-password", "", "Security 2 SRP password (default: the ESP-IDF example password)")
	fs.Var(&o.aps, "ap", "access point in range, SSID:PASSPHRASE split at the first colon (SSID: = open); repeatable")
	fs.DurationVar(&o.connectDelay, "connect-delay", device.DefaultConnectDelay, "association time: from ApplyConfig to each connection attempt's outcome (0: instant)")
	fs.StringVar(&o.name, "name", "", "service name (default PROV_ + last MAC bytes)")
	fs.StringVar(&o.nodeID, "node-id", "", "RainMaker node id (default the MAC)")
	fs.IntVar(&o.fleetN, "fleet", 1, "number of devices, on consecutive ports from the listen port")
	fs.IntVar(&o.connAttempts, "wifi-conn-attempts", 0, "connection attempts before failing (0: unlimited, firmware default)")
	fs.BoolVar(&o.noAutoStop, "no-auto-stop", false, "keep provisioning running after success (enables CtrlReprov)")
	fs.StringVar(&o.stationIP, "station-ip", "", "IPv4 address reported when connected (single device)")
	fs.BoolVar(&o.nagle, "nagle", false, "answer like esp_http_server on lwIP: each HTTP reply in two TCP writes (headers, then body) with Nagle on and delayed ACKs (default: one write, Nagle off)")
	fs.Var(&o.customEPs, "custom-endpoint", "application endpoint NAME (like wifi_prov_mgr_endpoint_create); it answers \""+customReplyPrefix+"\" + the request; repeatable")
	addRainMakerFlags(fs, o)
	addFaultFlags(fs, o)
	addNetProvFlags(fs, &o.np)
	addBLEFlags(fs, o)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	switch o.secVer {
	case 0, 1, 2:
	default:
		return nil, fmt.Errorf("--sec-ver %d: want 0, 1 or 2", o.secVer)
	}
	switch {
	case o.secPatchVer == -1 && o.secVer == 2:
		o.secPatchVer = 1
	case o.secPatchVer == -1:
		o.secPatchVer = 0
	case o.secPatchVer != 0 && o.secPatchVer != 1:
		return nil, fmt.Errorf("--sec-patch-ver %d: want 0 or 1", o.secPatchVer)
	case o.secPatchVer == 1 && o.secVer != 2:
		return nil, errors.New("--sec-patch-ver 1 needs --sec-ver 2")
	}
	if set["pop"] && o.secVer != 1 {
		return nil, errors.New("--pop needs --sec-ver 1")
	}
	if (set["sec2-username"] || set["sec2-password"]) && o.secVer != 2 {
		return nil, errors.New("--sec2-username/--sec2-password need --sec-ver 2")
	}
	if o.secVer == 2 {
		if o.srpUser == "" {
			return nil, errors.New("--sec2-username must not be empty")
		}
		if o.srpPass == "" && set["sec2-password"] {
			return nil, errors.New("--sec2-password must not be empty")
		}
		if o.srpPass == "" {
			o.srpPass = defaultSRPPassword
		}
	}
	if o.fleetN < 1 {
		return nil, fmt.Errorf("--fleet %d: want at least 1", o.fleetN)
	}
	if o.fleetN > 1 && (o.name != "" || o.nodeID != "" || o.stationIP != "") {
		return nil, errors.New("--name, --node-id and --station-ip need --fleet 1 (fleet devices get their own identities)")
	}
	switch {
	case o.connectDelay < 0:
		return nil, fmt.Errorf("--connect-delay %v: want >= 0", o.connectDelay)
	case o.connectDelay == 0:
		o.connectDelay = time.Nanosecond // the first status read sees the outcome
	}
	if o.connAttempts < 0 {
		return nil, fmt.Errorf("--wifi-conn-attempts %d: want >= 0", o.connAttempts)
	}
	_, port, err := net.SplitHostPort(o.listen)
	if err != nil {
		return nil, fmt.Errorf("--http-listen %q: %w", o.listen, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return nil, fmt.Errorf("--http-listen %q: bad port", o.listen)
	}
	if p != 0 && p+o.fleetN-1 > 65535 {
		return nil, fmt.Errorf("--fleet %d from port %d exceeds 65535", o.fleetN, p)
	}
	if err := checkRainMakerFlags(o, set); err != nil {
		return nil, err
	}
	if err := checkFaultFlags(o); err != nil {
		return nil, err
	}
	if err := checkNetProvFlags(&o.np, len(o.aps.aps) > 0, set); err != nil {
		return nil, err
	}
	if err := checkBLEFlags(o, set); err != nil {
		return nil, err
	}
	return o, nil
}

// run starts the devices described by args, prints one line per device and
// serves until ctx is done.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	o, err := parseFlags(args, stdout)
	if err != nil {
		return err
	}
	host, portStr, _ := net.SplitHostPort(o.listen)
	port, _ := strconv.Atoi(portStr)
	tmpl := device.Config{
		Name:             o.name,
		NodeID:           o.nodeID,
		SecVer:           o.secVer,
		SecPatchVer:      o.secPatchVer,
		PoP:              o.pop,
		APs:              o.aps.aps,
		ConnectDelay:     o.connectDelay,
		WifiConnAttempts: o.connAttempts,
		StationIP:        o.stationIP,
		NoAutoStop:       o.noAutoStop,
	}
	if o.secVer == 2 {
		tmpl.SRPUsername, tmpl.SRPPassword = o.srpUser, o.srpPass
	}
	o.np.apply(&tmpl)
	s, err := startSim(ctx, o, tmpl, host, port)
	if err != nil {
		return err
	}
	defer s.close()
	s.print(stdout)
	<-ctx.Done()
	if err := s.close(); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "espsim: stopped")
	return nil
}
