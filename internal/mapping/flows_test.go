package mapping_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/espprov/espprov/internal/mapping"
	"github.com/espprov/espprov/internal/rainmaker"
	simcloud "github.com/espprov/espprov/internal/sim/cloud"
	simrmaker "github.com/espprov/espprov/internal/sim/rmaker"
	"github.com/espprov/espprov/transports"
)

// device is a plaintext in-memory Caller over the real simulated RainMaker
// handlers (the secure session is someone else's layer).
type device struct {
	mu        sync.Mutex
	endpoints map[string]func([]byte) ([]byte, error)
	calls     []string
	appInfo   []string
}

func (d *device) RegisterEndpoint(name string, h func([]byte) ([]byte, error)) error {
	if d.endpoints == nil {
		d.endpoints = map[string]func([]byte) ([]byte, error){}
	}
	d.endpoints[name] = h
	return nil
}

func (d *device) SetAppInfo(label, ver string, caps ...string) {
	d.appInfo = append(d.appInfo, label+":"+strings.Join(caps, ","))
}

func (d *device) Call(ctx context.Context, endpoint string, req []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.calls = append(d.calls, endpoint)
	h := d.endpoints[endpoint]
	d.mu.Unlock()
	if h == nil {
		return nil, fmt.Errorf("call %s: %w", endpoint, transports.ErrNoEndpoint)
	}
	resp, err := h(req)
	if err != nil {
		return nil, fmt.Errorf("call %s: %w", endpoint, transports.ErrClosed)
	}
	return resp, nil
}

func (d *device) Calls() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.calls...)
}

// capabilities derives the plain capability struct from what the simulated
// node advertised (the real code parses proto-ver JSON elsewhere).
func (d *device) capabilities() mapping.Capabilities {
	var c mapping.Capabilities
	for _, a := range d.appInfo {
		c.Claim = c.Claim || a == "rmaker:claim"
		c.ChResp = c.ChResp || strings.HasPrefix(a, "rmaker_extra:ch_resp")
		c.LocalCtrl = c.LocalCtrl || strings.HasSuffix(a, "local_ctrl")
	}
	return c
}

var (
	keyOnce sync.Once
	rsaKey  *rsa.PrivateKey
	ecKey   *ecdsa.PrivateKey
)

func keys() (*rsa.PrivateKey, *ecdsa.PrivateKey) {
	keyOnce.Do(func() {
		rsaKey, _ = rsa.GenerateKey(rand.Reader, 2048)
		ecKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	})
	return rsaKey, ecKey
}

const (
	userName = "factory@example.com"
	password = "Sup3r-Secret-Passw0rd"
)

type env struct {
	cloud  *simcloud.Cloud
	uid    string
	client *rainmaker.Client
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

var logSink = &syncBuf{}

func newEnv(t *testing.T, opts simcloud.Options) *env {
	t.Helper()
	cloud := simcloud.New(opts)
	t.Cleanup(cloud.Close)
	uid := cloud.AddUser(userName, password)
	c, err := rainmaker.New(rainmaker.Config{
		BaseURL: cloud.URL(), MaxAttempts: 3, Backoff: 5 * time.Millisecond, MaxBackoff: 10 * time.Millisecond,
		RequestTimeout: 2 * time.Second,
		Logger:         slog.New(slog.NewTextHandler(logSink, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}, rainmaker.Credentials{Username: userName, Password: password})
	if err != nil {
		t.Fatal(err)
	}
	return &env{cloud: cloud, uid: uid, client: c}
}

func newNode(t *testing.T, key crypto.Signer, opts simrmaker.Options) (*device, *simrmaker.Node) {
	t.Helper()
	d := &device{}
	opts.Key = key
	if opts.NodeID == "" {
		opts.NodeID = "AbCdEf0123456789node"
	}
	return d, simrmaker.Install(d, opts)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

type recorder struct {
	mu     sync.Mutex
	events []mapping.Event
}

func (r *recorder) add(e mapping.Event) { r.mu.Lock(); r.events = append(r.events, e); r.mu.Unlock() }

func TestChallengeResponseEndToEnd(t *testing.T) {
	rk, ek := keys()
	tests := []struct {
		name    string
		key     crypto.Signer
		disable bool
	}{
		{"RSA, keep enabled (BLE default)", rk, false},
		{"EC, disable (on-network default)", ek, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, simcloud.Options{})
			var disabledCalls int
			d, node := newNode(t, tc.key, simrmaker.Options{ChalResp: true, OnDisabled: func() { disabledCalls++ }})
			e.cloud.RegisterNode(node.NodeID(), node.PublicKey())
			flow, err := mapping.Plan(d.capabilities(), true)
			if err != nil || flow != mapping.FlowChallengeResponse {
				t.Fatalf("Plan = %v %v", flow, err)
			}
			md, _ := mapping.ParseMetadata(`{"serial":"SN-1","batch":7}`)
			rec := &recorder{}
			res, err := mapping.ChallengeResponse(ctxT(t), d, e.client, mapping.ChallengeOptions{
				Tags: []string{"location:pune", "line:3"}, Metadata: md, DisableOnSuccess: tc.disable,
			}, rec.add)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Mapped || res.NodeID != node.NodeID() || res.RequestID == "" || res.Disabled != tc.disable || res.DisableErr != nil {
				t.Fatalf("result %+v", res)
			}
			n, _ := e.cloud.Node(node.NodeID())
			b, _ := json.Marshal(n.Metadata)
			if n.UserID != e.uid || strings.Join(n.Tags, ",") != "location:pune,line:3" || string(b) != `{"batch":7,"serial":"SN-1"}` {
				t.Fatalf("cloud node %+v metadata %s", n, b)
			}
			if node.Disabled() != tc.disable || (disabledCalls == 1) != tc.disable {
				t.Fatalf("device disabled=%v callbacks=%d", node.Disabled(), disabledCalls)
			}
			wantCalls := "ch_resp"
			if tc.disable {
				wantCalls = "ch_resp,ch_resp"
			}
			if got := strings.Join(d.Calls(), ","); got != wantCalls {
				t.Fatalf("device calls %s, want %s", got, wantCalls)
			}
			last := rec.events[len(rec.events)-1]
			if last.Flow != mapping.FlowChallengeResponse || !last.Mapped || last.Disabled != tc.disable || last.NodeID != node.NodeID() {
				t.Fatalf("last event %+v", last)
			}
			// Disabling explicitly afterwards.
			already, err := mapping.DisableChalResp(ctxT(t), d)
			if err != nil || already != tc.disable {
				t.Fatalf("DisableChalResp = %v, %v; want already=%v", already, err, tc.disable)
			}
			already, err = mapping.DisableChalResp(ctxT(t), d)
			if err != nil || !already {
				t.Fatalf("second DisableChalResp = %v, %v; want already disabled", already, err)
			}
		})
	}
}

func TestChallengeResponseFailures(t *testing.T) {
	rk, ek := keys()
	tests := []struct {
		name      string
		setup     func(e *env, n *simrmaker.Node)
		opts      mapping.ChallengeOptions
		creds     *rainmaker.Credentials
		wantErr   error
		wantCloud bool // cloud contacted at all
	}{
		{"device disabled", func(e *env, n *simrmaker.Node) {
			e.cloud.RegisterNode(n.NodeID(), n.PublicKey())
			_, _ = n.HandleChalResp([]byte{0x08, 0x04})
		}, mapping.ChallengeOptions{}, nil, mapping.ErrChalRespDisabled, true},
		{"signature rejected (other key registered)", func(e *env, n *simrmaker.Node) {
			e.cloud.RegisterNode(n.NodeID(), rk.Public())
		}, mapping.ChallengeOptions{}, nil, mapping.ErrSignatureRejected, true},
		{"node unknown to cloud", func(e *env, n *simrmaker.Node) {}, mapping.ChallengeOptions{}, nil, mapping.ErrSignatureRejected, true},
		{"invalid tag, nothing sent", func(e *env, n *simrmaker.Node) {}, mapping.ChallengeOptions{Tags: []string{"nocolon"}}, nil, mapping.ErrInvalidTag, false},
		{"wrong password", func(e *env, n *simrmaker.Node) {}, mapping.ChallengeOptions{},
			&rainmaker.Credentials{Username: userName, Password: "wrong-" + password}, mapping.ErrCloudAuth, true},
		{"cloud 5xx beyond retries", func(e *env, n *simrmaker.Node) {
			e.cloud.RegisterNode(n.NodeID(), n.PublicKey())
			e.cloud.FailNext(10, 503)
		}, mapping.ChallengeOptions{}, nil, mapping.ErrCloudUnavailable, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, simcloud.Options{})
			client := e.client
			if tc.creds != nil {
				var err error
				client, err = rainmaker.New(rainmaker.Config{BaseURL: e.cloud.URL(), Backoff: time.Millisecond}, *tc.creds)
				if err != nil {
					t.Fatal(err)
				}
			}
			d, node := newNode(t, ek, simrmaker.Options{ChalResp: true})
			tc.setup(e, node)
			_, err := mapping.ChallengeResponse(ctxT(t), d, client, tc.opts, nil)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == mapping.ErrCloudUnavailable && errors.Is(err, mapping.ErrCloudAuth) {
				t.Fatalf("double classification: %v", err)
			}
			if got := len(e.cloud.Requests()) > 0; got != tc.wantCloud {
				t.Fatalf("cloud contacted = %v, want %v", got, tc.wantCloud)
			}
			if len(e.cloud.Mappings()) != 0 {
				t.Fatal("node mapped despite failure")
			}
			if strings.Contains(err.Error(), password) {
				t.Fatal("password in error")
			}
		})
	}
}

func TestTraditionalEndToEnd(t *testing.T) {
	_, ek := keys()
	tests := []struct {
		name       string
		cloudOpts  simcloud.Options
		discard    bool
		online     bool
		onlineLate time.Duration
		maxWait    time.Duration
		wantErr    error
		wantStatus []string
	}{
		{"confirmed (device online first)", simcloud.Options{}, false, true, 0, 2 * time.Second, nil, []string{"confirmed"}},
		{"confirmed after polling", simcloud.Options{}, false, true, 60 * time.Millisecond, 2 * time.Second, nil, []string{"requested", "confirmed"}},
		{"discarded", simcloud.Options{}, true, true, 0, 2 * time.Second, mapping.ErrMappingDiscarded, []string{"discarded"}},
		{"cloud timedout", simcloud.Options{MappingTimeout: 50 * time.Millisecond}, false, false, 0, 2 * time.Second, mapping.ErrMappingTimedOut, []string{"requested", "timedout"}},
		{"bounded wait", simcloud.Options{}, false, false, 0, 100 * time.Millisecond, mapping.ErrMappingTimedOut, []string{"requested"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.cloudOpts)
			e.cloud.DiscardMappings(tc.discard)
			d, node := newNode(t, ek, simrmaker.Options{})
			e.cloud.RegisterNode(node.NodeID(), nil)
			flow, err := mapping.Plan(d.capabilities(), false)
			if err != nil || flow != mapping.FlowTraditional {
				t.Fatalf("Plan = %v %v", flow, err)
			}
			if _, err := mapping.Plan(d.capabilities(), true); !errors.Is(err, mapping.ErrNoChalResp) {
				t.Fatalf("no-wifi on a traditional node: %v", err)
			}
			ctx := ctxT(t)
			uid, err := e.client.UserID(ctx)
			if err != nil {
				t.Fatal(err)
			}
			nodeID, secret, err := mapping.TraditionalAssociate(ctx, d, uid)
			if err != nil {
				t.Fatal(err)
			}
			if nodeID != node.NodeID() || len(secret) != 36 {
				t.Fatalf("node %q secret len %d", nodeID, len(secret))
			}
			if u, s, ok := node.UserMapping(); !ok || u != e.uid || s != secret {
				t.Fatal("device did not store the mapping")
			}
			// Wi-Fi success → the device comes online and publishes user/mapping.
			var wg sync.WaitGroup
			if tc.online {
				if tc.onlineLate == 0 {
					node.Online(e.cloud)
				} else {
					wg.Add(1)
					go func() {
						defer wg.Done()
						// Come online only after the client has seen "requested".
						deadline := time.Now().Add(5 * time.Second)
						for time.Now().Before(deadline) {
							polled := false
							for _, r := range e.cloud.Requests() {
								polled = polled || (r.Method == "GET" && r.Path == "/v1/user/nodes/mapping")
							}
							if polled {
								break
							}
							time.Sleep(5 * time.Millisecond)
						}
						time.Sleep(tc.onlineLate)
						node.Online(e.cloud)
					}()
				}
			}
			rec := &recorder{}
			rid, err := mapping.ConfirmTraditional(ctx, e.client, mapping.ConfirmRequest{
				UserID: uid, NodeID: nodeID, SecretKey: secret,
				Tags: []string{"site:a"}, Metadata: map[string]any{"k": "v"},
				PollInterval: 20 * time.Millisecond, MaxWait: tc.maxWait,
			}, rec.add)
			wg.Wait()
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if rid == "" {
				t.Fatal("no request id")
			}
			var statuses []string
			for _, ev := range rec.events {
				if ev.Flow != mapping.FlowTraditional || ev.NodeID != nodeID || ev.RequestID != rid {
					t.Fatalf("event %+v", ev)
				}
				if ev.RequestStatus != "" && (len(statuses) == 0 || statuses[len(statuses)-1] != ev.RequestStatus) {
					statuses = append(statuses, ev.RequestStatus)
				}
			}
			if strings.Join(statuses, ",") != strings.Join(tc.wantStatus, ",") {
				t.Fatalf("statuses %v, want %v", statuses, tc.wantStatus)
			}
			n, _ := e.cloud.Node(nodeID)
			if (tc.wantErr == nil) != (n.UserID == e.uid) {
				t.Fatalf("cloud node user %q", n.UserID)
			}
			if tc.wantErr == nil && (strings.Join(n.Tags, ",") != "site:a" || n.Metadata["k"] != "v") {
				t.Fatalf("tags/metadata %v %v", n.Tags, n.Metadata)
			}
		})
	}
}

func TestTraditionalDeviceErrors(t *testing.T) {
	_, ek := keys()
	// D9: no cloud_user_assoc endpoint (a ch_resp-only device driven down the traditional path).
	d, _ := newNode(t, ek, simrmaker.Options{ChalResp: true})
	if _, _, err := mapping.TraditionalAssociate(ctxT(t), d, "user"); !errors.Is(err, mapping.ErrNoMappingEndpoint) {
		t.Fatalf("missing endpoint: %v", err)
	}
	// Unclaimed node: refused before anything is sent.
	d, _ = newNode(t, ek, simrmaker.Options{NeedsClaim: true})
	if _, err := mapping.Plan(d.capabilities(), false); !errors.Is(err, mapping.ErrNotClaimed) || len(d.Calls()) != 0 {
		t.Fatalf("claim: %v calls %v", err, d.Calls())
	}
	// Empty user id is refused.
	d, _ = newNode(t, ek, simrmaker.Options{})
	if _, _, err := mapping.TraditionalAssociate(ctxT(t), d, ""); err == nil || len(d.Calls()) != 0 {
		t.Fatalf("empty user id: %v", err)
	}
	// No placeholder node id ever reaches the cloud.
	e := newEnv(t, simcloud.Options{})
	if _, err := mapping.ConfirmTraditional(ctxT(t), e.client, mapping.ConfirmRequest{UserID: e.uid, SecretKey: "k"}, nil); err == nil || len(e.cloud.Requests()) != 0 {
		t.Fatalf("empty node id: %v", err)
	}
}

// TestNoSecretsInLogsErrorsEvents runs every flow, including failures, with
// debug logging and checks that no password, token or secret key appears in
// the logs, errors or events.
func TestNoSecretsInLogsErrorsEvents(t *testing.T) {
	rk, ek := keys()
	e := newEnv(t, simcloud.Options{})
	ctx := ctxT(t)
	var texts []string
	rec := &recorder{}

	// Challenge-response success, then failures.
	d, node := newNode(t, ek, simrmaker.Options{ChalResp: true, NodeID: "cr-node"})
	e.cloud.RegisterNode(node.NodeID(), node.PublicKey())
	if _, err := mapping.ChallengeResponse(ctx, d, e.client, mapping.ChallengeOptions{DisableOnSuccess: true}, rec.add); err != nil {
		t.Fatal(err)
	}
	d2, node2 := newNode(t, ek, simrmaker.Options{ChalResp: true, NodeID: "cr-node-2"})
	e.cloud.RegisterNode(node2.NodeID(), rk.Public())
	_, err := mapping.ChallengeResponse(ctx, d2, e.client, mapping.ChallengeOptions{}, rec.add)
	texts = append(texts, fmt.Sprint(err))
	e.cloud.ExpireAccessTokens() // forces a refresh with the refresh token
	e.cloud.FailNext(5, 500)
	_, err = mapping.ChallengeResponse(ctx, d2, e.client, mapping.ChallengeOptions{}, rec.add)
	texts = append(texts, fmt.Sprint(err))

	// Traditional flow.
	d3, node3 := newNode(t, ek, simrmaker.Options{NodeID: "trad-node"})
	e.cloud.RegisterNode(node3.NodeID(), nil)
	uid, err := e.client.UserID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	nodeID, secret, err := mapping.TraditionalAssociate(ctx, d3, uid)
	if err != nil {
		t.Fatal(err)
	}
	node3.Online(e.cloud)
	if _, err := mapping.ConfirmTraditional(ctx, e.client, mapping.ConfirmRequest{UserID: uid, NodeID: nodeID, SecretKey: secret,
		PollInterval: 10 * time.Millisecond, MaxWait: time.Second}, rec.add); err != nil {
		t.Fatal(err)
	}
	// Bad credentials.
	bad, _ := rainmaker.New(rainmaker.Config{BaseURL: e.cloud.URL(), Logger: slog.New(slog.NewTextHandler(logSink, &slog.HandlerOptions{Level: slog.LevelDebug}))},
		rainmaker.Credentials{Username: userName, Password: "Wrong-" + password})
	_, err = bad.UserID(ctx)
	texts = append(texts, fmt.Sprint(err), fmt.Sprint(bad), fmt.Sprintf("%+v", e.client))

	tok, _ := e.cloud.Login(userName, password)
	secrets := []string{password, "Wrong-" + password, secret, tok.RefreshToken, tok.AccessToken, tok.IDToken}
	// Every token the cloud issued during the test shares the header; look for payload/signature segments too.
	logs := logSink.String()
	if !strings.Contains(logs, "rainmaker: request") {
		t.Fatal("no debug logs captured; the test would prove nothing")
	}
	for _, ev := range rec.events {
		texts = append(texts, fmt.Sprintf("%+v", ev))
	}
	texts = append(texts, logs)
	for _, txt := range texts {
		for _, s := range secrets {
			if strings.Contains(txt, s) {
				t.Errorf("secret %.6s… found in %q", s, txt)
			}
		}
		// No JWT payload segment of any kind (all sim tokens share this header).
		if strings.Contains(txt, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.") {
			t.Errorf("a token appears in %q", txt)
		}
	}
}
