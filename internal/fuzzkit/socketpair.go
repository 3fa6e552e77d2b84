//go:build unix

package fuzzkit

import (
	"fmt"
	"net"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// SocketPair returns the two ends of a connected Unix stream socket pair:
// real sockets (deadlines, half-close, MSG_PEEK work as on TCP) without a
// listener, a handshake and an accept. Fuzz targets that exchange bytes
// with a server use it: over loopback TCP they spend most of an execution
// waiting for the scheduler on a loaded machine.
func SocketPair() (net.Conn, net.Conn, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("fuzzkit: socketpair: %w", err)
	}
	var conns [2]net.Conn
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "socketpair")
		conns[i], err = net.FileConn(f) // dups the descriptor
		f.Close()
		if err != nil {
			if i == 1 {
				conns[0].Close()
			} else {
				unix.Close(fds[1])
			}
			return nil, nil, fmt.Errorf("fuzzkit: socketpair: %w", err)
		}
	}
	return conns[0], conns[1], nil
}

// PairListener is a net.Listener whose connections come from Dial, each a
// SocketPair: a server's accept loop serves them as it serves TCP.
type PairListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

// NewPairListener returns an open PairListener.
func NewPairListener() *PairListener {
	return &PairListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

// Dial connects to the listener and returns the client's end.
func (l *PairListener) Dial() (net.Conn, error) {
	c, s, err := SocketPair()
	if err != nil {
		return nil, err
	}
	select {
	case l.conns <- s:
		return c, nil
	case <-l.done:
		c.Close()
		s.Close()
		return nil, net.ErrClosed
	}
}

// Accept implements net.Listener.
func (l *PairListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener.
func (l *PairListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// Addr implements net.Listener.
func (l *PairListener) Addr() net.Addr { return &net.UnixAddr{Name: "socketpair", Net: "unix"} }
