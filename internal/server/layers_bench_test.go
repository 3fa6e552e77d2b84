package server

import (
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/server/auth"
	"github.com/espprov/espprov/internal/server/logging"
	"github.com/espprov/espprov/internal/server/metrics"
	"github.com/espprov/espprov/internal/sim/device"
	simhttpd "github.com/espprov/espprov/internal/sim/httpd"
	"github.com/espprov/espprov/services/provisioning"
)

// BenchmarkProvisionLayers: one Security 0 provisioning of a fast simulated
// device through gRPC, bare versus with every production layer (token auth
// against 50 tokens, request ids, JSON access logs, metrics). The difference
// is what the layers cost per call.
func BenchmarkProvisionLayers(b *testing.B) {
	for _, layers := range []bool{false, true} {
		name := "bare"
		if layers {
			name = "auth+logs+metrics"
		}
		b.Run(name, func(b *testing.B) {
			dev, err := device.New(device.Config{SecVer: 0, APs: []device.AP{{SSID: "bench", Passphrase: "bench-pass"}},
				ConnectDelay: time.Nanosecond, NoAutoStop: true})
			if err != nil {
				b.Fatal(err)
			}
			sim, err := simhttpd.Listen("127.0.0.1:0", dev, simhttpd.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer sim.Close()
			o := Options{GRPCListen: "127.0.0.1:0", Service: provisioning.New(provisioning.Config{Modules: provisioning.DefaultModules()})}
			ctx := b.Context()
			if layers {
				path := filepath.Join(b.TempDir(), "tokens.yaml")
				var tok string
				for i := range 50 {
					if tok, err = auth.CreateToken(path, "t"+string(rune('a'+i%26))+string(rune('a'+i/26)), []auth.Scope{auth.ScopeProvision}, time.Now()); err != nil {
						b.Fatal(err)
					}
				}
				a, err := auth.NewAuthenticator(path)
				if err != nil {
					b.Fatal(err)
				}
				log, err := logging.New(io.Discard, "json", "info")
				if err != nil {
					b.Fatal(err)
				}
				o.Guard, o.Metrics, o.Logger = &auth.Guard{Auth: a}, metrics.New(), log
				ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
			} else {
				o.Logger = slog.New(slog.DiscardHandler)
			}
			srv, err := Start(ctx, o)
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Shutdown(b.Context())
			conn, err := grpc.NewClient(srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			c := espprovv1.NewProvisioningServiceClient(conn)
			req := &espprovv1.ProvisionRequest{Device: &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_HTTPD, Address: sim.Addr().String()},
				Wifi: &espprovv1.WifiCredentials{Ssid: "bench", Passphrase: "bench-pass"}}
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				dev.Reset()
				b.StartTimer()
				st, err := c.Provision(ctx, req)
				if err != nil {
					b.Fatal(err)
				}
				for {
					_, err := st.Recv()
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
