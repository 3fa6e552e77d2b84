package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	simcloud "github.com/espprov/espprov/internal/sim/cloud"
	"github.com/espprov/espprov/internal/sim/device"
	simhttpd "github.com/espprov/espprov/internal/sim/httpd"
	simrmaker "github.com/espprov/espprov/internal/sim/rmaker"
)

// TestCloudMetrics: a provisioning with RainMaker mapping through espprovd
// (server account in the config file) shows up in the cloud call metrics,
// and neither the account password nor the device secrets reach the logs.
func TestCloudMetrics(t *testing.T) {
	const cloudPass = "cloud-Secret-7731"
	cloud := simcloud.New(simcloud.Options{})
	defer cloud.Close()
	cloud.AddUser("maker@example.com", cloudPass)
	dev, err := device.New(device.Config{SecVer: 2, SecPatchVer: 1, SRPUsername: e2eUser, SRPPassword: e2eSRPPass,
		APs: []device.AP{{SSID: e2eSSID, Passphrase: e2ePass, Channel: 6, RSSI: -40}}, ConnectDelay: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	node, err := simrmaker.NewNode(simrmaker.Options{NodeID: dev.Config().NodeID, KeyType: simrmaker.KeyECP256, ChalResp: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := node.Register(dev); err != nil {
		t.Fatal(err)
	}
	cloud.RegisterNode(node.NodeID(), node.PublicKey())
	sim, err := simhttpd.Listen("127.0.0.1:0", dev, simhttpd.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()

	cfg := t.TempDir() + "/espprovd.yaml"
	writeFile(t, cfg, "rainmaker-url: "+cloud.URL()+"\nrainmaker-user: maker@example.com\nrainmaker-password: "+cloudPass+"\nmetrics-open: true\n")
	d := startDaemon(t, "--config", cfg)
	ctx, cancel := context.WithTimeout(context.Background(), e2eWaitLong)
	defer cancel()
	req := provisionRequest(sim.Addr().String())
	req.Mapping = &espprovv1.Mapping{Enabled: true}
	last, err := provisionGRPC(ctx, dial(t, d.grpc), req)
	if err != nil || !last.GetResult().GetSuccess() || !last.GetResult().GetMapped() {
		t.Fatalf("provision with mapping: %v %v", last, err)
	}
	code, text := get(t, "http://"+d.http+"/metrics", "")
	if code != http.StatusOK {
		t.Fatalf("/metrics (metrics-open): %d", code)
	}
	for _, want := range []string{
		`espprov_cloud_request_duration_seconds_count{endpoint="login2",outcome="2xx"} 1`,
		`espprov_cloud_request_duration_seconds_count{endpoint="user/nodes/mapping/initiate",outcome="2xx"} 1`,
		`espprov_cloud_request_duration_seconds_count{endpoint="user/nodes/mapping/verify",outcome="2xx"} 1`,
		`espprov_provisions_total{result="OK",scheme="sec2",transport="httpd"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, grepLines(text, "espprov_cloud"))
		}
	}
	if err := d.shutdown(); err != nil {
		t.Fatal(err)
	}
	checkLogs(t, d, []string{cloudPass, e2ePass, e2eSRPPass})
}
