package httpd_test

import (
	"context"
	"testing"
	"time"

	"github.com/espprov/espprov/internal/sim/device"
	simhttpd "github.com/espprov/espprov/internal/sim/httpd"
	"github.com/espprov/espprov/transports/httpd"
)

// BenchmarkExchangeNagle measures one proto-ver exchange against a device
// that answers in one write (fast) or like esp_http_server on lwIP (nagle:
// headers, then body, Nagle on), with the client's quick-ACK on (default)
// or off. Against the Nagle device a client without quick-ACK waits for its
// own delayed ACK (~40 ms) on every request.
func BenchmarkExchangeNagle(b *testing.B) {
	for _, dev := range []struct {
		name  string
		nagle bool
	}{{"device=fast", false}, {"device=nagle", true}} {
		for _, cl := range []struct {
			name    string
			noQuick bool
		}{{"client=quickack", false}, {"client=plain", true}} {
			b.Run(dev.name+"/"+cl.name, func(b *testing.B) {
				d, err := device.New(device.Config{SecVer: 0})
				if err != nil {
					b.Fatal(err)
				}
				srv, err := simhttpd.Listen("127.0.0.1:0", d, simhttpd.Options{Nagle: dev.nagle})
				if err != nil {
					b.Fatal(err)
				}
				defer srv.Close()
				ctx := context.Background()
				tr, err := httpd.Dial(ctx, srv.Addr().String(), httpd.Options{NoQuickAck: cl.noQuick, ExchangeTimeout: 10 * time.Second})
				if err != nil {
					b.Fatal(err)
				}
				defer tr.Close()
				b.ResetTimer()
				for b.Loop() {
					if _, err := tr.Exchange(ctx, "proto-ver", []byte("---")); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
