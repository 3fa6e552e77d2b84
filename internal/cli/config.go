package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"google.golang.org/grpc/metadata"

	"github.com/espprov/espprov/internal/rainmaker"
)

// cloudConfig is what `espprov login` stores. The JSON keys are those
// rainmaker.LoadCredentialsFile reads, so espprovd can use the same file
// (ESPPROV_RAINMAKER_CREDENTIALS_FILE).
type cloudConfig struct {
	BaseURL      string `json:"base_url,omitempty"`
	UserName     string `json:"user_name,omitempty"`
	AccessToken  string `json:"accesstoken,omitempty"`
	IDToken      string `json:"idtoken,omitempty"`
	RefreshToken string `json:"refreshtoken,omitempty"`
}

// String never shows the tokens.
func (c cloudConfig) String() string {
	return fmt.Sprintf("cloudConfig{base_url=%q user=%q logged_in=%t}", c.BaseURL, c.UserName, c.loggedIn())
}

func (c cloudConfig) loggedIn() bool { return c.AccessToken != "" || c.RefreshToken != "" }

// configPath is $XDG_CONFIG_HOME/espprov/rainmaker.json, or
// ~/.config/espprov/rainmaker.json.
func (a *app) configPath() (string, error) {
	dir := a.getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home := a.getenv("HOME")
		if home == "" {
			h, err := os.UserHomeDir()
			if err != nil {
				return "", fmt.Errorf("config: no XDG_CONFIG_HOME or home directory: %w", err)
			}
			home = h
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "espprov", "rainmaker.json"), nil
}

// loadCloud reads the stored login; a missing file is "not logged in".
func (a *app) loadCloud() (cloudConfig, error) {
	var c cloudConfig
	p, err := a.configPath()
	if err != nil {
		return c, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("reading %s: %w", p, err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return cloudConfig{}, codeErr(ExitCloud, "%s is not valid JSON (%v): run 'espprov login' again", p, err)
	}
	if st, err := os.Stat(p); err == nil && st.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(a.stderr, "Warning: %s is readable by other users; run: chmod 600 %s\n", p, p)
	}
	return c, nil
}

// saveCloud writes the login with mode 0600 (directory 0700), atomically.
func (a *app) saveCloud(c cloudConfig) (string, error) {
	p, err := a.configPath()
	if err != nil {
		return "", err
	}
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("creating %s: %w", dir, err)
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return "", fmt.Errorf("encoding login: %w", err)
	}
	f, err := os.CreateTemp(dir, ".rainmaker-*.json")
	if err != nil {
		return "", fmt.Errorf("writing login: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return "", fmt.Errorf("writing login: %w", err)
	}
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return "", fmt.Errorf("writing login: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("writing login: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return "", fmt.Errorf("writing login: %w", err)
	}
	return p, nil
}

// cloudMetadata is the gRPC metadata carrying the stored login to the
// service (rainmaker.CredentialsFromMetadata reads it).
func cloudMetadata(c cloudConfig) metadata.MD {
	md := metadata.MD{}
	if c.AccessToken != "" {
		md.Set(rainmaker.MDAccessToken, c.AccessToken)
	}
	if c.IDToken != "" {
		md.Set(rainmaker.MDIDToken, c.IDToken)
	}
	if c.RefreshToken != "" {
		md.Set(rainmaker.MDRefreshToken, c.RefreshToken)
	}
	return md
}
