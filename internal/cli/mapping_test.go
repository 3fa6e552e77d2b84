package cli

import (
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	simcloud "github.com/espprov/espprov/internal/sim/cloud"
	"github.com/espprov/espprov/internal/sim/device"
	simonnetwork "github.com/espprov/espprov/internal/sim/onnetwork"
	simrmaker "github.com/espprov/espprov/internal/sim/rmaker"
)

const (
	cloudUser = "maker@example.com"
	cloudPass = "cloud-Secret-123"
)

// nodeSeq gives every simulated RainMaker device its own node id.
var nodeSeq int

type rmDev struct {
	*simDev
	node *simrmaker.Node
}

// startRMDevice is a Security 1 RainMaker device known to the cloud.
func startRMDevice(t *testing.T, cloud *simcloud.Cloud, chalResp bool) *rmDev {
	t.Helper()
	var online atomic.Pointer[simrmaker.Node] // set after the device already serves
	nodeSeq++
	cfg := device.Config{SecVer: 1, PoP: testPoP, NodeID: "NODE" + strconv.Itoa(nodeSeq) + "x", OnConnected: func() {
		if n := online.Load(); n != nil {
			n.Online(cloud)
		}
	}}
	d := startDevice(t, cfg)
	node := simrmaker.Install(d.dev, simrmaker.Options{NodeID: d.dev.Config().NodeID, ChalResp: chalResp})
	online.Store(node)
	cloud.RegisterNode(node.NodeID(), node.PublicKey())
	return &rmDev{simDev: d, node: node}
}

// loggedIn signs in with the real login command and returns the env.
func loggedIn(t *testing.T, cloud *simcloud.Cloud) []string {
	t.Helper()
	env := []string{"XDG_CONFIG_HOME=" + t.TempDir()}
	r := runCLI(t, env, cloudPass+"\n", "login", "--email", cloudUser, "--password-stdin", "--base-url", cloud.URL())
	if r.code != 0 {
		t.Fatalf("login: exit %d: %s", r.code, r.stderr)
	}
	return env
}

// TestMappingGolden provisions RainMaker devices while logged in, in
// process and through --server (the tokens travel as call metadata).
func TestMappingGolden(t *testing.T) {
	cloud := simcloud.New(simcloud.Options{})
	t.Cleanup(cloud.Close)
	userID := cloud.AddUser(cloudUser, cloudPass)
	env := loggedIn(t, cloud)
	remote := startServer(t)

	tests := []struct {
		name     string
		chalResp bool
		onNet    bool
		args     []string
		code     int
		mapped   bool
		disabled bool
		prep     func()
	}{
		{name: "map_chresp_wifi", chalResp: true, args: httpdArgs("--pop", testPoP, "--ssid", testSSID, "--passphrase", testPass, "--tags", "location:pune,floor:2", "--metadata", `{"line":"A3"}`), mapped: true},
		{name: "map_chresp_disable", chalResp: true, args: httpdArgs("--pop", testPoP, "--ssid", testSSID, "--passphrase", testPass, "--disable-chal-resp"), mapped: true, disabled: true},
		{name: "map_traditional_wifi", args: httpdArgs("--pop", testPoP, "--ssid", testSSID, "--passphrase", testPass, "--tags", "location:pune,floor:2", "--metadata", `{"line":"A3"}`, "--mapping-poll-interval", "20ms", "--mapping-timeout", "5s"), mapped: true},
		{name: "map_no_wifi", chalResp: true, args: httpdArgs("--pop", testPoP, "--no-wifi"), mapped: true},
		{name: "map_no_wifi_traditional_device", args: httpdArgs("--pop", testPoP, "--no-wifi"), code: ExitDevice},
		{name: "map_onnetwork_device_ip", chalResp: true, onNet: true, args: []string{"provision", "--transport", "on-network", "--device-ip", "127.0.0.1", "--device-port", "{port}", "--pop", testPoP, "--tags", "esp.location:office"}, mapped: true, disabled: true},
		{name: "map_onnetwork_keep_chal_resp", chalResp: true, onNet: true, args: []string{"provision", "--transport", "on-network", "--device-host", "127.0.0.1", "--device-port", "{port}", "--pop", testPoP, "--no-disable-chal-resp"}, mapped: true},
		{name: "map_command_onnetwork", chalResp: true, onNet: true, args: []string{"map", "--device-ip", "127.0.0.1", "--device-port", "{port}", "--pop", testPoP}, mapped: true, disabled: true},
		{name: "map_cloud_down", chalResp: true, args: httpdArgs("--pop", testPoP, "--ssid", testSSID, "--passphrase", testPass), code: ExitCloud, prep: func() { cloud.FailNext(20, 503) }},
	}
	for _, tc := range tests {
		for _, mode := range []string{"local", "remote"} {
			t.Run(tc.name+"/"+mode, func(t *testing.T) {
				d := startRMDevice(t, cloud, tc.chalResp)
				port := d.port
				if tc.onNet {
					svc, err := simonnetwork.Start(context.Background(), d.dev, simonnetwork.Options{NodeID: d.node.NodeID(), Security: 1,
						PoP: []byte(testPoP), ListenAddr: "127.0.0.1:0", NoMDNS: true, ChalRespDisabled: d.node.Disabled})
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { _ = svc.Close() })
					port = strconv.Itoa(svc.Port())
				}
				var args []string
				if mode == "remote" {
					args = append(args, "--server", remote)
				}
				for _, a := range tc.args {
					args = append(args, strings.ReplaceAll(a, "{port}", port))
				}
				if tc.prep != nil {
					tc.prep()
					t.Cleanup(func() { cloud.FailNext(0, 0) })
				}
				r := runCLI(t, env, "", args...)
				if r.code != tc.code {
					t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, tc.code, r.stdout, r.stderr)
				}
				n, ok := cloud.Node(d.node.NodeID())
				if mapped := ok && n.UserID == userID; mapped != tc.mapped {
					t.Errorf("node mapped = %t, want %t (%+v)", mapped, tc.mapped, n)
				}
				if d.node.Disabled() != tc.disabled {
					t.Errorf("challenge-response disabled = %t, want %t", d.node.Disabled(), tc.disabled)
				}
				for _, secret := range []string{testPass, testPoP, cloudPass} {
					if strings.Contains(r.stdout+r.stderr, secret) {
						t.Errorf("secret %q printed", secret)
					}
				}
				checkGolden(t, tc.name, strings.ReplaceAll(transcript(r), d.node.NodeID(), "<node_id>"))
			})
		}
	}
}
