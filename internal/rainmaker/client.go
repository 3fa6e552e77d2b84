// Package rainmaker is a client for the parts of the ESP RainMaker REST API
// that provisioning uses (rainmaker.md §4): login and token refresh, the
// challenge-response mapping calls (initiate, verify) and the traditional
// mapping calls (PUT mapping, mapping status).
//
// Tokens and passwords never appear in logs or errors: the client logs only
// methods, paths and status codes, and scrubs every error text it builds from
// a server reply.
package rainmaker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Config tunes a Client. Zero values select the defaults.
type Config struct {
	// BaseURL is a preset name or URL, see ResolveBaseURL ("" = global).
	BaseURL string
	// HTTPClient sends the requests (default: a client without timeout;
	// RequestTimeout bounds each attempt).
	HTTPClient *http.Client
	// RequestTimeout bounds one HTTP attempt (default 10 s).
	RequestTimeout time.Duration
	// MaxAttempts is the number of attempts for network errors and 5xx
	// replies (default 3; 1 disables retries).
	MaxAttempts int
	// Backoff is the wait after the first failed attempt, doubled after
	// each further one up to MaxBackoff (defaults 500 ms and 5 s); ±20 %
	// jitter is applied.
	Backoff    time.Duration
	MaxBackoff time.Duration
	// ExpirySkew refreshes the access token this long before its "exp"
	// (default 30 s).
	ExpirySkew time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives debug/info records (default: discarded).
	Logger *slog.Logger
	// SkipRegionCheck disables the ID-token issuer check for the global and
	// china presets (D14).
	SkipRegionCheck bool
}

// Client talks to the RainMaker API for one account. It is safe for
// concurrent use.
type Client struct {
	base   *url.URL
	preset string // "global", "china" or "" (custom)
	hc     *http.Client
	cfg    Config
	log    *slog.Logger

	secMu   sync.Mutex // guards secrets (separate from mu: used while mu is held)
	secrets redactor

	mu      sync.Mutex // guards the fields below and serialises token acquisition
	creds   Credentials
	access  string
	idToken string
	exp     time.Time
	claims  Claims
}

// New returns a client for creds. It does not contact the cloud; the first
// call logs in or refreshes as needed.
func New(cfg Config, creds Credentials) (*Client, error) {
	base, err := ResolveBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	if err := creds.Validate(); err != nil {
		return nil, err
	}
	u, _ := url.Parse(base)
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 10 * time.Second
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 3
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Second
	}
	if cfg.ExpirySkew <= 0 {
		cfg.ExpirySkew = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Client{base: u, hc: cfg.HTTPClient, cfg: cfg, log: cfg.Logger, creds: creds, secrets: creds.secrets()}
	switch base {
	case GlobalBaseURL:
		c.preset = "global"
	case ChinaBaseURL:
		c.preset = "china"
	}
	if creds.AccessToken != "" && creds.IDToken != "" {
		if err := c.adoptTokens(creds.AccessToken, creds.IDToken); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// BaseURL is the resolved API base URL.
func (c *Client) BaseURL() string { return c.base.String() }

// String describes the client without secrets.
func (c *Client) String() string { return "rainmaker.Client{" + c.base.String() + "}" }

// ---- tokens ----

type tokenReply struct {
	Status       string `json:"status"`
	IDToken      string `json:"idtoken"`
	AccessToken  string `json:"accesstoken"`
	RefreshToken string `json:"refreshtoken"`
	Session      string `json:"session"`
}

// adoptTokens stores a new access/ID token pair. Caller holds c.mu or owns c.
func (c *Client) adoptTokens(access, id string) error {
	idc, err := DecodeClaims(id)
	if err != nil {
		return fmt.Errorf("rainmaker: ID token: %w", err)
	}
	if err := c.checkRegion(idc.Issuer); err != nil {
		return err
	}
	var exp time.Time
	if ac, err := DecodeClaims(access); err == nil {
		exp = ac.Expiry
	}
	c.access, c.idToken, c.exp, c.claims = access, id, exp, idc
	c.addSecrets(access, id)
	return nil
}

// checkRegion implements the issuer sanity check the reference CLI intends
// (D14): for the china preset the ID token must come from a China region
// issuer, for the global preset it must not. Custom base URLs are not
// checked. (Inference: RainMaker uses AWS Cognito; China issuers are on
// amazonaws.com.cn / cn-* regions.)
func (c *Client) checkRegion(iss string) error {
	if c.cfg.SkipRegionCheck || c.preset == "" || iss == "" {
		return nil
	}
	u, err := url.Parse(iss)
	host := iss
	if err == nil && u.Host != "" {
		host = u.Host
	}
	host = strings.ToLower(host)
	isChina := strings.HasSuffix(host, ".cn") || strings.Contains(host, ".cn-") || strings.HasPrefix(host, "cn-") || strings.Contains(host, "cognito-idp.cn-")
	if isChina != (c.preset == "china") {
		return fmt.Errorf("%w: configured %s, token issued by %s", ErrRegionMismatch, c.preset, host)
	}
	return nil
}

// token returns a valid access token, logging in or refreshing when needed.
// force discards the current access token first (after a 401).
func (c *Client) token(ctx context.Context, force bool) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if force {
		c.access = ""
	}
	if c.access != "" && (c.exp.IsZero() || c.cfg.Now().Add(c.cfg.ExpirySkew).Before(c.exp)) {
		return c.access, nil
	}
	var err error
	if c.creds.RefreshToken != "" {
		if err = c.refresh(ctx); err == nil {
			return c.access, nil
		}
		if !errors.Is(err, ErrUnauthenticated) || c.creds.Username == "" || c.creds.Password == "" {
			return "", err
		}
		c.log.InfoContext(ctx, "rainmaker: refresh token rejected, logging in with user name and password")
	}
	if c.creds.Username != "" && c.creds.Password != "" {
		if err = c.login(ctx); err == nil {
			return c.access, nil
		}
		return "", err
	}
	if err != nil {
		return "", err
	}
	return "", fmt.Errorf("%w: access token expired and no refresh token or password configured", ErrUnauthenticated)
}

func (c *Client) login(ctx context.Context) error {
	var r tokenReply
	body := map[string]string{"user_name": c.creds.Username, "password": c.creds.Password}
	if err := c.do(ctx, "login", http.MethodPost, "login2", nil, body, "", &r); err != nil {
		return authFailure("login", err)
	}
	if r.AccessToken == "" || r.IDToken == "" {
		if r.Session != "" {
			return fmt.Errorf("%w: login needs a verification code (multi-factor), which non-interactive use cannot provide", ErrUnauthenticated)
		}
		return fmt.Errorf("%w: login reply without tokens", ErrBadResponse)
	}
	if err := c.adoptTokens(r.AccessToken, r.IDToken); err != nil {
		return err
	}
	if r.RefreshToken != "" {
		c.creds.RefreshToken = r.RefreshToken
		c.addSecrets(r.RefreshToken)
	}
	c.log.InfoContext(ctx, "rainmaker: logged in", "user_id", c.claims.UserID)
	return nil
}

func (c *Client) refresh(ctx context.Context) error {
	var r tokenReply
	body := map[string]string{"refreshtoken": c.creds.RefreshToken}
	if err := c.do(ctx, "refresh session", http.MethodPost, "login2", nil, body, "", &r); err != nil {
		return authFailure("refresh session", err)
	}
	if r.AccessToken == "" || r.IDToken == "" {
		return fmt.Errorf("%w: refresh reply without tokens", ErrBadResponse)
	}
	if err := c.adoptTokens(r.AccessToken, r.IDToken); err != nil {
		return err
	}
	c.log.InfoContext(ctx, "rainmaker: session refreshed", "user_id", c.claims.UserID)
	return nil
}

// authFailure classifies a login/refresh failure: a 4xx reply means the
// credentials were rejected.
func authFailure(op string, err error) error {
	var ae *APIError
	if errors.As(err, &ae) && ae.HTTPStatus >= 400 && ae.HTTPStatus < 500 && ae.HTTPStatus != http.StatusUnauthorized {
		return fmt.Errorf("%w: %w", ErrUnauthenticated, err)
	}
	return err
}

// UserID is the account's user id (ID token claim "custom:user_id"),
// logging in first if needed.
func (c *Client) UserID(ctx context.Context) (string, error) {
	if _, err := c.token(ctx, false); err != nil {
		return "", err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.claims.UserID == "" {
		return "", fmt.Errorf("%w: ID token has no custom:user_id claim", ErrBadResponse)
	}
	return c.claims.UserID, nil
}

// ---- HTTP ----

func (c *Client) addSecrets(s ...string) {
	c.secMu.Lock()
	c.secrets = append(c.secrets, s...)
	// Keep the configured credentials (first 4) and the newest tokens only.
	if n := len(c.secrets); n > 4+16 {
		c.secrets = append(c.secrets[:4:4], c.secrets[n-16:]...)
	}
	c.secMu.Unlock()
}

// redact removes every secret the client knows from s.
func (c *Client) redact(s string) string {
	c.secMu.Lock()
	defer c.secMu.Unlock()
	return c.secrets.scrub(s)
}

// do sends one API call with retries. token is "" for unauthenticated calls
// (login); authed calls go through authed.
func (c *Client) do(ctx context.Context, op, method, path string, query url.Values, body any, token string, out any) error {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return fmt.Errorf("rainmaker: %s: encode request: %w", op, err)
		}
	}
	u := c.base.JoinPath(path)
	if query != nil {
		u.RawQuery = query.Encode()
	}
	var last error
	backoff := c.cfg.Backoff
	for attempt := 1; ; attempt++ {
		status, respBody, err := c.once(ctx, method, u.String(), payload, token)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return fmt.Errorf("rainmaker: %s: %w", op, ctx.Err())
			}
			last = fmt.Errorf("rainmaker: %s: %s", op, c.redact(err.Error()))
		case status >= 200 && status < 300:
			if out == nil {
				return nil
			}
			if err := json.Unmarshal(respBody, out); err != nil {
				return fmt.Errorf("%w: %s: reply is not the expected JSON", ErrBadResponse, op)
			}
			return nil
		case status >= 500:
			last = c.apiError(op, status, respBody)
		default:
			return c.apiError(op, status, respBody)
		}
		c.log.DebugContext(ctx, "rainmaker: attempt failed", "op", op, "attempt", attempt, "error", last.Error())
		if attempt >= c.cfg.MaxAttempts {
			return fmt.Errorf("%w: %s failed after %d attempts: %w", ErrUnavailable, op, attempt, last)
		}
		wait := jitter(backoff)
		backoff = min(backoff*2, c.cfg.MaxBackoff)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("rainmaker: %s: %w (last error: %w)", op, ctx.Err(), last)
		case <-t.C:
		}
	}
}

func jitter(d time.Duration) time.Duration {
	f := 0.8 + 0.4*rand.Float64()
	return time.Duration(float64(d) * f)
}

func (c *Client) once(ctx context.Context, method, u string, payload []byte, token string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	var rd io.Reader
	if payload != nil {
		rd = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if token != "" {
		// RainMaker wants the raw token, no "Bearer" prefix (§4.2).
		req.Header.Set("Authorization", token)
	}
	start := c.cfg.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		c.log.DebugContext(ctx, "rainmaker: request failed", "method", method, "path", req.URL.Path)
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, nil, err
	}
	c.log.DebugContext(ctx, "rainmaker: request", "method", method, "path", req.URL.Path,
		"status", resp.StatusCode, "duration", c.cfg.Now().Sub(start))
	return resp.StatusCode, b, nil
}

func (c *Client) apiError(op string, status int, body []byte) *APIError {
	e := &APIError{Op: op, HTTPStatus: status}
	var m struct {
		Status      string          `json:"status"`
		Code        json.RawMessage `json:"error_code"`
		Description string          `json:"description"`
		Message     string          `json:"message"`
	}
	if json.Unmarshal(body, &m) == nil && (m.Status != "" || m.Message != "" || m.Description != "") {
		e.Status = m.Status
		e.Description = c.redact(m.Description)
		e.Message = c.redact(m.Message)
		var n json.Number
		if json.Unmarshal(m.Code, &n) == nil {
			e.Code, _ = n.Int64()
		} else {
			var s string
			if json.Unmarshal(m.Code, &s) == nil {
				fmt.Sscanf(s, "%d", &e.Code)
			}
		}
		if e.Status == "" && e.Description != "" {
			e.Status = "failure"
		}
		return e
	}
	raw := strings.TrimSpace(string(body))
	if len(raw) > 200 {
		raw = raw[:200] + "…"
	}
	e.Raw = c.redact(raw)
	return e
}

// authed performs an authenticated call; a 401 reply triggers one forced
// refresh/login and one more try.
func (c *Client) authed(ctx context.Context, op, method, path string, query url.Values, body, out any) error {
	tok, err := c.token(ctx, false)
	if err != nil {
		return err
	}
	err = c.do(ctx, op, method, path, query, body, tok, out)
	var ae *APIError
	if !errors.As(err, &ae) || ae.HTTPStatus != http.StatusUnauthorized {
		return err
	}
	c.mu.Lock()
	canRenew := c.creds.RefreshToken != "" || (c.creds.Username != "" && c.creds.Password != "")
	c.mu.Unlock()
	if !canRenew {
		return err
	}
	c.log.InfoContext(ctx, "rainmaker: access token rejected, renewing", "op", op)
	if tok, err = c.token(ctx, true); err != nil {
		return err
	}
	return c.do(ctx, op, method, path, query, body, tok, out)
}

// ---- mapping API ----

// Challenge is the reply of the mapping initiate call.
type Challenge struct {
	RequestID string `json:"request_id"`
	Challenge string `json:"challenge"`
}

// InitiateMapping starts a challenge-response mapping (POST
// user/nodes/mapping/initiate with {"timeout": timeoutSec}; the CLI uses 360).
func (c *Client) InitiateMapping(ctx context.Context, timeoutSec int) (Challenge, error) {
	if timeoutSec <= 0 {
		timeoutSec = 360
	}
	var r Challenge
	if err := c.authed(ctx, "initiate mapping", http.MethodPost, "user/nodes/mapping/initiate", nil,
		map[string]int{"timeout": timeoutSec}, &r); err != nil {
		return Challenge{}, err
	}
	if r.RequestID == "" || r.Challenge == "" {
		return Challenge{}, fmt.Errorf("%w: mapping initiate reply lacks request_id or challenge", ErrBadResponse)
	}
	return r, nil
}

// VerifyRequest is the body of the mapping verify call.
type VerifyRequest struct {
	RequestID string `json:"request_id"`
	NodeID    string `json:"node_id"`
	// ChallengeResponse is the lowercase hex of the device's signature.
	ChallengeResponse string         `json:"challenge_response"`
	Tags              []string       `json:"tags,omitempty"`
	Metadata          map[string]any `json:"metadata,omitempty"`
}

// VerifyMapping completes a challenge-response mapping (POST
// user/nodes/mapping/verify). Any 2xx is success, as in the CLI.
func (c *Client) VerifyMapping(ctx context.Context, r VerifyRequest) error {
	var reply json.RawMessage
	return c.authed(ctx, "verify mapping", http.MethodPost, "user/nodes/mapping/verify", nil, r, &reply)
}

// AddMappingRequest is the body of the traditional PUT user/nodes/mapping.
type AddMappingRequest struct {
	UserID    string         `json:"user_id"`
	NodeID    string         `json:"node_id"`
	SecretKey string         `json:"secret_key"`
	Operation string         `json:"operation"`
	Tags      []string       `json:"tags,omitempty"`
	Metadata  map[string]any `json:"metadata,omitempty"`
}

// AddNodeMapping sends the traditional mapping request (operation "add" if
// empty) and returns the cloud's request id.
func (c *Client) AddNodeMapping(ctx context.Context, r AddMappingRequest) (string, error) {
	if r.Operation == "" {
		r.Operation = "add"
	}
	var reply struct {
		RequestID string `json:"request_id"`
	}
	if err := c.authed(ctx, "add node mapping", http.MethodPut, "user/nodes/mapping", nil, r, &reply); err != nil {
		return "", err
	}
	if reply.RequestID == "" {
		return "", fmt.Errorf("%w: mapping reply lacks request_id", ErrBadResponse)
	}
	return reply.RequestID, nil
}

// Mapping request states reported by GET user/nodes/mapping.
const (
	StatusRequested = "requested"
	StatusConfirmed = "confirmed"
	StatusTimedOut  = "timedout"
	StatusDiscarded = "discarded"
)

// MappingStatus reads the state of a traditional mapping request ("" when
// the reply has no request_status).
func (c *Client) MappingStatus(ctx context.Context, requestID string) (string, error) {
	var reply struct {
		RequestStatus string `json:"request_status"`
	}
	q := url.Values{"request_id": {requestID}}
	if err := c.authed(ctx, "mapping status", http.MethodGet, "user/nodes/mapping", q, nil, &reply); err != nil {
		return "", err
	}
	return reply.RequestStatus, nil
}

// NodeDetails is the part of a node's details that provisioning checks.
type NodeDetails struct {
	ID       string         `json:"id"`
	Tags     []string       `json:"tags"`
	Metadata map[string]any `json:"metadata"`
}

// GetNode reads a node's tags and metadata (GET user/nodes?node_id=&node_details=true).
func (c *Client) GetNode(ctx context.Context, nodeID string) (NodeDetails, error) {
	var reply struct {
		Nodes []NodeDetails `json:"node_details"`
	}
	q := url.Values{"node_id": {nodeID}, "node_details": {"true"}}
	if err := c.authed(ctx, "get node", http.MethodGet, "user/nodes", q, nil, &reply); err != nil {
		return NodeDetails{}, err
	}
	for _, n := range reply.Nodes {
		if n.ID == nodeID {
			return n, nil
		}
	}
	return NodeDetails{}, fmt.Errorf("%w: node %s not in reply", ErrBadResponse, nodeID)
}
