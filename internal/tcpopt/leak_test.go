package tcpopt

import (
	"testing"

	"github.com/espprov/espprov/internal/leakcheck"
)

// TestMain fails the package's tests if any goroutine outlives them.
func TestMain(m *testing.M) {
	leakcheck.VerifyTestMain(m)
}
