//go:build !unix

package httpd

import "net"

func peekClosed(net.Conn) (alive, ok bool) { return false, false }
