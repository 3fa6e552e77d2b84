// Package tcpopt sets the TCP options that decide whether a request/response
// exchange waits on a delayed ACK: Nagle's algorithm (TCP_NODELAY) and
// Linux's quick-ACK mode (TCP_QUICKACK).
//
// A device running esp_http_server on lwIP sends each reply in two writes
// (headers, then body) with Nagle on: the body leaves only when the headers
// are acknowledged. A Linux client in its usual interactive ("ping-pong")
// mode delays that ACK by up to 40 ms. Quick-ACK mode is not sticky (the
// kernel leaves it again on its own, as soon as the client sends), so a
// client re-arms it when it matters: when a read returned only part of a
// reply and the client must read again. Setting TCP_QUICKACK while an ACK
// is pending sends that ACK at once (tcp_setsockopt → tcp_cleanup_rbuf), so
// the device's held-back body follows; a reply that arrived whole costs no
// system call and its ACK rides on the next request.
package tcpopt

import (
	"net"
	"sync/atomic"
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

// QuickAckConn is a net.Conn that keeps TCP_QUICKACK (Linux) in the given
// mode. With quick-ACK on (a client) it arms it before every read that
// follows another read since the last write: the earlier read left the
// reply incomplete, and arming now acknowledges what arrived so that the
// rest is sent. With quick-ACK off (a simulated device delaying ACKs like
// lwIP) it re-arms after every read and write. On other systems, and for
// connections that are not sockets, it is the connection unchanged.
type QuickAckConn struct {
	net.Conn
	rc syscall.RawConn
	on bool
	// reads counts the reads since the last write (quick-ACK on only;
	// a connection is used by one exchange at a time).
	reads int
	// arms counts the TCP_QUICKACK system calls (tests).
	arms atomic.Int64
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
	if q.on {
		if q.reads > 0 {
			q.arm() // the previous read left the reply incomplete
		}
		q.reads++
		return q.Conn.Read(b)
	}
	n, err := q.Conn.Read(b)
	q.arm()
	return n, err
}

// Write implements net.Conn.
func (q *QuickAckConn) Write(b []byte) (int, error) {
	n, err := q.Conn.Write(b)
	if q.on {
		q.reads = 0 // a new request: its reply's first read needs no ACK
		return n, err
	}
	q.arm()
	return n, err
}

// Arms returns how many times the mode was set (tests).
func (q *QuickAckConn) Arms() int { return int(q.arms.Load()) }

// Unwrap returns the wrapped connection.
func (q *QuickAckConn) Unwrap() net.Conn { return q.Conn }

// SyscallConn exposes the socket (for non-blocking peeks).
func (q *QuickAckConn) SyscallConn() (syscall.RawConn, error) { return q.rc, nil }
