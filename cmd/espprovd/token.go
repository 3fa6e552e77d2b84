package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/espprov/espprov/internal/server/auth"
)

const tokenUsage = `usage: espprovd token create --file FILE --name NAME --scopes SCOPE[,SCOPE...]
       espprovd token list   --file FILE
       espprovd token revoke --file FILE --name NAME

The tokens file holds token hashes, never tokens: create prints the new token
once, alone on the last line of standard output. Scopes: provision, map,
discover, jobs.read, admin. A running espprovd re-reads the file on SIGHUP.
--file defaults to $ESPPROV_AUTH_TOKENS.
`

func runToken(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, tokenUsage)
		if len(args) == 0 {
			return usageError{errors.New("token: missing subcommand (create, list, revoke)")}
		}
		return flag.ErrHelp
	}
	fs := flag.NewFlagSet("espprovd token "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, tokenUsage) }
	file := fs.String("file", os.Getenv("ESPPROV_AUTH_TOKENS"), "tokens `FILE`")
	name := fs.String("name", "", "token `NAME` (shown in logs and job records)")
	scopes := fs.String("scopes", "", "comma-separated scopes")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("token %s: unexpected argument %q", args[0], fs.Arg(0))}
	}
	if *file == "" {
		return usageError{fmt.Errorf("token %s: --file is required", args[0])}
	}
	switch args[0] {
	case "create":
		if *name == "" {
			return usageError{errors.New("token create: --name is required")}
		}
		sc, err := auth.ParseScopes(*scopes)
		if err != nil {
			return usageError{fmt.Errorf("token create: --scopes: %w", err)}
		}
		tok, err := auth.CreateToken(*file, *name, sc, time.Now())
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "token %q with scopes %s added to %s (send SIGHUP to a running espprovd).\n", *name, *scopes, *file)
		fmt.Fprintln(stdout, "It is shown only now; store it where the client reads it (ESPPROV_TOKEN):")
		fmt.Fprintln(stdout, tok)
		return nil
	case "list":
		f, err := auth.ReadFile(*file)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KIND\tNAME\tSCOPES\tCREATED")
		for _, t := range f.Tokens {
			created := "-"
			if !t.Created.IsZero() {
				created = t.Created.Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "token\t%s\t%s\t%s\n", t.Name, auth.JoinScopes(t.Scopes), created)
		}
		for _, c := range f.Certificates {
			fmt.Fprintf(tw, "certificate\t%s\t%s\t-\n", c.Subject, auth.JoinScopes(c.Scopes))
		}
		return tw.Flush()
	case "revoke":
		if *name == "" {
			return usageError{errors.New("token revoke: --name is required")}
		}
		if err := auth.RevokeToken(*file, *name); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "token %q revoked in %s (send SIGHUP to a running espprovd).\n", *name, *file)
		return nil
	}
	return usageError{fmt.Errorf("token: unknown subcommand %q (create, list, revoke)", args[0])}
}
