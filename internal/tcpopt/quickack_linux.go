//go:build linux

package tcpopt

import "golang.org/x/sys/unix"

const supported = true

func (q *QuickAckConn) arm() {
	q.arms.Add(1)
	v := 0
	if q.on {
		v = 1
	}
	_ = q.rc.Control(func(fd uintptr) {
		_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_QUICKACK, v)
	})
}
