// Package simcloud simulates the parts of the ESP RainMaker cloud REST API
// that provisioning uses (rainmaker.md §2, §4, §6): login and token refresh
// with JWT-shaped tokens, challenge-response mapping (initiate, verify),
// traditional mapping (PUT, status polling confirmed by the device's
// user/mapping report), node tags and metadata, and fault injection.
//
// It listens on 127.0.0.1 only. Paths are exactly the real API's, so the
// reference esp-rainmaker-cli works against it with a custom profile
// (`profile add sim --base-url <URL()>`).
//
// Error codes: 105046 (invalid tag) is the real API's. The other codes are
// this simulator's own (the real ones are not documented):
// 101009 wrong credentials, 101010 invalid refresh token, 100004 malformed
// request, 105047 invalid metadata, 108002 unknown/used/expired request id,
// 108003 challenge response verification failed, 108004 node not found,
// 108005 node mapped to another user, 108006 user id mismatch.
package simcloud

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"
)

// Error codes (see the package documentation).
const (
	CodeBadCredentials   = 101009
	CodeBadRefreshToken  = 101010
	CodeBadRequest       = 100004
	CodeInvalidTag       = 105046
	CodeInvalidMetadata  = 105047
	CodeBadRequestID     = 108002
	CodeVerifyFailed     = 108003
	CodeNodeNotFound     = 108004
	CodeNodeMappedOther  = 108005
	CodeUserIDMismatch   = 108006
	defaultAccessTTL     = time.Hour
	defaultMappingWindow = 5 * time.Minute
)

// Options configure a Cloud. Zero values select defaults.
type Options struct {
	// AccessTokenTTL is the lifetime of issued access and ID tokens (default 1 h).
	AccessTokenTTL time.Duration
	// MappingTimeout moves an unconfirmed traditional mapping request from
	// "requested" to "timedout" (default 5 min).
	MappingTimeout time.Duration
	// Issuer is the "iss" claim (default "https://cognito-idp.sim.invalid/espprov-sim").
	Issuer string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Listener, when set, is where the cloud serves (plain HTTP); the
	// cloud closes it on Close.
	Listener net.Listener
}

// NodeState is what the cloud knows about one node.
type NodeState struct {
	ID        string
	PublicKey crypto.PublicKey
	// UserID is the user the node is mapped to ("" if none).
	UserID   string
	Tags     []string
	Metadata map[string]any
}

// Request is one recorded HTTP request (no headers or bodies: they hold secrets).
type Request struct {
	Method string
	Path   string
	Query  string
}

type user struct {
	id, name, password string
}

type session struct {
	userID string
	exp    time.Time
}

type initiation struct {
	userID    string
	challenge string
	expires   time.Time
	used      bool
}

type mappingReq struct {
	id, userID, nodeID, secret string
	tags                       []string
	metadata                   map[string]any
	hasMetadata                bool
	status                     string
	created                    time.Time
}

type report struct{ nodeID, userID, secret string }

// Cloud is a running simulated RainMaker cloud.
type Cloud struct {
	srv  *httptest.Server
	opts Options
	key  []byte // HMAC key for token signatures

	mu         sync.Mutex
	users      map[string]*user // by user name
	usersByID  map[string]*user
	access     map[string]session
	refresh    map[string]string // refresh token → user id
	nodes      map[string]*NodeState
	inits      map[string]*initiation
	mappings   map[string]*mappingReq
	reports    []report
	requests   []Request
	failNext   int
	failStatus int
	delay      time.Duration
	discard    bool
	ttl        time.Duration
}

// New starts a simulated cloud on opts.Listener, or on 127.0.0.1 with an
// ephemeral port. Close it when done.
func New(opts Options) *Cloud {
	if opts.AccessTokenTTL <= 0 {
		opts.AccessTokenTTL = defaultAccessTTL
	}
	if opts.MappingTimeout <= 0 {
		opts.MappingTimeout = defaultMappingWindow
	}
	if opts.Issuer == "" {
		opts.Issuer = "https://cognito-idp.sim.invalid/espprov-sim"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	c := &Cloud{
		opts:      opts,
		key:       randBytes(32),
		users:     map[string]*user{},
		usersByID: map[string]*user{},
		access:    map[string]session{},
		refresh:   map[string]string{},
		nodes:     map[string]*NodeState{},
		inits:     map[string]*initiation{},
		mappings:  map[string]*mappingReq{},
		ttl:       opts.AccessTokenTTL,
	}
	if opts.Listener != nil {
		c.srv = httptest.NewUnstartedServer(http.HandlerFunc(c.serve))
		c.srv.Listener.Close()
		c.srv.Listener = opts.Listener
		c.srv.Start()
	} else {
		c.srv = httptest.NewServer(http.HandlerFunc(c.serve))
	}
	return c
}

// URL is the API base URL, ending in "/v1/".
func (c *Cloud) URL() string { return c.srv.URL + "/v1/" }

// Close stops the server.
func (c *Cloud) Close() { c.srv.Close() }

// AddUser creates an account and returns its user id.
func (c *Cloud) AddUser(username, password string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	u := &user{id: cleanID(), name: username, password: password}
	c.users[username] = u
	c.usersByID[u.id] = u
	return u.id
}

// RegisterNode makes a node known to the cloud with the public key of its
// certificate (*rsa.PublicKey or *ecdsa.PublicKey; nil allowed for nodes
// that only use the traditional flow).
func (c *Cloud) RegisterNode(nodeID string, pub crypto.PublicKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n, ok := c.nodes[nodeID]; ok {
		n.PublicKey = pub
		return
	}
	c.nodes[nodeID] = &NodeState{ID: nodeID, PublicKey: pub, Metadata: map[string]any{}}
}

// ReportUserMapping is the device's MQTT publish on node/<id>/user/mapping
// after it came online (traditional flow). It confirms a matching PUT
// mapping request, whether that request came before or after the report.
func (c *Cloud) ReportUserMapping(nodeID, userID, secretKey string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.opts.Now()
	for _, m := range c.mappings {
		if m.status == "requested" && m.nodeID == nodeID && m.userID == userID && m.secret == secretKey {
			if now.Sub(m.created) > c.opts.MappingTimeout {
				m.status = "timedout"
				continue
			}
			c.confirmLocked(m)
			return
		}
	}
	c.reports = append(c.reports, report{nodeID, userID, secretKey})
}

// Node returns a copy of the node's state.
func (c *Cloud) Node(nodeID string) (NodeState, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.nodes[nodeID]
	if !ok {
		return NodeState{}, false
	}
	cp := *n
	cp.Tags = slices.Clone(n.Tags)
	cp.Metadata = cloneMap(n.Metadata)
	return cp, true
}

// Mappings returns node id → user id for every mapped node.
func (c *Cloud) Mappings() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := map[string]string{}
	for id, n := range c.nodes {
		if n.UserID != "" {
			m[id] = n.UserID
		}
	}
	return m
}

// Requests returns the requests served so far (method, path, query).
func (c *Cloud) Requests() []Request {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.requests)
}

// FailNext makes the next n requests fail with HTTP status (e.g. 503)
// before they are processed.
func (c *Cloud) FailNext(n, status int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failNext, c.failStatus = n, status
}

// SetDelay delays every reply by d (0 to stop).
func (c *Cloud) SetDelay(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.delay = d
}

// DiscardMappings makes new traditional mapping requests "discarded".
func (c *Cloud) DiscardMappings(on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.discard = on
}

// SetAccessTokenTTL changes the lifetime of tokens issued from now on.
func (c *Cloud) SetAccessTokenTTL(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ttl = d
}

// ExpireAccessTokens invalidates every access token issued so far (the API
// answers 401 "The incoming token has expired"); refresh tokens stay valid.
func (c *Cloud) ExpireAccessTokens() {
	c.mu.Lock()
	defer c.mu.Unlock()
	past := c.opts.Now().Add(-time.Second)
	for t, s := range c.access {
		s.exp = past
		c.access[t] = s
	}
}

// RevokeRefreshTokens invalidates every refresh token issued so far.
func (c *Cloud) RevokeRefreshTokens() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.refresh)
}

// Tokens are what login2 returns.
type Tokens struct {
	IDToken, AccessToken, RefreshToken string
}

// Login issues tokens as POST login2 would (for tests that need a refresh
// token without going through HTTP).
func (c *Cloud) Login(username, password string) (Tokens, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	u, ok := c.users[username]
	if !ok || u.password != password {
		return Tokens{}, fmt.Errorf("simcloud: incorrect user name or password")
	}
	return c.issueLocked(u, true), nil
}

// ---- tokens ----

func (c *Cloud) issueLocked(u *user, withRefresh bool) Tokens {
	now := c.opts.Now()
	exp := now.Add(c.ttl)
	t := Tokens{
		AccessToken: c.jwt(map[string]any{
			"sub": u.id, "token_use": "access", "iss": c.opts.Issuer,
			"iat": now.Unix(), "exp": exp.Unix(), "username": u.id,
		}),
		IDToken: c.jwt(map[string]any{
			"sub": u.id, "token_use": "id", "iss": c.opts.Issuer,
			"iat": now.Unix(), "exp": exp.Unix(), "custom:user_id": u.id,
			"email": u.name,
		}),
	}
	c.access[t.AccessToken] = session{userID: u.id, exp: exp}
	if withRefresh {
		t.RefreshToken = hex.EncodeToString(randBytes(48))
		c.refresh[t.RefreshToken] = u.id
	}
	return t
}

// jwt builds an HS256 JWT whose base64url payload contains neither '-' nor
// '_' (reference CLI defect D8: it decodes with the standard alphabet). The
// payload JSON gets random insignificant whitespace around every token and a
// random-length nonce, which moves each token to a random base64 alignment;
// the first clean variant is used. If no clean variant turns up (a user name
// made of unlucky characters), optional claims (email) are dropped.
func (c *Cloud) jwt(claims map[string]any) string {
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	keys := make([]string, 0, len(claims)+1)
	for k := range claims {
		keys = append(keys, k)
	}
	keys = append(keys, "jti")
	slices.Sort(keys)
	for attempt := 0; ; attempt++ {
		if attempt == 5000 {
			delete(claims, "email")
			keys = slices.DeleteFunc(keys, func(k string) bool { return k == "email" })
		}
		claims["jti"] = hex.EncodeToString(randBytes(8))[:8+mrand.IntN(8)]
		var b strings.Builder
		ws := func() { b.WriteString(strings.Repeat(" ", mrand.IntN(3))) }
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			ws()
			kj, _ := json.Marshal(k)
			b.Write(kj)
			ws()
			b.WriteByte(':')
			ws()
			vj, _ := json.Marshal(claims[k])
			b.Write(vj)
			ws()
		}
		b.WriteByte('}')
		payload := base64.RawURLEncoding.EncodeToString([]byte(b.String()))
		if strings.ContainsAny(payload, "-_") {
			continue
		}
		mac := hmac.New(sha256.New, c.key)
		mac.Write([]byte(header + "." + payload))
		return header + "." + payload + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	}
}

// ---- HTTP plumbing ----

type apiErr struct {
	status int
	code   int
	desc   string
}

func fail(status, code int, format string, a ...any) *apiErr {
	return &apiErr{status: status, code: code, desc: fmt.Sprintf(format, a...)}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(listsNotNull(v))
}

// listsNotNull replaces every nil slice in v (through maps and slices of
// any) with an empty one: the real cloud answers [] where it has nothing,
// and clients index the list.
func listsNotNull(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = listsNotNull(e)
		}
		return x
	case []any:
		if x == nil {
			return []any{}
		}
		for i, e := range x {
			x[i] = listsNotNull(e)
		}
		return x
	case json.RawMessage, []byte:
		return v
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice && rv.IsNil() {
		return reflect.MakeSlice(rv.Type(), 0, 0).Interface()
	}
	return v
}

func writeErr(w http.ResponseWriter, e *apiErr) {
	writeJSON(w, e.status, map[string]any{"status": "failure", "error_code": e.code, "description": e.desc})
}

func (c *Cloud) serve(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.requests = append(c.requests, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery})
	delay := c.delay
	injected := 0
	if c.failNext > 0 {
		c.failNext--
		injected = c.failStatus
	}
	c.mu.Unlock()
	if delay > 0 {
		t := time.NewTimer(delay)
		select {
		case <-r.Context().Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
	if injected != 0 {
		writeJSON(w, injected, map[string]any{"status": "failure", "description": http.StatusText(injected)})
		return
	}
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(io.LimitReader(r.Body, 1<<20))
	}
	path := r.URL.Path
	switch {
	case path == "/apiversions" && r.Method == http.MethodGet:
		writeJSON(w, 200, map[string]any{"supported_versions": []string{"v1"}})
	case path == "/v1/login2" && r.Method == http.MethodPost:
		c.login2(w, body)
	case path == "/v1/user/nodes/mapping/initiate" && r.Method == http.MethodPost:
		c.authed(w, r, body, c.initiate)
	case path == "/v1/user/nodes/mapping/verify" && r.Method == http.MethodPost:
		c.authed(w, r, body, c.verify)
	case path == "/v1/user/nodes/mapping" && r.Method == http.MethodPut:
		c.authed(w, r, body, c.putMapping)
	case path == "/v1/user/nodes/mapping" && r.Method == http.MethodGet:
		c.authed(w, r, body, c.getMapping)
	case path == "/v1/user/nodes" && r.Method == http.MethodGet:
		c.authed(w, r, body, c.getNodes)
	case path == "/v1/user/nodes" && (r.Method == http.MethodPut || r.Method == http.MethodDelete):
		c.authed(w, r, body, c.updateNode)
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"message": "Not Found"})
	}
}

type handler func(userID string, r *http.Request, body []byte) (any, *apiErr)

func (c *Cloud) authed(w http.ResponseWriter, r *http.Request, body []byte, h handler) {
	tok := r.Header.Get("Authorization")
	c.mu.Lock()
	s, ok := c.access[tok]
	now := c.opts.Now()
	c.mu.Unlock()
	switch {
	case !ok:
		writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "Unauthorized"})
		return
	case !now.Before(s.exp):
		writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "The incoming token has expired"})
		return
	}
	v, e := h(s.userID, r, body)
	if e != nil {
		writeErr(w, e)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (c *Cloud) login2(w http.ResponseWriter, body []byte) {
	var req struct {
		UserName     string `json:"user_name"`
		Password     string `json:"password"`
		RefreshToken string `json:"refreshtoken"`
	}
	if json.Unmarshal(body, &req) != nil {
		writeErr(w, fail(400, CodeBadRequest, "Invalid request body"))
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if req.RefreshToken != "" {
		uid, ok := c.refresh[req.RefreshToken]
		if !ok {
			writeErr(w, fail(401, CodeBadRefreshToken, "Invalid refresh token"))
			return
		}
		t := c.issueLocked(c.usersByID[uid], false)
		writeJSON(w, 200, map[string]any{"status": "success", "description": "Login successful",
			"idtoken": t.IDToken, "accesstoken": t.AccessToken})
		return
	}
	u, ok := c.users[req.UserName]
	if req.UserName == "" || !ok || u.password != req.Password {
		writeErr(w, fail(401, CodeBadCredentials, "Incorrect user name or password"))
		return
	}
	t := c.issueLocked(u, true)
	writeJSON(w, 200, map[string]any{"status": "success", "description": "Login successful",
		"idtoken": t.IDToken, "accesstoken": t.AccessToken, "refreshtoken": t.RefreshToken})
}

// ---- mapping ----

func (c *Cloud) initiate(userID string, _ *http.Request, body []byte) (any, *apiErr) {
	var req struct {
		Timeout int `json:"timeout"`
	}
	if len(body) > 0 && json.Unmarshal(body, &req) != nil {
		return nil, fail(400, CodeBadRequest, "Invalid request body")
	}
	if req.Timeout <= 0 || req.Timeout > 3600 {
		req.Timeout = 360
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	id := cleanID()
	in := &initiation{userID: userID, challenge: hex.EncodeToString(randBytes(32)),
		expires: c.opts.Now().Add(time.Duration(req.Timeout) * time.Second)}
	c.inits[id] = in
	return map[string]any{"request_id": id, "challenge": in.challenge, "status": "success"}, nil
}

type mappingBody struct {
	RequestID         string          `json:"request_id"`
	NodeID            string          `json:"node_id"`
	ChallengeResponse string          `json:"challenge_response"`
	UserID            string          `json:"user_id"`
	SecretKey         string          `json:"secret_key"`
	Operation         string          `json:"operation"`
	Tags              []string        `json:"tags"`
	Metadata          json.RawMessage `json:"metadata"`
}

func (c *Cloud) verify(userID string, _ *http.Request, body []byte) (any, *apiErr) {
	var req mappingBody
	if json.Unmarshal(body, &req) != nil {
		return nil, fail(400, CodeBadRequest, "Invalid request body")
	}
	if req.RequestID == "" || req.NodeID == "" || req.ChallengeResponse == "" {
		return nil, fail(400, CodeBadRequest, "request_id, node_id and challenge_response are required")
	}
	if e := validTags(req.Tags); e != nil {
		return nil, e
	}
	md, hasMD, e := parseMetadata(req.Metadata)
	if e != nil {
		return nil, e
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	in, ok := c.inits[req.RequestID]
	switch {
	case !ok || in.userID != userID:
		return nil, fail(400, CodeBadRequestID, "Invalid request id")
	case in.used:
		return nil, fail(400, CodeBadRequestID, "Request id already used")
	case c.opts.Now().After(in.expires):
		return nil, fail(400, CodeBadRequestID, "Request id expired")
	}
	in.used = true // single use, whatever the outcome
	n, ok := c.nodes[req.NodeID]
	if !ok {
		return nil, fail(400, CodeNodeNotFound, "Node %s not found", req.NodeID)
	}
	sig, err := hex.DecodeString(req.ChallengeResponse)
	if err != nil || !verifySignature(n.PublicKey, []byte(in.challenge), sig) {
		return nil, fail(400, CodeVerifyFailed, "Challenge response verification failed")
	}
	if n.UserID != "" && n.UserID != userID {
		return nil, fail(400, CodeNodeMappedOther, "Node is already mapped to another user")
	}
	n.UserID = userID
	c.applyLocked(n, req.Tags, md, hasMD)
	return map[string]any{"status": "success", "description": "Node mapped successfully", "request_id": req.RequestID}, nil
}

// verifySignature checks the device's signature over SHA-256(challenge):
// RSASSA-PSS/SHA-256 with any salt length, or ECDSA P-256 in DER.
func verifySignature(pub crypto.PublicKey, challenge, sig []byte) bool {
	digest := sha256.Sum256(challenge)
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return rsa.VerifyPSS(k, crypto.SHA256, digest[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}) == nil
	case *ecdsa.PublicKey:
		return ecdsa.VerifyASN1(k, digest[:], sig)
	}
	return false
}

func (c *Cloud) putMapping(userID string, _ *http.Request, body []byte) (any, *apiErr) {
	var req mappingBody
	if json.Unmarshal(body, &req) != nil {
		return nil, fail(400, CodeBadRequest, "Invalid request body")
	}
	if req.NodeID == "" {
		return nil, fail(400, CodeBadRequest, "node_id is required")
	}
	if req.UserID != userID {
		return nil, fail(400, CodeUserIDMismatch, "user_id does not match the logged-in user")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.nodes[req.NodeID]
	if !ok {
		return nil, fail(400, CodeNodeNotFound, "Node %s not found", req.NodeID)
	}
	switch req.Operation {
	case "remove":
		if n.UserID != userID {
			return nil, fail(400, CodeNodeNotFound, "Node %s is not mapped to this user", req.NodeID)
		}
		n.UserID = ""
		return map[string]any{"status": "success", "description": "Node removed"}, nil
	case "add":
	default:
		return nil, fail(400, CodeBadRequest, "operation must be add or remove")
	}
	if req.SecretKey == "" {
		return nil, fail(400, CodeBadRequest, "secret_key is required")
	}
	if e := validTags(req.Tags); e != nil {
		return nil, e
	}
	md, hasMD, e := parseMetadata(req.Metadata)
	if e != nil {
		return nil, e
	}
	m := &mappingReq{id: cleanID(), userID: userID, nodeID: req.NodeID, secret: req.SecretKey,
		tags: req.Tags, metadata: md, hasMetadata: hasMD, status: "requested", created: c.opts.Now()}
	c.mappings[m.id] = m
	if c.discard {
		m.status = "discarded"
	} else {
		for i, rp := range c.reports {
			if rp.nodeID == m.nodeID && rp.userID == m.userID && rp.secret == m.secret {
				c.reports = slices.Delete(c.reports, i, i+1)
				c.confirmLocked(m)
				break
			}
		}
	}
	return map[string]any{"request_id": m.id, "status": "success", "description": "Mapping request created"}, nil
}

func (c *Cloud) confirmLocked(m *mappingReq) {
	n := c.nodes[m.nodeID]
	if n == nil || (n.UserID != "" && n.UserID != m.userID) {
		m.status = "discarded"
		return
	}
	m.status = "confirmed"
	n.UserID = m.userID
	c.applyLocked(n, m.tags, m.metadata, m.hasMetadata)
}

func (c *Cloud) getMapping(userID string, r *http.Request, _ []byte) (any, *apiErr) {
	id := r.URL.Query().Get("request_id") // "?&request_id=" parses the same
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := c.mappings[id]
	if !ok || m.userID != userID {
		return nil, fail(404, CodeBadRequestID, "Invalid request id")
	}
	if m.status == "requested" && c.opts.Now().Sub(m.created) > c.opts.MappingTimeout {
		m.status = "timedout"
	}
	return map[string]any{"request_id": m.id, "request_status": m.status, "node_id": m.nodeID, "user_id": m.userID}, nil
}

// ---- nodes, tags, metadata ----

func (c *Cloud) getNodes(userID string, r *http.Request, _ []byte) (any, *apiErr) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if id := r.URL.Query().Get("node_id"); id != "" {
		n, ok := c.nodes[id]
		if !ok || n.UserID != userID {
			return nil, fail(404, CodeNodeNotFound, "Node %s not found", id)
		}
		tags := n.Tags
		if tags == nil {
			tags = []string{}
		}
		return map[string]any{"node_details": []any{map[string]any{
			"id": n.ID, "tags": tags, "metadata": n.Metadata,
			"status": map[string]any{"connectivity": map[string]any{"connected": true}},
		}}, "total": 1}, nil
	}
	ids := []string{}
	for id, n := range c.nodes {
		if n.UserID == userID {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return map[string]any{"nodes": ids, "total": len(ids)}, nil
}

func (c *Cloud) updateNode(userID string, r *http.Request, body []byte) (any, *apiErr) {
	id := r.URL.Query().Get("node_id")
	var req struct {
		Tags     []string        `json:"tags"`
		Metadata json.RawMessage `json:"metadata"`
	}
	if json.Unmarshal(body, &req) != nil {
		return nil, fail(400, CodeBadRequest, "Invalid request body")
	}
	if e := validTags(req.Tags); e != nil {
		return nil, e
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.nodes[id]
	if !ok || n.UserID != userID {
		return nil, fail(404, CodeNodeNotFound, "Node %s not found", id)
	}
	if r.Method == http.MethodDelete {
		n.Tags = slices.DeleteFunc(n.Tags, func(t string) bool { return slices.Contains(req.Tags, t) })
		return map[string]any{"status": "success", "description": "Tags removed"}, nil
	}
	if string(req.Metadata) == "null" {
		n.Metadata = map[string]any{}
	} else {
		md, hasMD, e := parseMetadata(req.Metadata)
		if e != nil {
			return nil, e
		}
		c.applyLocked(n, req.Tags, md, hasMD)
		return map[string]any{"status": "success", "description": "Node updated"}, nil
	}
	c.applyLocked(n, req.Tags, nil, false)
	return map[string]any{"status": "success", "description": "Node updated"}, nil
}

// applyLocked adds tags and shadow-merges metadata (§6: new keys added,
// existing overwritten, null deletes a key).
func (c *Cloud) applyLocked(n *NodeState, tags []string, md map[string]any, hasMD bool) {
	for _, t := range tags {
		if !slices.Contains(n.Tags, t) {
			n.Tags = append(n.Tags, t)
		}
	}
	if !hasMD {
		return
	}
	if n.Metadata == nil {
		n.Metadata = map[string]any{}
	}
	for k, v := range md {
		if v == nil {
			delete(n.Metadata, k)
		} else {
			n.Metadata[k] = v
		}
	}
}

func validTags(tags []string) *apiErr {
	for _, t := range tags {
		k, v, ok := strings.Cut(t, ":")
		if !ok || strings.TrimSpace(k) == "" || strings.TrimSpace(v) == "" {
			return fail(400, CodeInvalidTag, "Invalid tag format '%s'. Tags must be in key:value format.", t)
		}
	}
	return nil
}

func parseMetadata(raw json.RawMessage) (map[string]any, bool, *apiErr) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, false, nil
	}
	var md map[string]any
	if err := json.Unmarshal(raw, &md); err != nil {
		return nil, false, fail(400, CodeInvalidMetadata, "Metadata must be a JSON object")
	}
	return md, true, nil
}

// ---- helpers ----

func randBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// cleanID is a random 22-character alphanumeric id.
func cleanID() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := randBytes(22)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

func cloneMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	b, _ := json.Marshal(m)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}
