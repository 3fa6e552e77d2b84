package main

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// runConfig is `espprovd config print [serve flags]`: the effective
// configuration (flags, environment, file, defaults) with secrets masked.
func runConfig(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "print" {
		fmt.Fprintln(stderr, "usage: espprovd config print [--config FILE] [flags]")
		return usageError{errors.New("config: the only subcommand is print")}
	}
	s := newSettings("espprovd config print", stderr)
	if err := s.parse(args[1:], os.Getenv); err != nil {
		return err
	}
	return s.layers.Print(stdout)
}
