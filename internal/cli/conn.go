package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	espprovv1 "github.com/espprov/espprov/api/espprov/v1"
	"github.com/espprov/espprov/internal/rainmaker"
	"github.com/espprov/espprov/services/provisioning"
)

// client is a connection to a provisioning service, in-process or remote.
type client struct {
	espprovv1.ProvisioningServiceClient
	remote bool
	close  func()
}

// connect returns a client of the in-process service (served on an
// in-memory gRPC connection, so the CLI always speaks the public API) or of
// the remote server named by --server.
func (a *app) connect() (*client, error) {
	if a.server != "" {
		return a.connectRemote()
	}
	return a.connectLocal()
}

func (a *app) connectLocal() (*client, error) {
	cc, err := rainmaker.LoadConfig(a.getenv)
	if err != nil {
		return nil, codeErr(ExitCloud, "ESP RainMaker configuration from the environment: %v", err)
	}
	lis := bufconn.Listen(1 << 20)
	svc := provisioning.New(provisioning.Config{Modules: provisioning.DefaultModules(), Logger: a.logger(),
		// In-process the per-call credentials are the user's own login,
		// sent to the URL they logged in to: http is theirs to choose.
		Cloud: provisioning.CloudConfig{Server: cc, Client: rainmaker.Config{Logger: a.logger()}, AllowHTTP: true}})
	srv := grpc.NewServer()
	espprovv1.RegisterProvisioningServiceServer(srv, svc)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis)
	}()
	conn, err := grpc.NewClient("passthrough:///espprov-inprocess",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		srv.Stop()
		<-done
		return nil, fmt.Errorf("in-process engine: %w", err)
	}
	return &client{
		ProvisioningServiceClient: espprovv1.NewProvisioningServiceClient(conn),
		close: func() {
			_ = conn.Close()
			stopped := make(chan struct{})
			go func() { srv.GracefulStop(); close(stopped) }()
			select {
			case <-stopped:
			case <-time.After(3 * time.Second):
				srv.Stop()
			}
			<-done
		},
	}, nil
}

func (a *app) connectRemote() (*client, error) {
	if _, _, err := net.SplitHostPort(a.server); err != nil {
		return nil, usageErr("--server %q is not HOST:PORT: %v", a.server, err)
	}
	creds := insecure.NewCredentials()
	if a.useTLS || a.tlsCA != "" || a.tlsServerName != "" || a.tlsInsecure || a.tlsCert != "" {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: a.tlsServerName, InsecureSkipVerify: a.tlsInsecure} //nolint:gosec // opt-in flag for testing
		if a.tlsCA != "" {
			pem, err := os.ReadFile(a.tlsCA)
			if err != nil {
				return nil, usageErr("--tls-ca: %v", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, usageErr("--tls-ca %s: no PEM certificate found", a.tlsCA)
			}
			cfg.RootCAs = pool
		}
		if a.tlsCert != "" {
			cert, err := tls.LoadX509KeyPair(a.tlsCert, a.tlsKey)
			if err != nil {
				return nil, usageErr("--tls-cert/--tls-key: %v", err)
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
		creds = credentials.NewTLS(cfg)
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(creds)}
	token := a.token
	if token == "" {
		token = a.getenv("ESPPROV_TOKEN")
	}
	if token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer(token)))
		if host, _, _ := net.SplitHostPort(a.server); creds.Info().SecurityProtocol == "insecure" && !isLoopback(host) {
			fmt.Fprintf(a.stderr, "Warning: sending the token to %s without TLS; anyone on the network can read it (use --tls or --tls-ca).\n", a.server)
		}
	}
	conn, err := grpc.NewClient(a.server, opts...)
	if err != nil {
		return nil, codeErr(ExitDevice, "connecting to --server %s: %v", a.server, err)
	}
	return &client{
		ProvisioningServiceClient: espprovv1.NewProvisioningServiceClient(conn),
		remote:                    true,
		close:                     func() { _ = conn.Close() },
	}, nil
}

// bearer sends "authorization: Bearer <token>" with every call. It is
// allowed without TLS (a server on loopback); espprovd warns when a token
// would cross a network in plaintext.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

func (bearer) RequireTransportSecurity() bool { return false }

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
