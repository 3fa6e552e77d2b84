// Command espprovd serves the espprov.v1 provisioning API over gRPC (with
// reflection and health) and as a REST gateway.
//
//	espprovd --grpc-listen 127.0.0.1:50051 --http-listen 127.0.0.1:8090
//	espprovd --config /etc/espprov/espprovd.yaml
//	espprovd token create --file /etc/espprov/tokens.yaml --name mes --scopes provision,map
//	espprovd config print --config /etc/espprov/espprovd.yaml
//	espprovd --demo   # simulated device + server + one provisioning, printed
//
// Every flag is also a key of the YAML config file (--config) and an
// ESPPROV_* environment variable; the command line wins over the
// environment, which wins over the file. RainMaker mapping uses the account
// from --rainmaker-* (or ESPPROV_RAINMAKER_*); a call may act for another
// account with x-rainmaker-* gRPC metadata. The server's account is only
// sent to its own cloud; --cloud NAME=URL adds clouds that calls may pick by
// name with their own credentials.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
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
	if len(args) > 0 {
		switch args[0] {
		case "token":
			return runToken(args[1:], stdout, stderr)
		case "config":
			return runConfig(args[1:], stdout, stderr)
		}
	}
	return serve(ctx, args, stdout, stderr, os.Getenv)
}
