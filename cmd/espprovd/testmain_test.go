package main

import (
	"fmt"
	"os"
	"testing"
)

// TestMain keeps the default job store ($XDG_STATE_HOME/espprov/jobs.db)
// of every test run in a directory of its own, never the user's.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "espprovd-test-state-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("XDG_STATE_HOME", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
