package provisioning_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/sim/device"
	simhttpd "github.com/espprov/espprov/internal/sim/httpd"
)

// rawListener answers every connection with reply and closes it.
func rawListener(t *testing.T, reply string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				_, _ = c.Read(buf)
				_, _ = c.Write([]byte(reply))
			}()
		}
	}()
	return l.Addr().String()
}

// TestErrorClasses: each misleading error of issue 14 item 6 gets the
// right class and a message that says what is wrong.
func TestErrorClasses(t *testing.T) {
	h := startServer(t)
	sec2 := startDevice(t, device.Config{SecVer: 2, SRPUsername: "wifiprov", SRPPassword: "abcd1234"}, simhttpd.Options{})
	sec1 := startDevice(t, device.Config{SecVer: 1, PoP: testPoP}, simhttpd.Options{})
	html := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html><body>Router admin</body></html>"))
	}))
	t.Cleanup(html.Close)
	jsonAPI := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"status":"ok","uptime":12}`))
	}))
	t.Cleanup(jsonAPI.Close)
	notFound := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(notFound.Close)
	garbage := rawListener(t, "SSH-2.0-OpenSSH_9.6\r\n")
	httpd := func(addr string) *espprovv1.Device {
		return &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_HTTPD, Address: addr}
	}
	tests := []struct {
		name string
		dev  *espprovv1.Device
		sec  *espprovv1.Security
		code codes.Code
		want []string
	}{
		{"Security 1 asked of a Security 2 device", httpd(sec2.addr), &espprovv1.Security{Scheme: espprovv1.SecurityScheme_SECURITY_SCHEME_1, Pop: testPoP},
			codes.FailedPrecondition, []string{"Security 2", "Security 1 was requested", "sec_ver"}},
		{"Security 2 asked of a Security 1 device", httpd(sec1.addr), &espprovv1.Security{Scheme: espprovv1.SecurityScheme_SECURITY_SCHEME_2, Sec2Username: "wifiprov", Sec2Password: "abcd1234"},
			codes.FailedPrecondition, []string{"Security 1", "Security 2 was requested"}},
		{"HTML web server", httpd(strings.TrimPrefix(html.URL, "http://")), nil, codes.Unavailable, []string{"not an ESP provisioning endpoint"}},
		{"HTML web server, Security 1 requested", httpd(strings.TrimPrefix(html.URL, "http://")), &espprovv1.Security{Scheme: espprovv1.SecurityScheme_SECURITY_SCHEME_1, Pop: testPoP},
			codes.Unavailable, []string{"not an ESP provisioning endpoint"}},
		{"JSON web API", httpd(strings.TrimPrefix(jsonAPI.URL, "http://")), nil, codes.Unavailable, []string{"not an ESP provisioning endpoint"}},
		{"HTTP server without proto-ver", httpd(strings.TrimPrefix(notFound.URL, "http://")), nil, codes.Unavailable, []string{"not an ESP provisioning endpoint"}},
		{"not HTTP at all", httpd(garbage), nil, codes.Unavailable, []string{"not an ESP provisioning endpoint"}},
		{"NUL in the address", httpd("127.0.0.1\x00.evil:80"), nil, codes.InvalidArgument, []string{"device.address"}},
		{"NUL in the port", httpd("127.0.0.1:8\x000"), nil, codes.InvalidArgument, []string{"device.address"}},
		{"space in the host", httpd("my device:80"), nil, codes.InvalidArgument, []string{"device.address"}},
		{"NUL in an on-network address", &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_ON_NETWORK, Address: "node\x00.local"}, nil, codes.InvalidArgument, []string{"device.address"}},
		{"NUL in a serial port", &espprovv1.Device{Transport: espprovv1.Transport_TRANSPORT_CONSOLE, SerialPort: "/dev/ttyUSB0\x00"}, nil, codes.InvalidArgument, []string{"serial_port"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.client.ScanWifi(context.Background(), &espprovv1.ScanWifiRequest{Device: tc.dev, Security: tc.sec, Timeouts: fastTimeouts()})
			msg := status.Convert(err).Message()
			if status.Code(err) != tc.code {
				t.Fatalf("%v, want %v", err, tc.code)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q lacks %q", msg, w)
				}
			}
			for _, bad := range []string{"pass security.pop", "is it powered", "check that the device is powered"} {
				if strings.Contains(msg, bad) {
					t.Errorf("misleading message %q", msg)
				}
			}
		})
	}
	if st := sec2.dev.Stats(); st.Exchanges["prov-session"] != 0 {
		t.Errorf("a mismatched scheme started a handshake: %+v", st)
	}
}
