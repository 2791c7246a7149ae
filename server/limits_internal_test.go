package server

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/kayle-id/orgs-api/handlers"
)

// fakeConn stands in for an accepted connection from remote: loopback
// cannot produce connections from other IPv6 networks. Only the limiter's
// accounting is under test here; the real-socket tests are in conn_test.go.
type fakeConn struct {
	net.Conn
	remote net.Addr
	closed bool
}

func (c *fakeConn) RemoteAddr() net.Addr { return c.remote }
func (c *fakeConn) Close() error         { c.closed = true; return nil }

func from(ip string) *fakeConn {
	return &fakeConn{remote: &net.TCPAddr{IP: net.ParseIP(ip), Port: 4000}}
}

// The /64s of one IPv6 /48 share netShare address shares between them,
// so a /48's 65,536 /64s cannot each take a share; another /48 has its
// own. Counts go when their connections do.
func TestConnShareIPv6Networks(t *testing.T) {
	l := newConnLimiter(nil, 1000, 2, nil)
	var held []*limitedConn
	admit := func(ip string) *limitedConn {
		c := l.admit(from(ip))
		if c != nil {
			c.state.Store(int32(http.StateActive)) // busy: nothing to reclaim
			held = append(held, c)
		}
		return c
	}
	for i := range netShare * 2 {
		if admit(fmt.Sprintf("2001:db8:1:%x::1", i)) == nil {
			t.Fatalf("/64 number %d of the /48 refused under the /48's share", i)
		}
	}
	if admit("2001:db8:1:ff::1") != nil {
		t.Fatalf("a new /64 admitted beyond the /48's share of %d", netShare*2)
	}
	if admit("2001:db8:2::1") == nil || admit("2001:db8:2::2") == nil {
		t.Fatal("another /48 refused")
	}
	if admit("2001:db8:2::3") != nil {
		t.Fatal("a /64 admitted beyond its share of 2")
	}
	// An idle connection of the full /64 makes room for it, and only it.
	idle := held[len(held)-1]
	idle.state.Store(int32(http.StateIdle))
	if admit("192.0.2.1") == nil {
		t.Fatal("an IPv4 address refused")
	}
	if admit("2001:db8:2::4") == nil {
		t.Fatal("the /64's idle connection was not reclaimed for it")
	}
	if !idle.Conn.(*fakeConn).closed {
		t.Fatal("the reclaimed connection was not closed")
	}
	for _, c := range held {
		c.Close()
	}
	if l.total != 0 || len(l.held) != 0 || len(l.conns) != 0 {
		t.Fatalf("after every connection closed: total %d, %d keys, %d connections kept", l.total, len(l.held), len(l.conns))
	}
}

// Requests in flight before authentication: the /64s of one IPv6 /48
// share netShare times an address's number between them, so a /48's
// 65,536 /64s cannot each fill their own; another /48, and an IPv4
// client, have theirs. (Loopback has no other /48s: the addresses are
// given to echo directly.)
func TestInFlightIPv6Networks(t *testing.T) {
	const perAddress = 2
	l := limits{perAddressInFlight: inFlight(perAddress), perNetInFlight: inFlight(netShare * perAddress)}
	e := echo.New()
	e.IPExtractor = echo.ExtractIPDirect()
	hold := make(chan struct{})
	entered := make(chan struct{}, 64)
	e.Use(l.limitInFlight(0))
	e.GET("/x", func(c echo.Context) error {
		entered <- struct{}{}
		<-hold
		return c.NoContent(http.StatusNoContent)
	})
	e.HTTPErrorHandler = func(err error, c echo.Context) {
		var apiErr *handlers.APIError
		if errors.As(err, &apiErr) {
			_ = c.NoContent(apiErr.Status)
			return
		}
		_ = c.NoContent(http.StatusInternalServerError)
	}
	serve := func(remote string) int {
		req := httptest.NewRequest(http.MethodGet, "/x", nil)
		req.RemoteAddr = remote
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		return rec.Code
	}
	var wg sync.WaitGroup
	start := func(remote string) {
		wg.Add(1)
		go func() { defer wg.Done(); serve(remote) }()
		<-entered
	}
	// netShare /64s of one /48 fill the /48's number, each at its own cap.
	for i := range netShare {
		for range perAddress {
			start(fmt.Sprintf("[2001:db8:1:%x::1]:4000", i))
		}
	}
	refused := make(chan int, 1)
	wg.Add(1)
	go func() { defer wg.Done(); refused <- serve("[2001:db8:1:ff::1]:4000") }()
	select {
	case s := <-refused:
		if s != http.StatusTooManyRequests {
			t.Fatalf("another /64 of a full /48: %d, want 429", s)
		}
	case <-entered:
		close(hold)
		t.Fatal("another /64 of a full /48 was admitted")
	}
	start("[2001:db8:2:1::1]:4000") // another /48
	start("192.0.2.7:4000")         // IPv4 has no /48
	close(hold)
	wg.Wait()
	if n := l.perAddressInFlight.Len() + l.perNetInFlight.Len(); n != 0 {
		t.Fatalf("%d keys kept with nothing in flight", n)
	}
}
