package rainmaker

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
)

// Base URL presets (rainmaker.md §4.1). The API base always ends in "/v1/".
const (
	GlobalBaseURL = "https://api.rainmaker.espressif.com/v1/"
	ChinaBaseURL  = "https://api2.rainmaker.espressif.com.cn/v1/"
)

// ResolveBaseURL turns a preset name or a URL into an API base URL ending in
// "/v1/". "" and "global" give GlobalBaseURL, "china" (or "cn") ChinaBaseURL;
// anything else must be an absolute http(s) URL, to which "/v1/" is appended
// when missing (like the CLI's custom profiles).
func ResolveBaseURL(s string) (string, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "global":
		return GlobalBaseURL, nil
	case "china", "cn":
		return ChinaBaseURL, nil
	}
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("rainmaker: invalid base URL %q: want \"global\", \"china\" or an http(s) URL", s)
	}
	if u.User != nil {
		return "", errors.New("rainmaker: base URL must not contain user information")
	}
	u.RawQuery, u.Fragment = "", ""
	p := strings.TrimRight(u.Path, "/")
	if !strings.HasSuffix(p, "/v1") {
		p += "/v1"
	}
	u.Path = p + "/"
	u.RawPath = ""
	return u.String(), nil
}

// Credentials for one RainMaker account. At least one of RefreshToken,
// Username+Password or AccessToken must be set. String, GoString, LogValue
// and MarshalJSON never reveal the secrets.
type Credentials struct {
	Username     string
	Password     string
	RefreshToken string
	// AccessToken and IDToken may be given together (e.g. loaded from the
	// reference CLI's token file) to skip the first login.
	AccessToken string
	IDToken     string
}

// IsZero reports whether no credential field is set.
func (c Credentials) IsZero() bool { return c == Credentials{} }

// Validate checks that the credentials can obtain an access token.
func (c Credentials) Validate() error {
	switch {
	case c.RefreshToken != "":
	case c.Username != "" && c.Password != "":
	case c.AccessToken != "" && c.IDToken != "":
	case c.Username != "" || c.Password != "":
		return fmt.Errorf("%w: user name and password must be given together", ErrUnauthenticated)
	default:
		return fmt.Errorf("%w: no RainMaker credentials configured (refresh token or user name and password)", ErrUnauthenticated)
	}
	return nil
}

func set(s string) string {
	if s == "" {
		return "unset"
	}
	return "set"
}

// String describes the credentials without their secrets.
func (c Credentials) String() string {
	return fmt.Sprintf("rainmaker.Credentials{user=%q password=%s refresh_token=%s access_token=%s id_token=%s}",
		c.Username, set(c.Password), set(c.RefreshToken), set(c.AccessToken), set(c.IDToken))
}

// GoString is String (so %#v does not print secrets either).
func (c Credentials) GoString() string { return c.String() }

// LogValue implements slog.LogValuer without secrets.
func (c Credentials) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("user", c.Username),
		slog.String("password", set(c.Password)),
		slog.String("refresh_token", set(c.RefreshToken)),
		slog.String("access_token", set(c.AccessToken)),
	)
}

// MarshalJSON writes the redacted description, never the secrets.
func (c Credentials) MarshalJSON() ([]byte, error) { return json.Marshal(c.String()) }

func (c Credentials) secrets() redactor {
	return redactor{c.Password, c.RefreshToken, c.AccessToken, c.IDToken}
}

// Environment variables read by LoadConfig.
const (
	EnvBaseURL         = "ESPPROV_RAINMAKER_URL"
	EnvUsername        = "ESPPROV_RAINMAKER_USER"
	EnvPassword        = "ESPPROV_RAINMAKER_PASSWORD"
	EnvRefreshToken    = "ESPPROV_RAINMAKER_REFRESH_TOKEN"
	EnvCredentialsFile = "ESPPROV_RAINMAKER_CREDENTIALS_FILE"
	// EnvCLIPassword is the reference CLI's password variable, honoured as a
	// fallback for EnvPassword.
	EnvCLIPassword = "ESP_RAINMAKER_PASSWORD"
)

// ServerConfig is the server-wide RainMaker configuration.
type ServerConfig struct {
	// BaseURL is the resolved API base ("…/v1/").
	BaseURL     string
	Credentials Credentials
}

// credentialsFile is the JSON credentials file. The token keys are those of
// the reference CLI's "<profile>_config.json", so that file can be used as is.
type credentialsFile struct {
	BaseURL      string `json:"base_url"`
	Host         string `json:"host"`
	Username     string `json:"user_name"`
	Password     string `json:"password"`
	RefreshToken string `json:"refreshtoken"`
	RefreshAlt   string `json:"refresh_token"`
	AccessToken  string `json:"accesstoken"`
	IDToken      string `json:"idtoken"`
}

// LoadCredentialsFile reads a JSON file with any of the keys "base_url" (or
// "host"), "user_name", "password", "refreshtoken" (or "refresh_token"),
// "accesstoken", "idtoken". The returned base URL is "" if the file has none.
func LoadCredentialsFile(path string) (Credentials, string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Credentials{}, "", fmt.Errorf("rainmaker: credentials file: %w", err)
	}
	var f credentialsFile
	if err := json.Unmarshal(b, &f); err != nil {
		// Never include the file content: it holds secrets.
		return Credentials{}, "", fmt.Errorf("rainmaker: credentials file %s: not a JSON object", path)
	}
	c := Credentials{
		Username:     f.Username,
		Password:     f.Password,
		RefreshToken: f.RefreshToken,
		AccessToken:  f.AccessToken,
		IDToken:      f.IDToken,
	}
	if c.RefreshToken == "" {
		c.RefreshToken = f.RefreshAlt
	}
	base := f.BaseURL
	if base == "" {
		base = f.Host
	}
	return c, base, nil
}

// LoadConfig builds the server configuration from the environment (getenv,
// usually os.Getenv): EnvCredentialsFile is read first, then the individual
// variables override its fields. Missing credentials are not an error here
// (a per-call override may supply them); use Credentials.Validate.
func LoadConfig(getenv func(string) string) (ServerConfig, error) {
	var cfg ServerConfig
	var base string
	if p := getenv(EnvCredentialsFile); p != "" {
		c, b, err := LoadCredentialsFile(p)
		if err != nil {
			return ServerConfig{}, err
		}
		cfg.Credentials, base = c, b
	}
	if v := getenv(EnvBaseURL); v != "" {
		base = v
	}
	if v := getenv(EnvUsername); v != "" {
		cfg.Credentials.Username = v
	}
	if v := getenv(EnvPassword); v != "" {
		cfg.Credentials.Password = v
	} else if v := getenv(EnvCLIPassword); v != "" && cfg.Credentials.Password == "" {
		cfg.Credentials.Password = v
	}
	if v := getenv(EnvRefreshToken); v != "" {
		cfg.Credentials.RefreshToken = v
	}
	u, err := ResolveBaseURL(base)
	if err != nil {
		return ServerConfig{}, err
	}
	cfg.BaseURL = u
	return cfg, nil
}

// Per-call override keys (gRPC metadata keys are lower case). When any of the
// credential keys is present, the call uses only the credentials from the
// metadata, not the server's.
const (
	MDUsername     = "x-rainmaker-user"
	MDPassword     = "x-rainmaker-password"
	MDRefreshToken = "x-rainmaker-refresh-token"
	MDAccessToken  = "x-rainmaker-access-token"
	MDIDToken      = "x-rainmaker-id-token"
)

// CredentialsFromMetadata extracts per-call credentials from gRPC-style
// metadata (keys lower case, as in google.golang.org/grpc/metadata.MD). ok is
// false when the metadata carries no credentials. The error never contains
// the values.
func CredentialsFromMetadata(md map[string][]string) (c Credentials, ok bool, err error) {
	get := func(k string) (string, error) {
		v := md[k]
		switch len(v) {
		case 0:
			return "", nil
		case 1:
			ok = true
			return v[0], nil
		}
		return "", fmt.Errorf("rainmaker: metadata %q given %d times", k, len(v))
	}
	for _, f := range []struct {
		key string
		dst *string
	}{
		{MDUsername, &c.Username},
		{MDPassword, &c.Password},
		{MDRefreshToken, &c.RefreshToken},
		{MDAccessToken, &c.AccessToken},
		{MDIDToken, &c.IDToken},
	} {
		if *f.dst, err = get(f.key); err != nil {
			return Credentials{}, false, err
		}
	}
	if !ok {
		return Credentials{}, false, nil
	}
	if err := c.Validate(); err != nil {
		return Credentials{}, false, err
	}
	return c, true, nil
}
