package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/server"
)

// fakeService counts the calls that reach it. ScanWifi refuses a request
// without a device; Provision streams a first event, waits hold, then ends.
type fakeService struct {
	espprovv1.UnimplementedProvisioningServiceServer
	calls atomic.Int32
	hold  atomic.Int64 // time.Duration
}

func (f *fakeService) ScanWifi(_ context.Context, req *espprovv1.ScanWifiRequest) (*espprovv1.ScanWifiResponse, error) {
	f.calls.Add(1)
	if req.GetDevice() == nil {
		return nil, status.Error(codes.InvalidArgument, "fake: device is required")
	}
	return &espprovv1.ScanWifiResponse{}, nil
}

func (f *fakeService) Provision(req *espprovv1.ProvisionRequest, stream grpc.ServerStreamingServer[espprovv1.ProvisionResponse]) error {
	f.calls.Add(1)
	if req.GetDevice() == nil {
		return status.Error(codes.InvalidArgument, "fake: device is required")
	}
	if err := stream.Send(&espprovv1.ProvisionResponse{Step: espprovv1.Step_STEP_CONNECTING}); err != nil {
		return err
	}
	select {
	case <-time.After(time.Duration(f.hold.Load())):
	case <-stream.Context().Done():
		return stream.Context().Err()
	}
	if req.GetNoWifi() {
		return status.Error(codes.FailedPrecondition, "fake: failed after the first event")
	}
	return stream.Send(&espprovv1.ProvisionResponse{Step: espprovv1.Step_STEP_RESULT, Result: &espprovv1.Result{Success: true}})
}

type gw struct {
	srv  *server.Server
	svc  *fakeService
	base string
}

func startGW(t *testing.T, o server.Options) *gw {
	t.Helper()
	svc := &fakeService{}
	svc.hold.Store(int64(10 * time.Millisecond))
	o.GRPCListen, o.HTTPListen, o.Service = "127.0.0.1:0", "127.0.0.1:0", svc
	srv, err := server.Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return &gw{srv: srv, svc: svc, base: "http://" + srv.HTTPAddr()}
}

type restErr struct {
	Error struct {
		Code    int    `json:"code"`
		Status  string `json:"status"`
		Message string `json:"message"`
	} `json:"error"`
}

// do sends one request and returns the status, headers and body.
func (g *gw) do(t *testing.T, method, path, body string, hdr map[string]string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, g.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func decodeErr(t *testing.T, body string) restErr {
	t.Helper()
	var e restErr
	if err := json.Unmarshal([]byte(strings.SplitN(strings.TrimSpace(body), "\n", 2)[0]), &e); err != nil || e.Error.Status == "" || e.Error.Message == "" {
		t.Fatalf("not the REST error shape {\"error\":{code,status,message}}: %q (%v)", body, err)
	}
	return e
}

const jsonCT = "application/json"

// TestRESTCrossSite: a cross-site or DNS-rebinding request never reaches the
// service; a wrong method gets 405 with Allow; OPTIONS is answered.
func TestRESTCrossSite(t *testing.T) {
	g := startGW(t, server.Options{HTTP: server.HTTPOptions{AllowedOrigins: []string{"https://mes.example:8443"}, AllowedHosts: []string{"station.example"}}})
	scan := "/v1/devices:scanWifi"
	refused := []struct {
		name   string
		method string
		hdr    map[string]string
		status int
		code   string
	}{
		{"text/plain from a foreign origin", "POST", map[string]string{"Content-Type": "text/plain", "Origin": "http://evil.example"}, 403, "PERMISSION_DENIED"},
		{"json from a foreign origin", "POST", map[string]string{"Content-Type": jsonCT, "Origin": "http://evil.example"}, 403, "PERMISSION_DENIED"},
		{"foreign origin, foreign Host (rebinding)", "POST", map[string]string{"Content-Type": jsonCT, "Origin": "http://evil.example", "Host": "evil.example"}, 403, "PERMISSION_DENIED"},
		{"rebinding page calling itself", "POST", map[string]string{"Content-Type": jsonCT, "Origin": "http://evil.example:80", "Host": "evil.example:80"}, 403, "PERMISSION_DENIED"},
		{"foreign Host without Origin", "POST", map[string]string{"Content-Type": jsonCT, "Host": "evil.example"}, 403, "PERMISSION_DENIED"},
		{"null origin", "POST", map[string]string{"Content-Type": jsonCT, "Origin": "null"}, 403, "PERMISSION_DENIED"},
		{"browser cross-site without Origin", "POST", map[string]string{"Content-Type": jsonCT, "Sec-Fetch-Site": "cross-site"}, 403, "PERMISSION_DENIED"},
		{"text/plain", "POST", map[string]string{"Content-Type": "text/plain"}, 415, "INVALID_ARGUMENT"},
		{"form", "POST", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415, "INVALID_ARGUMENT"},
		{"no content type", "POST", nil, 415, "INVALID_ARGUMENT"},
		{"GET", "GET", nil, 405, "UNIMPLEMENTED"},
		{"DELETE", "DELETE", map[string]string{"Content-Type": jsonCT}, 405, "UNIMPLEMENTED"},
		{"preflight from a foreign origin", "OPTIONS", map[string]string{"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"}, 403, "PERMISSION_DENIED"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			code, hdr, body := g.do(t, tc.method, scan, `{"device":{"transport":"TRANSPORT_HTTPD","address":"127.0.0.1:1"}}`, tc.hdr)
			if code != tc.status {
				t.Fatalf("HTTP %d, want %d: %s", code, tc.status, body)
			}
			if e := decodeErr(t, body); e.Error.Status != tc.code {
				t.Fatalf("status %q, want %q", e.Error.Status, tc.code)
			}
			if code == 405 && hdr.Get("Allow") != "OPTIONS, POST" {
				t.Fatalf("Allow = %q, want \"OPTIONS, POST\"", hdr.Get("Allow"))
			}
			if hdr.Get("Access-Control-Allow-Origin") != "" {
				t.Fatal("a refused origin got CORS headers")
			}
		})
	}
	if n := g.svc.calls.Load(); n != 0 {
		t.Fatalf("%d refused requests reached the service", n)
	}

	allowed := []struct {
		name string
		hdr  map[string]string
		cors bool
	}{
		{"no Origin (curl, generated clients)", map[string]string{"Content-Type": jsonCT}, false},
		{"json with charset", map[string]string{"Content-Type": "application/json; charset=utf-8"}, false},
		{"same origin page", map[string]string{"Content-Type": jsonCT, "Origin": g.base, "Sec-Fetch-Site": "same-origin"}, false},
		{"configured origin", map[string]string{"Content-Type": jsonCT, "Origin": "https://mes.example:8443"}, true},
		{"configured host name", map[string]string{"Content-Type": jsonCT, "Host": "station.example:8090"}, false},
		{"localhost", map[string]string{"Content-Type": jsonCT, "Host": "localhost"}, false},
	}
	for _, tc := range allowed {
		t.Run("allowed: "+tc.name, func(t *testing.T) {
			before := g.svc.calls.Load()
			code, hdr, body := g.do(t, "POST", scan, `{"device":{"transport":"TRANSPORT_HTTPD","address":"127.0.0.1:1"}}`, tc.hdr)
			if code != 200 || g.svc.calls.Load() != before+1 {
				t.Fatalf("HTTP %d (calls %d→%d): %s", code, before, g.svc.calls.Load(), body)
			}
			if got := hdr.Get("Access-Control-Allow-Origin"); (got != "") != tc.cors {
				t.Fatalf("Access-Control-Allow-Origin = %q", got)
			}
		})
	}

	t.Run("preflight from a configured origin", func(t *testing.T) {
		code, hdr, body := g.do(t, "OPTIONS", scan, "", map[string]string{"Origin": "https://mes.example:8443",
			"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type,grpc-metadata-x-rainmaker-refresh-token"})
		if code != 204 || hdr.Get("Access-Control-Allow-Origin") != "https://mes.example:8443" ||
			!strings.Contains(hdr.Get("Access-Control-Allow-Methods"), "POST") || !strings.Contains(hdr.Get("Access-Control-Allow-Headers"), "content-type") {
			t.Fatalf("HTTP %d %v %s", code, hdr, body)
		}
	})
	t.Run("OPTIONS without Origin lists the methods", func(t *testing.T) {
		code, hdr, _ := g.do(t, "OPTIONS", scan, "", nil)
		if code != 204 || hdr.Get("Allow") != "OPTIONS, POST" {
			t.Fatalf("HTTP %d Allow %q", code, hdr.Get("Allow"))
		}
		code, hdr, _ = g.do(t, "OPTIONS", "/openapi.json", "", nil)
		if code != 204 || hdr.Get("Allow") != "GET, HEAD, OPTIONS" {
			t.Fatalf("/openapi.json: HTTP %d Allow %q", code, hdr.Get("Allow"))
		}
	})
}

// TestRESTErrorShape: decode errors, service errors and stream errors all
// come as {"error":{"code":N,"status":"NAME","message":...}}.
func TestRESTErrorShape(t *testing.T) {
	g := startGW(t, server.Options{})
	ct := map[string]string{"Content-Type": jsonCT}
	tests := []struct {
		name, path, body string
		httpStatus       int
		code             int
		status           string
	}{
		{"truncated JSON", "/v1/devices:scanWifi", `{"device":`, 400, 3, "INVALID_ARGUMENT"},
		{"unknown field", "/v1/devices:scanWifi", `{"devise":{}}`, 400, 3, "INVALID_ARGUMENT"},
		{"service error", "/v1/devices:scanWifi", `{}`, 400, 3, "INVALID_ARGUMENT"},
		{"stream error before the first event", "/v1/devices:provision", `{}`, 400, 3, "INVALID_ARGUMENT"},
		{"unknown path", "/v1/devices:explode", `{}`, 404, 5, "NOT_FOUND"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, hdr, body := g.do(t, "POST", tc.path, tc.body, ct)
			e := decodeErr(t, body)
			if code != tc.httpStatus || e.Error.Code != tc.code || e.Error.Status != tc.status || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
				t.Fatalf("HTTP %d %s, want %d with code %d %s", code, body, tc.httpStatus, tc.code, tc.status)
			}
		})
	}
	t.Run("stream error after the first event", func(t *testing.T) {
		code, _, body := g.do(t, "POST", "/v1/devices:provision", `{"device":{"transport":"TRANSPORT_HTTPD","address":"127.0.0.1:1"},"noWifi":true}`, ct)
		lines := strings.Split(strings.TrimSpace(body), "\n")
		if code != 200 || len(lines) != 2 {
			t.Fatalf("HTTP %d %q", code, body)
		}
		if e := decodeErr(t, lines[1]); e.Error.Status != "FAILED_PRECONDITION" || e.Error.Code != 9 {
			t.Fatalf("last line %s", lines[1])
		}
	})
}

// TestRESTBodyAndHeaderCaps: oversize bodies get 413 before they are read,
// oversize headers 431; gRPC caps messages and metadata.
func TestRESTBodyAndHeaderCaps(t *testing.T) {
	g := startGW(t, server.Options{HTTP: server.HTTPOptions{MaxBodyBytes: 4096}})
	t.Run("declared length", func(t *testing.T) {
		// Only the headers are sent: the answer must come without the body.
		c := dialGW(t, g)
		_, _ = io.WriteString(c, "POST /v1/devices:scanWifi HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 209715200\r\n\r\n")
		resp := readResponse(t, c)
		if resp.StatusCode != 413 {
			t.Fatalf("HTTP %d, want 413", resp.StatusCode)
		}
		decodeErr(t, readBody(t, resp))
	})
	t.Run("chunked body", func(t *testing.T) {
		big := `{"device":{"name":"` + strings.Repeat("x", 8192) + `"}}`
		req, _ := http.NewRequest("POST", g.base+"/v1/devices:scanWifi", io.MultiReader(strings.NewReader(big)))
		req.Header.Set("Content-Type", jsonCT)
		req.ContentLength = -1
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 413 {
			t.Fatalf("HTTP %d, want 413", resp.StatusCode)
		}
		decodeErr(t, readBody(t, resp))
	})
	t.Run("header", func(t *testing.T) {
		code, _, _ := g.do(t, "POST", "/v1/devices:scanWifi", "{}", map[string]string{"Content-Type": jsonCT, "X-Big": strings.Repeat("y", 100<<10)})
		if code != 431 {
			t.Fatalf("HTTP %d, want 431", code)
		}
	})
	if n := g.svc.calls.Load(); n != 0 {
		t.Fatalf("%d oversize requests reached the service", n)
	}

	conn, err := grpc.NewClient(g.srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := espprovv1.NewProvisioningServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err = client.ScanWifi(ctx, &espprovv1.ScanWifiRequest{Device: &espprovv1.Device{Name: strings.Repeat("x", 2<<20)}})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("2 MiB gRPC request: %v, want ResourceExhausted", err)
	}
	hctx := metadata.AppendToOutgoingContext(ctx, "x-big", strings.Repeat("y", 1<<20))
	_, err = client.ScanWifi(hctx, &espprovv1.ScanWifiRequest{Device: &espprovv1.Device{}})
	if err == nil || status.Code(err) == codes.OK {
		t.Fatalf("1 MiB of gRPC metadata accepted: %v", err)
	}
	if n := g.svc.calls.Load(); n != 0 {
		t.Fatalf("%d oversize gRPC calls reached the service", n)
	}
	// A normal call still works on the same connection.
	if _, err := client.ScanWifi(ctx, &espprovv1.ScanWifiRequest{Device: &espprovv1.Device{}}); err != nil {
		t.Fatalf("normal call after the refusals: %v", err)
	}
}

func dialGW(t *testing.T, g *gw) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", g.srv.HTTPAddr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	return c
}

func readResponse(t *testing.T, c net.Conn) *http.Response {
	t.Helper()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no response: %v", err)
	}
	return resp
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// closedWithin waits until the server closes c (after any response) and
// returns how long it took; it fails after limit.
func closedWithin(t *testing.T, c net.Conn, limit time.Duration) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(limit))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server kept the connection open for %s", limit)
	}
}

// TestRESTTimeoutsAndConnectionBound: stalled headers, stalled bodies and
// idle keep-alive connections are closed; connections are bounded; a long
// streaming response is not cut.
func TestRESTTimeoutsAndConnectionBound(t *testing.T) {
	short := 300 * time.Millisecond
	g := startGW(t, server.Options{HTTP: server.HTTPOptions{ReadHeaderTimeout: short, BodyReadTimeout: short, IdleTimeout: short, MaxConns: 3}})
	// The defaults of espprovd are 10 s, 30 s and 2 min; with the 300 ms
	// configured here, 8 s is a generous bound even on a loaded machine,
	// and far below "never".
	const limit = 8 * time.Second
	t.Run("stalled headers", func(t *testing.T) {
		c := dialGW(t, g)
		_, _ = io.WriteString(c, "POST /v1/devices:scanWifi HTTP/1.1\r\nHost: 127.0.0.1\r\n")
		closedWithin(t, c, limit)
	})
	t.Run("stalled body", func(t *testing.T) {
		c := dialGW(t, g)
		_, _ = io.WriteString(c, "POST /v1/devices:scanWifi HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"device\":")
		_ = c.SetReadDeadline(time.Now().Add(limit))
		resp := readResponse(t, c)
		if resp.StatusCode != 408 {
			t.Fatalf("HTTP %d, want 408", resp.StatusCode)
		}
		closedWithin(t, c, limit)
	})
	t.Run("idle keep-alive", func(t *testing.T) {
		c := dialGW(t, g)
		_, _ = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
		if resp := readResponse(t, c); resp.StatusCode != 200 {
			t.Fatalf("HTTP %d", resp.StatusCode)
		}
		closedWithin(t, c, limit)
	})
	t.Run("streaming response outlives the timeouts", func(t *testing.T) {
		g.svc.hold.Store(int64(4 * short))
		defer g.svc.hold.Store(int64(10 * time.Millisecond))
		code, _, body := g.do(t, "POST", "/v1/devices:provision", `{"device":{"transport":"TRANSPORT_HTTPD","address":"127.0.0.1:1"}}`, map[string]string{"Content-Type": jsonCT})
		if code != 200 || !strings.Contains(body, "STEP_RESULT") {
			t.Fatalf("HTTP %d %q", code, body)
		}
	})
}

// TestRESTConnectionBound: beyond MaxConns a client waits until a
// connection closes.
func TestRESTConnectionBound(t *testing.T) {
	g := startGW(t, server.Options{HTTP: server.HTTPOptions{MaxConns: 3}})
	const limit = 8 * time.Second
	{
		var held []net.Conn
		for range 3 {
			held = append(held, dialGW(t, g))
		}
		// All three are served (and then stay open, idle, holding their slots).
		for _, c := range held {
			_, _ = io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
			if resp := readResponse(t, c); resp.StatusCode != 200 {
				t.Fatalf("HTTP %d", resp.StatusCode)
			}
		}
		fourth := dialGW(t, g)
		_, _ = io.WriteString(fourth, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
		answered := make(chan int, 1)
		go func() {
			resp, err := http.ReadResponse(bufio.NewReader(fourth), nil)
			if err != nil {
				answered <- -1
				return
			}
			answered <- resp.StatusCode
		}()
		select {
		case code := <-answered:
			t.Fatalf("a fourth connection was served beyond MaxConns 3 (HTTP %d)", code)
		case <-time.After(100 * time.Millisecond):
		}
		held[0].Close()
		select {
		case code := <-answered:
			if code != 200 {
				t.Fatalf("fourth connection: HTTP %d", code)
			}
		case <-time.After(limit):
			t.Fatal("the fourth connection was not served after a slot was freed")
		}
	}
}

// TestOpenAPIInfo: the served OpenAPI document has a title and a version.
func TestOpenAPIInfo(t *testing.T) {
	g := startGW(t, server.Options{})
	code, _, body := g.do(t, "GET", "/openapi.json", "", nil)
	var doc struct {
		Info struct{ Title, Version, Description string } `json:"info"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil || code != 200 {
		t.Fatalf("HTTP %d: %v", code, err)
	}
	if doc.Info.Title != "espprov provisioning API" || doc.Info.Version != "v1" || !strings.Contains(doc.Info.Description, `"status"`) {
		t.Fatalf("info = %+v", doc.Info)
	}
}

// BenchmarkRESTUnary: one small REST call through the guard (Host, Origin,
// Content-Type, body read) and the gateway to a trivial service.
func BenchmarkRESTUnary(b *testing.B) {
	svc := &fakeService{}
	srv, err := server.Start(context.Background(), server.Options{GRPCListen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0", Service: svc})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = srv.Shutdown(context.Background()) }()
	url := "http://" + srv.HTTPAddr() + "/v1/devices:scanWifi"
	body := `{"device":{"transport":"TRANSPORT_HTTPD","address":"127.0.0.1:1"}}`
	b.ResetTimer()
	for b.Loop() {
		req, _ := http.NewRequest("POST", url, strings.NewReader(body))
		req.Header.Set("Content-Type", jsonCT)
		req.Header.Set("Origin", "http://"+srv.HTTPAddr())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("HTTP %d", resp.StatusCode)
		}
	}
}
