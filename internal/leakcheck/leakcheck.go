// Package leakcheck holds the goroutine-leak check every test package
// runs (go.uber.org/goleak in TestMain): the goroutines of third-party
// libraries that outlive their users by design are ignored, nothing else.
package leakcheck

import (
	"fmt"
	"net/http"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// Options are the ignores shared by every package's check.
func Options() []goleak.Option {
	return []goleak.Option{
		// dnssd keeps its responder, announcement, probe and reader
		// goroutines after shutdown (the namespace tests already account
		// for them): every goroutine it starts.
		goleak.IgnoreAnyFunction("github.com/brutella/dnssd.(*responder).Respond"),
		goleak.IgnoreAnyFunction("github.com/brutella/dnssd.(*responder).announce"),
		goleak.IgnoreAnyFunction("github.com/brutella/dnssd.(*responder).announceAtInterface"),
		goleak.IgnoreAnyFunction("github.com/brutella/dnssd.(*responder).linkSubscribe"),
		goleak.IgnoreAnyFunction("github.com/brutella/dnssd.(*responder).reprobe"),
		goleak.IgnoreAnyFunction("github.com/brutella/dnssd.(*mdnsConn).readInto"),
		goleak.IgnoreAnyFunction("github.com/brutella/dnssd.(*mdnsConn).readInto.func1"),
		goleak.IgnoreAnyFunction("github.com/brutella/dnssd.(*mdnsConn).readInto.func2"),
		goleak.IgnoreAnyFunction("github.com/brutella/dnssd.(*mdnsConn).readInto.func3"),
		goleak.IgnoreAnyFunction("github.com/brutella/dnssd.(*mdnsConn).readInto.func4"),
		goleak.IgnoreAnyFunction("github.com/brutella/dnssd.LookupType.func1"),
		goleak.IgnoreAnyFunction("github.com/brutella/dnssd.lookupInstance.func1"),
		// lookupType's query feeder (browse.go) sends one query per
		// interface on an unbuffered channel; a lookup whose context ends
		// before every query was taken leaves it blocked on that send.
		goleak.IgnoreAnyFunction("github.com/brutella/dnssd.lookupType.func1"),
		goleak.IgnoreAnyFunction("github.com/brutella/dnssd.(*serviceHandle).UpdateText.func1"),
		goleak.IgnoreAnyFunction("github.com/vishvananda/netlink/nl.(*NetlinkSocket).Receive"),
		// go-bluetooth caches one system-bus connection per process.
		goleak.IgnoreAnyFunction("github.com/godbus/dbus/v5.(*Conn).inWorker"),
		goleak.IgnoreAnyFunction("github.com/godbus/dbus/v5.(*Conn).outWorker"),
	}
}

// VerifyTestMain runs the tests and then fails if goroutines leaked.
func VerifyTestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if err := Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak: goroutines outlived the tests:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// Find reports goroutines still running besides the ignored ones, for a
// TestMain that does more than run the tests. Idle keep-alive connections
// of http.DefaultTransport (http.Get in a test) are closed first: they are
// a pool, not a leak.
func Find() error {
	if t, ok := http.DefaultTransport.(*http.Transport); ok {
		t.CloseIdleConnections()
	}
	return goleak.Find(Options()...)
}
