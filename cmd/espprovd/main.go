// Command espprovd serves the espprov.v1 provisioning API over gRPC (with
// reflection and health) and as a REST gateway.
//
//	espprovd --grpc-listen 127.0.0.1:50051 --http-listen 127.0.0.1:8081
//	espprovd --demo   # simulated device + server + one provisioning, printed
//
// RainMaker mapping uses the account from the environment
// (ESPPROV_RAINMAKER_URL, ESPPROV_RAINMAKER_REFRESH_TOKEN, or
// ESPPROV_RAINMAKER_USER + ESPPROV_RAINMAKER_PASSWORD, or
// ESPPROV_RAINMAKER_CREDENTIALS_FILE); a call may act for another account with
// x-rainmaker-* gRPC metadata. The server's account is only sent to its own
// cloud; --cloud NAME=URL adds clouds that calls may pick by name with their
// own credentials.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/espprov/espprov/internal/rainmaker"
	"github.com/espprov/espprov/internal/server"
	"github.com/espprov/espprov/services/provisioning"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "espprovd:", err)
		}
		os.Exit(exitCode(err))
	}
}

type usageError struct{ error }

func exitCode(err error) int {
	var u usageError
	if errors.As(err, &u) || errors.Is(err, flag.ErrHelp) {
		return 2
	}
	return 1
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("espprovd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	grpcListen := fs.String("grpc-listen", "127.0.0.1:50051", "gRPC listen address `HOST:PORT`")
	httpListen := fs.String("http-listen", "127.0.0.1:8081", "REST gateway listen address `HOST:PORT` (empty disables it)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	demo := fs.Bool("demo", false, "start a simulated device and this server on loopback, provision the device through the gRPC API and print the progress")
	shutdownGrace := fs.Duration("shutdown-grace", 10*time.Second, "how long running calls may finish on SIGINT/SIGTERM")
	clouds := cloudFlag{}
	fs.Var(clouds, "cloud", "add a named RainMaker cloud `NAME=URL` that calls may pick with mapping.cloud_url (repeatable; \"global\" and \"china\" are built in). Only the server's own cloud (ESPPROV_RAINMAKER_URL) receives the server's account; the others need per-call x-rainmaker-* credentials")
	cloudHTTP := fs.Bool("cloud-allow-http", false, "let calls with per-call credentials name an unconfigured plain-http cloud_url (default: https only)")
	cloudRefuse := fs.Bool("cloud-refuse-urls", false, "refuse every cloud_url that is not a configured cloud, even with per-call credentials")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return usageError{fmt.Errorf("--log-level: %w", err)}
	}
	if *demo && !isSet(fs, "log-level") {
		level = slog.LevelWarn // keep the demo's output to its progress
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if *demo {
		return runDemo(ctx, stdout, log)
	}
	rm, err := rainmaker.LoadConfig(os.Getenv)
	if err != nil {
		return usageError{fmt.Errorf("RainMaker configuration: %w", err)}
	}
	if !rm.Credentials.IsZero() {
		log.Info("RainMaker mapping enabled", "cloud", rm.BaseURL, "account", rm.Credentials)
	}
	svc := provisioning.New(provisioning.Config{Modules: provisioning.DefaultModules(), Logger: log,
		Cloud: provisioning.CloudConfig{Server: rm, Client: rainmaker.Config{Logger: log},
			Clouds: clouds, AllowHTTP: *cloudHTTP, RefuseCustomURLs: *cloudRefuse}})
	srv, err := server.Start(ctx, server.Options{GRPCListen: *grpcListen, HTTPListen: *httpListen, Service: svc, Logger: log})
	if err != nil {
		return err
	}
	log.Info("espprovd serving", "grpc", srv.GRPCAddr(), "http", srv.HTTPAddr())
	<-ctx.Done()
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), *shutdownGrace)
	defer cancel()
	_ = srv.Shutdown(sctx)
	return nil
}

func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
