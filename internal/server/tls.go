package server

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
)

// TLSFiles names the server's certificate and key and, for mutual TLS, the
// CA that signs client certificates. Reload re-reads them: new handshakes
// use the new files, established connections and their streams continue.
type TLSFiles struct {
	CertFile, KeyFile string
	ClientCAFile      string // "" = no client certificates

	cur atomic.Pointer[tlsState]
}

type tlsState struct {
	cert      *tls.Certificate
	clientCAs *x509.CertPool
}

// NewTLSFiles loads the files.
func NewTLSFiles(certFile, keyFile, clientCAFile string) (*TLSFiles, error) {
	if certFile == "" || keyFile == "" {
		return nil, errors.New("server: TLS needs both a certificate (--tls-cert) and a key (--tls-key)")
	}
	t := &TLSFiles{CertFile: certFile, KeyFile: keyFile, ClientCAFile: clientCAFile}
	if err := t.Reload(); err != nil {
		return nil, err
	}
	return t, nil
}

// Reload re-reads the files; on error the previous ones stay in use.
func (t *TLSFiles) Reload() error {
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return fmt.Errorf("server: TLS certificate %s / key %s: %w", t.CertFile, t.KeyFile, err)
	}
	st := &tlsState{cert: &cert}
	if t.ClientCAFile != "" {
		pem, err := os.ReadFile(t.ClientCAFile)
		if err != nil {
			return fmt.Errorf("server: TLS client CA: %w", err)
		}
		st.clientCAs = x509.NewCertPool()
		if !st.clientCAs.AppendCertsFromPEM(pem) {
			return fmt.Errorf("server: TLS client CA %s: no PEM certificate found", t.ClientCAFile)
		}
	}
	t.cur.Store(st)
	return nil
}

// Leaf is the certificate in use (for logs and tests).
func (t *TLSFiles) Leaf() *x509.Certificate { return t.cur.Load().cert.Leaf }

// config returns a tls.Config whose every handshake uses the files loaded
// last; nextProtos are the ALPN protocols of the listener.
func (t *TLSFiles) config(nextProtos ...string) *tls.Config {
	build := func() *tls.Config {
		st := t.cur.Load()
		c := &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: nextProtos, Certificates: []tls.Certificate{*st.cert}}
		if st.clientCAs != nil {
			// A certificate is optional (a bearer token works too), but one
			// that is sent must chain to the client CA.
			c.ClientAuth = tls.VerifyClientCertIfGiven
			c.ClientCAs = st.clientCAs
		}
		return c
	}
	base := build()
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) { return build(), nil }
	return base
}
