package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/durationpb"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/server"
	"github.com/espprov/espprov/internal/sim/device"
	simhttpd "github.com/espprov/espprov/internal/sim/httpd"
	"github.com/espprov/espprov/services/provisioning"
)

// The embedded default: a Security 2 device (current firmware default) that
// sees three networks; the demo joins the first one.
const (
	demoUser     = "wifiprov"
	demoPassword = "abcd1234"
	demoSSID     = "espprov-demo"
	demoPass     = "demo-passphrase"
)

func runDemo(ctx context.Context, out io.Writer, log *slog.Logger) error {
	dev, err := device.New(device.Config{
		SecVer: 2, SecPatchVer: 1, SRPUsername: demoUser, SRPPassword: demoPassword,
		APs: []device.AP{
			{SSID: demoSSID, Passphrase: demoPass, Channel: 6, RSSI: -42},
			{SSID: "neighbour-net", Passphrase: "another-pass", Channel: 11, RSSI: -71},
			{SSID: "cafe-open", Channel: 1, RSSI: -80},
		},
		ConnectDelay: 500 * time.Millisecond,
	})
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	sim := simhttpd.New(dev, simhttpd.Options{})
	go func() { _ = sim.Serve(l) }()
	defer sim.Close()
	fmt.Fprintf(out, "simulated device %s (Security 2) at http://%s\n", dev.Name(), l.Addr())

	svc := provisioning.New(provisioning.Config{Modules: provisioning.DefaultModules(), Logger: log})
	srv, err := server.Start(ctx, server.Options{GRPCListen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0", Service: svc, Logger: log})
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	fmt.Fprintf(out, "espprovd: gRPC %s, REST http://%s\n", srv.GRPCAddr(), srv.HTTPAddr())

	conn, err := grpc.NewClient(srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	client := espprovv1.NewProvisioningServiceClient(conn)
	device := &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_HTTPD, Address: l.Addr().String()}
	sec := &espprovv1.Security{Sec2Username: demoUser, Sec2Password: demoPassword}
	timeouts := &espprovv1.Timeouts{StatusPoll: durationpb.New(250 * time.Millisecond)}

	fmt.Fprintln(out, "\nScanWifi:")
	scan, err := client.ScanWifi(ctx, &espprovv1.ScanWifiRequest{Device: device, Security: sec, Timeouts: timeouts})
	if err != nil {
		return fmt.Errorf("ScanWifi: %w", err)
	}
	for i, ap := range scan.GetAccessPoints() {
		fmt.Fprintf(out, "  [%d] %-20s %s ch %-2d %d dBm %s\n", i+1, ap.GetSsid(), ap.GetBssid(), ap.GetChannel(), ap.GetRssi(), ap.GetAuth())
	}

	fmt.Fprintf(out, "\nProvision (joining %q):\n", demoSSID)
	stream, err := client.Provision(ctx, &espprovv1.ProvisionRequest{
		Device: device, Security: sec, Timeouts: timeouts,
		Wifi: &espprovv1.WifiCredentials{Ssid: demoSSID, Passphrase: demoPass},
	})
	if err != nil {
		return err
	}
	for {
		ev, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("Provision: %w", err)
		}
		fmt.Fprintf(out, "  %-26s %s\n", ev.GetStep(), ev.GetMessage())
		if r := ev.GetResult(); r != nil && r.GetSuccess() {
			fmt.Fprintf(out, "\ndevice %s joined %q with IP %s\n", dev.Name(), r.GetSsid(), r.GetIp4Address())
		}
	}
	return nil
}
