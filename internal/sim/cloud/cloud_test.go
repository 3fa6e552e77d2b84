package simcloud

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

type api struct {
	t     *testing.T
	c     *Cloud
	token string
}

func (a *api) do(method, path string, body any) (int, map[string]any) {
	a.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(a.c.URL(), "/v1/")+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if a.token != "" {
		req.Header.Set("Authorization", a.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func setup(t *testing.T, opts Options) (*api, string) {
	c := New(opts)
	t.Cleanup(c.Close)
	uid := c.AddUser("alice@example.com", "pw-alice")
	a := &api{t: t, c: c}
	st, m := a.do("POST", "/v1/login2", map[string]string{"user_name": "alice@example.com", "password": "pw-alice"})
	if st != 200 || m["status"] != "success" {
		t.Fatalf("login: %d %v", st, m)
	}
	a.token = m["accesstoken"].(string)
	return a, uid
}

// cliDecode decodes a JWT payload exactly as the reference CLI does
// (standard alphabet after adding padding), D8.
func cliDecode(seg string) (map[string]any, error) {
	if len(seg)%4 != 0 {
		seg += strings.Repeat("=", 4-len(seg)%4)
	}
	b, err := base64.StdEncoding.DecodeString(seg)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, json.Unmarshal(b, &m)
}

func TestTokensReadableByReferenceCLI(t *testing.T) {
	c := New(Options{})
	defer c.Close()
	uid := c.AddUser("bob+~?>@example.com", "pw")
	for i := 0; i < 200; i++ {
		tok, err := c.Login("bob+~?>@example.com", "pw")
		if err != nil {
			t.Fatal(err)
		}
		for _, jwt := range []string{tok.AccessToken, tok.IDToken} {
			parts := strings.Split(jwt, ".")
			if len(parts) != 3 || strings.ContainsAny(parts[1], "-_=") {
				t.Fatalf("payload segment %q", parts[1])
			}
			m, err := cliDecode(parts[1])
			if err != nil {
				t.Fatalf("CLI-style decode: %v", err)
			}
			if m["exp"] == nil {
				t.Fatal("no exp")
			}
		}
		m, _ := cliDecode(strings.Split(tok.IDToken, ".")[1])
		if m["custom:user_id"] != uid {
			t.Fatalf("custom:user_id = %v", m["custom:user_id"])
		}
	}
	// An ordinary user name stays in the ID token.
	c.AddUser("carol.smith@example.com", "pw")
	for i := 0; i < 50; i++ {
		tok, _ := c.Login("carol.smith@example.com", "pw")
		m, err := cliDecode(strings.Split(tok.IDToken, ".")[1])
		if err != nil || m["email"] != "carol.smith@example.com" {
			t.Fatalf("email claim: %v %v", m["email"], err)
		}
	}
	if _, err := c.Login("bob+~?>@example.com", "wrong"); err == nil {
		t.Fatal("wrong password accepted")
	}
}

func TestLoginAndRefresh(t *testing.T) {
	a, _ := setup(t, Options{})
	tests := []struct {
		body       map[string]string
		wantStatus int
		wantCode   float64
	}{
		{map[string]string{"user_name": "alice@example.com", "password": "nope"}, 401, CodeBadCredentials},
		{map[string]string{"user_name": "mallory", "password": "pw-alice"}, 401, CodeBadCredentials},
		{map[string]string{"refreshtoken": "bogus"}, 401, CodeBadRefreshToken},
	}
	for _, tc := range tests {
		st, m := a.do("POST", "/v1/login2", tc.body)
		if st != tc.wantStatus || m["error_code"] != tc.wantCode || m["status"] != "failure" {
			t.Errorf("%v: %d %v", tc.body, st, m)
		}
	}
	tok, _ := a.c.Login("alice@example.com", "pw-alice")
	st, m := a.do("POST", "/v1/login2", map[string]string{"refreshtoken": tok.RefreshToken})
	if st != 200 || m["accesstoken"] == nil || m["idtoken"] == nil || m["refreshtoken"] != nil {
		t.Fatalf("refresh: %d %v", st, m)
	}
	st, m = a.do("GET", "/apiversions", nil)
	if st != 200 || !strings.Contains(toJSON(m), `"v1"`) {
		t.Fatalf("apiversions: %d %v", st, m)
	}
}

func toJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

func TestAuthRequired(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	a, _ := setup(t, Options{Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
	good := a.token
	for _, tok := range []string{"", "garbage", "Bearer " + good} {
		a.token = tok
		if st, m := a.do("POST", "/v1/user/nodes/mapping/initiate", map[string]int{"timeout": 360}); st != 401 || m["message"] != "Unauthorized" {
			t.Errorf("token %q: %d %v", tok, st, m)
		}
	}
	a.token = good
	if st, _ := a.do("POST", "/v1/user/nodes/mapping/initiate", nil); st != 200 {
		t.Fatalf("good token: %d", st)
	}
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	if st, m := a.do("POST", "/v1/user/nodes/mapping/initiate", nil); st != 401 || m["message"] != "The incoming token has expired" {
		t.Fatalf("expired: %d %v", st, m)
	}
}

func signers(t *testing.T) map[string]crypto.Signer {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	return map[string]crypto.Signer{"rsa": rk, "ec": ek}
}

func sign(t *testing.T, k crypto.Signer, challenge string) string {
	d := sha256.Sum256([]byte(challenge))
	var opts crypto.SignerOpts = crypto.SHA256
	if _, ok := k.(*rsa.PrivateKey); ok {
		opts = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}
	}
	sig, err := k.Sign(rand.Reader, d[:], opts)
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(sig)
}

func TestChallengeResponseVerify(t *testing.T) {
	keys := signers(t)
	for name, key := range keys {
		t.Run(name, func(t *testing.T) {
			a, uid := setup(t, Options{})
			a.c.RegisterNode("node-"+name, key.Public())
			other := keys["ec"]
			if name == "ec" {
				other = keys["rsa"]
			}
			initiate := func() (string, string) {
				st, m := a.do("POST", "/v1/user/nodes/mapping/initiate", map[string]int{"timeout": 360})
				if st != 200 {
					t.Fatalf("initiate %d %v", st, m)
				}
				return m["request_id"].(string), m["challenge"].(string)
			}
			verify := func(body map[string]any) (int, map[string]any) {
				return a.do("POST", "/v1/user/nodes/mapping/verify", body)
			}
			// Signature by another key: rejected, and the request id is spent.
			rid, ch := initiate()
			st, m := verify(map[string]any{"request_id": rid, "node_id": "node-" + name, "challenge_response": sign(t, other, ch)})
			if st != 400 || m["error_code"] != float64(CodeVerifyFailed) {
				t.Fatalf("wrong key: %d %v", st, m)
			}
			st, m = verify(map[string]any{"request_id": rid, "node_id": "node-" + name, "challenge_response": sign(t, key, ch)})
			if st != 400 || m["error_code"] != float64(CodeBadRequestID) {
				t.Fatalf("reused request id: %d %v", st, m)
			}
			// Malformed tag: 105046.
			rid, ch = initiate()
			st, m = verify(map[string]any{"request_id": rid, "node_id": "node-" + name, "challenge_response": sign(t, key, ch), "tags": []string{"novalue"}})
			if st != 400 || m["error_code"] != float64(CodeInvalidTag) {
				t.Fatalf("bad tag: %d %v", st, m)
			}
			// Metadata not an object.
			st, m = verify(map[string]any{"request_id": rid, "node_id": "node-" + name, "challenge_response": sign(t, key, ch), "metadata": []int{1}})
			if st != 400 || m["error_code"] != float64(CodeInvalidMetadata) {
				t.Fatalf("bad metadata: %d %v", st, m)
			}
			// Signature over another challenge.
			st, _ = verify(map[string]any{"request_id": rid, "node_id": "node-" + name, "challenge_response": sign(t, key, "x")})
			if st != 400 {
				t.Fatalf("wrong challenge: %d", st)
			}
			// Success with tags and metadata.
			rid, ch = initiate()
			st, m = verify(map[string]any{"request_id": rid, "node_id": "node-" + name, "challenge_response": sign(t, key, ch),
				"tags": []string{"location:pune"}, "metadata": map[string]any{"serial": "A1"}})
			if st != 200 || m["status"] != "success" {
				t.Fatalf("verify: %d %v", st, m)
			}
			n, _ := a.c.Node("node-" + name)
			if n.UserID != uid || toJSON(n.Tags) != `["location:pune"]` || toJSON(n.Metadata) != `{"serial":"A1"}` {
				t.Fatalf("node %+v", n)
			}
			if a.c.Mappings()["node-"+name] != uid {
				t.Fatal("Mappings")
			}
			// Unknown node.
			rid, ch = initiate()
			if st, m = verify(map[string]any{"request_id": rid, "node_id": "ghost", "challenge_response": sign(t, key, ch)}); st != 400 || m["error_code"] != float64(CodeNodeNotFound) {
				t.Fatalf("unknown node: %d %v", st, m)
			}
		})
	}
}

func TestInitiateExpiry(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	a, _ := setup(t, Options{Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }, AccessTokenTTL: 24 * time.Hour})
	key := signers(t)["ec"]
	a.c.RegisterNode("n", key.Public())
	_, m := a.do("POST", "/v1/user/nodes/mapping/initiate", map[string]int{"timeout": 10})
	mu.Lock()
	now = now.Add(11 * time.Second)
	mu.Unlock()
	st, r := a.do("POST", "/v1/user/nodes/mapping/verify", map[string]any{"request_id": m["request_id"], "node_id": "n",
		"challenge_response": sign(t, key, m["challenge"].(string))})
	if st != 400 || r["error_code"] != float64(CodeBadRequestID) {
		t.Fatalf("expired request id: %d %v", st, r)
	}
}

func TestTraditionalMapping(t *testing.T) {
	tests := []struct {
		name        string
		reportFirst bool
		report      bool
		secret      string
		discard     bool
		advance     time.Duration
		want        string
	}{
		{"report after PUT", false, true, "k1", false, 0, "confirmed"},
		{"report before PUT", true, true, "k1", false, 0, "confirmed"},
		{"wrong secret", false, true, "other", false, 0, "requested"},
		{"no report, timeout", false, false, "k1", false, 10 * time.Minute, "timedout"},
		{"discarded", false, true, "k1", true, 0, "discarded"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			now := time.Now()
			a, uid := setup(t, Options{Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }, AccessTokenTTL: 24 * time.Hour})
			a.c.RegisterNode("tn", nil)
			a.c.DiscardMappings(tc.discard)
			if tc.reportFirst {
				a.c.ReportUserMapping("tn", uid, tc.secret)
			}
			st, m := a.do("PUT", "/v1/user/nodes/mapping", map[string]any{"user_id": uid, "node_id": "tn", "secret_key": "k1",
				"operation": "add", "tags": []string{"a:b"}, "metadata": map[string]any{"x": 1}})
			if st != 200 || m["request_id"] == nil {
				t.Fatalf("PUT: %d %v", st, m)
			}
			rid := m["request_id"].(string)
			if tc.report && !tc.reportFirst {
				a.c.ReportUserMapping("tn", uid, tc.secret)
			}
			mu.Lock()
			now = now.Add(tc.advance)
			mu.Unlock()
			// The CLI's literal "?&request_id=" form and the plain form.
			for _, q := range []string{"?&request_id=", "?request_id="} {
				st, m = a.do("GET", "/v1/user/nodes/mapping"+q+rid, nil)
				if st != 200 || m["request_status"] != tc.want {
					t.Fatalf("GET %s: %d %v, want %s", q, st, m, tc.want)
				}
			}
			n, _ := a.c.Node("tn")
			if (tc.want == "confirmed") != (n.UserID == uid) {
				t.Fatalf("node user %q after %s", n.UserID, tc.want)
			}
			if tc.want == "confirmed" && (toJSON(n.Tags) != `["a:b"]` || toJSON(n.Metadata) != `{"x":1}`) {
				t.Fatalf("tags/metadata %v %v", n.Tags, n.Metadata)
			}
		})
	}
}

func TestPutMappingErrors(t *testing.T) {
	a, uid := setup(t, Options{})
	a.c.RegisterNode("tn", nil)
	tests := []struct {
		body map[string]any
		code float64
	}{
		{map[string]any{"user_id": "someone-else", "node_id": "tn", "secret_key": "k", "operation": "add"}, CodeUserIDMismatch},
		{map[string]any{"user_id": uid, "node_id": "ghost", "secret_key": "k", "operation": "add"}, CodeNodeNotFound},
		{map[string]any{"user_id": uid, "node_id": "tn", "secret_key": "k", "operation": "add", "tags": []string{":v"}}, CodeInvalidTag},
		{map[string]any{"user_id": uid, "node_id": "tn", "secret_key": "k", "operation": "add", "metadata": "str"}, CodeInvalidMetadata},
		{map[string]any{"user_id": uid, "node_id": "tn", "secret_key": "", "operation": "add"}, CodeBadRequest},
		{map[string]any{"user_id": uid, "node_id": "tn", "secret_key": "k", "operation": "frob"}, CodeBadRequest},
	}
	for _, tc := range tests {
		if st, m := a.do("PUT", "/v1/user/nodes/mapping", tc.body); st != 400 || m["error_code"] != tc.code {
			t.Errorf("%v: %d %v, want code %v", tc.body, st, m, tc.code)
		}
	}
	if st, _ := a.do("GET", "/v1/user/nodes/mapping?request_id=nope", nil); st != 404 {
		t.Errorf("unknown request id: %d", st)
	}
}

func TestNodeTagsAndMetadata(t *testing.T) {
	a, uid := setup(t, Options{})
	a.c.RegisterNode("tn", nil)
	a.c.ReportUserMapping("tn", uid, "k")
	if st, _ := a.do("PUT", "/v1/user/nodes/mapping", map[string]any{"user_id": uid, "node_id": "tn", "secret_key": "k", "operation": "add",
		"metadata": map[string]any{"a": 1, "b": 2}}); st != 200 {
		t.Fatal("PUT mapping")
	}
	steps := []struct {
		method string
		body   string
	}{
		{"PUT", `{"tags":["x:1","y:2"]}`},
		{"DELETE", `{"tags":["x:1"]}`},
		{"PUT", `{"metadata":{"a":null,"c":[1,2]}}`},
	}
	for _, s := range steps {
		var body map[string]any
		_ = json.Unmarshal([]byte(s.body), &body)
		if st, m := a.do(s.method, "/v1/user/nodes?node_id=tn", body); st != 200 {
			t.Fatalf("%s %s: %d %v", s.method, s.body, st, m)
		}
	}
	st, m := a.do("GET", "/v1/user/nodes?node_id=tn&node_details=true", nil)
	got := toJSON(m["node_details"])
	if st != 200 || !strings.Contains(got, `"tags":["y:2"]`) || !strings.Contains(got, `"metadata":{"b":2,"c":[1,2]}`) {
		t.Fatalf("details %d %s", st, got)
	}
	if st, _ := a.do("PUT", "/v1/user/nodes?node_id=tn", map[string]any{"metadata": nil}); st != 200 {
		t.Fatal("delete metadata")
	}
	if n, _ := a.c.Node("tn"); len(n.Metadata) != 0 {
		t.Fatalf("metadata after null: %v", n.Metadata)
	}
	st, m = a.do("GET", "/v1/user/nodes", nil)
	if st != 200 || toJSON(m["nodes"]) != `["tn"]` {
		t.Fatalf("list %d %v", st, m)
	}
}

func TestFaultInjection(t *testing.T) {
	a, _ := setup(t, Options{})
	a.c.FailNext(2, 503)
	for i, want := range []int{503, 503, 200} {
		if st, _ := a.do("POST", "/v1/user/nodes/mapping/initiate", nil); st != want {
			t.Fatalf("request %d: %d, want %d", i, st, want)
		}
	}
	a.c.SetDelay(100 * time.Millisecond)
	start := time.Now()
	a.do("GET", "/apiversions", nil)
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("delay not applied: %v", d)
	}
	if n := len(a.c.Requests()); n != 5 {
		t.Fatalf("recorded %d requests, want 5", n)
	}
}
