//go:build !linux

package tcpopt

const supported = false

func (q *QuickAckConn) arm() {}
