// Package testnet gives tests misbehaving network peers on loopback.
package testnet

import (
	"net"
	"sync"
	"testing"
)

// Silent listens on a loopback port, accepts every connection and never
// reads or writes a byte, like a relay, store or server that has hung. It
// returns the address; the listener and every connection close when the
// test ends.
func Silent(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	})
	return ln.Addr().String()
}
