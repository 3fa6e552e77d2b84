package station_test

import (
	"os"
	"testing"

	"github.com/espprov/espprov/internal/leakcheck"
)

// TestMain fails the package's tests if any goroutine outlives them, and
// removes the binaries the browser tests built.
func TestMain(m *testing.M) {
	code := m.Run()
	cleanBinaries()
	if code == 0 {
		if err := leakcheck.Find(); err != nil {
			os.Stderr.WriteString("goleak: goroutines outlived the tests: " + err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}
