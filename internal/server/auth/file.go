package auth

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// File is the --auth-tokens file: token hashes and certificate subjects,
// each with a name and scopes. It never holds a token.
//
//	tokens:
//	  - name: mes-line-1
//	    scopes: [provision, map]
//	    hash: sha256:9f86d0…
//	    created: 2026-12-06T10:00:00Z
//	certificates:
//	  - subject: CN=station-7,O=Factory
//	    scopes: [provision, discover]
type File struct {
	Tokens       []TokenEntry       `yaml:"tokens"`
	Certificates []CertificateEntry `yaml:"certificates"`
}

// TokenEntry is one bearer token, by the SHA-256 of the token.
type TokenEntry struct {
	Name    string    `yaml:"name"`
	Scopes  []Scope   `yaml:"scopes,flow"`
	Hash    string    `yaml:"hash"`
	Created time.Time `yaml:"created,omitempty"`
}

// CertificateEntry gives scopes to a client certificate subject (the
// RFC 2253 form Go prints, e.g. "CN=station-7,O=Factory").
type CertificateEntry struct {
	Subject string  `yaml:"subject"`
	Scopes  []Scope `yaml:"scopes,flow"`
}

const (
	hashPrefix  = "sha256:"
	tokenPrefix = "espt_"
)

// HashToken is the form a token is stored in.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hashPrefix + hex.EncodeToString(sum[:])
}

// NewToken returns a fresh random token (256 bits).
func NewToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("auth: random token: %w", err)
	}
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// ReadFile reads and checks a tokens file. Unknown keys, unknown scopes,
// duplicate names and malformed hashes are errors naming the file.
func ReadFile(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: tokens file: %w", err)
	}
	f := &File{}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("auth: tokens file %s: %w", path, err)
	}
	if err := f.check(); err != nil {
		return nil, fmt.Errorf("auth: tokens file %s: %w", path, err)
	}
	return f, nil
}

func (f *File) check() error {
	names := map[string]bool{}
	for i, t := range f.Tokens {
		if strings.TrimSpace(t.Name) == "" {
			return fmt.Errorf("token %d has no name", i+1)
		}
		if names[t.Name] {
			return fmt.Errorf("token name %q appears twice", t.Name)
		}
		names[t.Name] = true
		if h, ok := strings.CutPrefix(t.Hash, hashPrefix); !ok || len(h) != 64 || !isHex(h) {
			return fmt.Errorf("token %q: hash must be %s followed by 64 hex digits (create tokens with `espprovd token create`)", t.Name, hashPrefix)
		}
		if err := checkScopes(t.Scopes); err != nil {
			return fmt.Errorf("token %q: %w", t.Name, err)
		}
	}
	subjects := map[string]bool{}
	for i, c := range f.Certificates {
		if strings.TrimSpace(c.Subject) == "" {
			return fmt.Errorf("certificate %d has no subject", i+1)
		}
		if subjects[c.Subject] {
			return fmt.Errorf("certificate subject %q appears twice", c.Subject)
		}
		subjects[c.Subject] = true
		if err := checkScopes(c.Scopes); err != nil {
			return fmt.Errorf("certificate %q: %w", c.Subject, err)
		}
	}
	return nil
}

func checkScopes(s []Scope) error {
	if len(s) == 0 {
		return errors.New("no scopes")
	}
	for _, sc := range s {
		if !slices.Contains(AllScopes, sc) {
			return fmt.Errorf("unknown scope %q (valid: %s)", sc, JoinScopes(AllScopes))
		}
	}
	return nil
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

// WriteFile replaces the file atomically (a temporary file renamed over it),
// mode 0600, so a server re-reading it on SIGHUP sees the old or the new one.
func WriteFile(path string, f *File) error {
	if err := f.check(); err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	var buf bytes.Buffer
	buf.WriteString("# espprovd tokens file: token hashes (never the tokens) and client certificate\n# subjects with their scopes. Manage with `espprovd token create|list|revoke`.\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(f); err != nil {
		return fmt.Errorf("auth: encode tokens file: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("auth: tokens file: %w", err)
	}
	defer os.Remove(tmp.Name())
	mode := os.FileMode(0o600)
	old, statErr := os.Stat(path)
	if statErr == nil {
		mode = old.Mode().Perm()
		keepOwner(tmp, old) // an operator's root:espprov 0640 file stays readable by the service
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("auth: tokens file: %w", err)
	}
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		tmp.Close()
		return fmt.Errorf("auth: tokens file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("auth: tokens file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("auth: tokens file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("auth: tokens file: %w", err)
	}
	return nil
}

// readOrEmpty reads path, or returns an empty File when it does not exist.
func readOrEmpty(path string) (*File, error) {
	f, err := ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &File{}, nil
	}
	return f, err
}

// CreateToken adds a token named name with scopes to the file at path
// (created if missing) and returns the token, which is stored nowhere.
func CreateToken(path, name string, scopes []Scope, now time.Time) (string, error) {
	if strings.TrimSpace(name) == "" {
		return "", errors.New("auth: a token needs a name")
	}
	if err := checkScopes(scopes); err != nil {
		return "", fmt.Errorf("auth: %w", err)
	}
	f, err := readOrEmpty(path)
	if err != nil {
		return "", err
	}
	for _, t := range f.Tokens {
		if t.Name == name {
			return "", fmt.Errorf("auth: a token named %q exists in %s (revoke it first or pick another name)", name, path)
		}
	}
	tok, err := NewToken()
	if err != nil {
		return "", err
	}
	f.Tokens = append(f.Tokens, TokenEntry{Name: name, Scopes: scopes, Hash: HashToken(tok), Created: now.UTC().Truncate(time.Second)})
	if err := WriteFile(path, f); err != nil {
		return "", err
	}
	return tok, nil
}

// RevokeToken removes the token named name.
func RevokeToken(path, name string) error {
	f, err := ReadFile(path)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(f.Tokens, func(t TokenEntry) bool { return t.Name == name })
	if i < 0 {
		return fmt.Errorf("auth: no token named %q in %s", name, path)
	}
	f.Tokens = slices.Delete(f.Tokens, i, i+1)
	return WriteFile(path, f)
}
