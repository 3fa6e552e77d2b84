package main

import (
	"fmt"
	"os"
	"testing"
)

// TestMain keeps the default job store ($XDG_STATE_HOME/espprov/jobs.db)
// of every test run in a directory of its own, never the user's.
// With ESPPROVD_TEST_AS_DAEMON=1 the test binary is espprovd itself, so
// that tests can run (and kill -9) real espprovd processes.
func TestMain(m *testing.M) {
	if os.Getenv("ESPPROVD_TEST_AS_DAEMON") == "1" {
		main()
		os.Exit(0)
	}
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
