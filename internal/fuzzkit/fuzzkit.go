// Package fuzzkit holds what the fuzz targets of espprov share: a device
// stand-in that answers endpoint calls with the fuzzer's bytes.
//
// The pattern for a decoder of untrusted input: a Fuzz* target in the
// decoder's package (a _test.go file named fuzz_test.go), seeds added with
// f.Add from real traffic (protocol.md vectors, simulator replies) plus the
// committed corpus under testdata/fuzz/<FuzzName>/, and one line
// package:Target:executions in the Makefile's FUZZ_TARGETS. A target
// asserts more than "no panic" where it can: an error leaves no partial
// result, a success is well formed.
package fuzzkit

import (
	"context"
	"errors"
)

// ErrNoReply is returned once the scripted replies are used up.
var ErrNoReply = errors.New("fuzzkit: no more replies")

// Replies answers endpoint calls with the given replies in order, then
// ErrNoReply. It implements the Caller interfaces of wifiprov and mapping
// and the Exchange method of transports.Transport.
type Replies struct {
	Next  [][]byte
	Calls []string // endpoints called, in order
}

// NewReplies returns a Replies answering with rs.
func NewReplies(rs ...[]byte) *Replies { return &Replies{Next: rs} }

// Call implements wifiprov.Caller and mapping.Caller.
func (r *Replies) Call(ctx context.Context, endpoint string, _ []byte) ([]byte, error) {
	r.Calls = append(r.Calls, endpoint)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if len(r.Next) == 0 {
		return nil, ErrNoReply
	}
	b := r.Next[0]
	r.Next = r.Next[1:]
	return b, nil
}

// Exchange implements the transport's exchange with the same replies.
func (r *Replies) Exchange(ctx context.Context, endpoint string, req []byte) ([]byte, error) {
	return r.Call(ctx, endpoint, req)
}

// Close implements transports.Transport.
func (r *Replies) Close() error { return nil }
