//go:build unix

package httpd

import (
	"errors"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// peekClosed checks without waiting whether the peer closed c or sent
// unsolicited bytes: a non-blocking MSG_PEEK on the socket. ok is false when
// c is not a socket, and the caller falls back to a short timed read.
func peekClosed(c net.Conn) (alive, ok bool) {
	sc, isSys := c.(syscall.Conn)
	if !isSys {
		return false, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false, false
	}
	var buf [1]byte
	var perr error
	if err := rc.Read(func(fd uintptr) bool {
		_, _, perr = unix.Recvfrom(int(fd), buf[:], unix.MSG_PEEK|unix.MSG_DONTWAIT)
		return true // never wait
	}); err != nil {
		return false, true
	}
	switch {
	case errors.Is(perr, unix.EAGAIN), errors.Is(perr, unix.EWOULDBLOCK):
		return true, true // nothing pending: the connection is idle and open
	case perr != nil:
		return false, true // reset or other socket error
	default:
		return false, true // n == 0: orderly close; n > 0: unsolicited bytes
	}
}
