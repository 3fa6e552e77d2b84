package main

import (
	"fmt"
	"os"
	"testing"

	"github.com/espprov/espprov/internal/leakcheck"
)

// TestMain checks for goroutine leaks and keeps the default job store ($XDG_STATE_HOME/espprov/jobs.db)
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
	if code == 0 {
		if err := leakcheck.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak: goroutines outlived the tests:", err)
			code = 1
		}
	}
	os.Exit(code)
}
