package server

import (
	"net"
	"sync"

	"google.golang.org/grpc"
)

// GRPCLimits bound what one gRPC call may send. Zero fields take the
// Default* values; they are far above what a real request needs (a few KB:
// credentials, tags, metadata) and far below what would hurt the server.
type GRPCLimits struct {
	// MaxRecvMsgBytes caps one request message (ResourceExhausted beyond).
	MaxRecvMsgBytes int
	// MaxHeaderListBytes caps a call's headers (metadata, tokens).
	MaxHeaderListBytes uint32
}

func (l GRPCLimits) serverOptions() []grpc.ServerOption {
	orDefault(&l.MaxRecvMsgBytes, DefaultGRPCMaxRecvBytes)
	orDefault(&l.MaxHeaderListBytes, DefaultGRPCMaxHeaderBytes)
	return []grpc.ServerOption{grpc.MaxRecvMsgSize(l.MaxRecvMsgBytes), grpc.MaxHeaderListSize(l.MaxHeaderListBytes)}
}

// limitListener accepts at most n connections at a time; Accept waits for
// a slot, leaving further clients in the kernel's backlog.
type limitListener struct {
	net.Listener
	slots chan struct{}
	done  chan struct{}
	once  sync.Once
}

func limitConns(l net.Listener, n int) net.Listener {
	return &limitListener{Listener: l, slots: make(chan struct{}, n), done: make(chan struct{})}
}

func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.slots }}, nil
}

func (l *limitListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
