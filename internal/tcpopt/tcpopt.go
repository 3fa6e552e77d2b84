// Package tcpopt sets the TCP options that decide whether a request/response
// exchange waits on a delayed ACK: Nagle's algorithm (TCP_NODELAY) and
// Linux's quick-ACK mode (TCP_QUICKACK).
//
// A device running esp_http_server on lwIP sends each reply in two writes
// (headers, then body) with Nagle on: the body leaves only when the headers
// are acknowledged. A Linux client in its usual interactive ("ping-pong")
// mode delays that ACK by up to 40 ms. Quick-ACK mode is not sticky (the
// kernel leaves it again on its own), so QuickAckConn re-arms it after every
// read.
package tcpopt

import (
	"net"
	"syscall"
)

// SetNoDelay turns Nagle's algorithm off (true) or on (false) for a TCP
// connection; other connections are left alone.
func SetNoDelay(c net.Conn, on bool) error {
	if tc, ok := c.(*net.TCPConn); ok {
		return tc.SetNoDelay(on)
	}
	return nil
}

// QuickAckConn is a net.Conn that re-arms TCP_QUICKACK (Linux) to the given
// mode before and after every read and after every write. On other systems,
// and for connections that are not sockets, it is the connection unchanged.
type QuickAckConn struct {
	net.Conn
	rc syscall.RawConn
	on bool
}

// WithQuickAck wraps c. on=true acknowledges every segment at once (a client
// that must not stall a Nagle device); on=false keeps delaying ACKs (a
// simulated device that delays them as lwIP does).
func WithQuickAck(c net.Conn, on bool) net.Conn {
	sc, ok := c.(syscall.Conn)
	if !ok || !supported {
		return c
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return c
	}
	q := &QuickAckConn{Conn: c, rc: rc, on: on}
	q.arm()
	return q
}

// Read implements net.Conn.
func (q *QuickAckConn) Read(b []byte) (int, error) {
	n, err := q.Conn.Read(b)
	q.arm()
	return n, err
}

// Write implements net.Conn.
func (q *QuickAckConn) Write(b []byte) (int, error) {
	n, err := q.Conn.Write(b)
	q.arm()
	return n, err
}

// Unwrap returns the wrapped connection.
func (q *QuickAckConn) Unwrap() net.Conn { return q.Conn }

// SyscallConn exposes the socket (for non-blocking peeks).
func (q *QuickAckConn) SyscallConn() (syscall.RawConn, error) { return q.rc, nil }
