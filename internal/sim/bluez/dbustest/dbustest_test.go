package dbustest_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/espprov/espprov/internal/sim/bluez/dbustest"
)

func TestStartAndClose(t *testing.T) {
	b := dbustest.Start(t)
	if !strings.HasPrefix(b.Address, "unix:path=") {
		t.Fatalf("address %q", b.Address)
	}
	c := b.Conn(t)
	var names []string
	if err := c.BusObject().Call("org.freedesktop.DBus.ListNames", 0).Store(&names); err != nil {
		t.Fatal(err)
	}
	// The permissive policy lets anyone own any name, like org.bluez.
	if _, err := c.RequestName("org.bluez", 0); err != nil {
		t.Fatal(err)
	}
	sock := strings.TrimPrefix(strings.Split(b.Address, ",")[0], "unix:path=")
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Fatalf("socket %s left behind: %v", sock, err)
	}
	if _, err := b.Dial(); err == nil {
		t.Fatal("dial after Close succeeded")
	}
}

func TestMissingDaemonFails(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := dbustest.StartDaemon(ctx)
	if err == nil || !strings.Contains(err.Error(), "install the Debian package dbus-daemon") {
		t.Fatalf("err %v, want the install hint", err)
	}
}
