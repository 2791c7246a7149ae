package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/kayle-id/orgs-api/handlers"
)

// What one connection may make the server hold before a request is routed:
// net/http reads the request line and headers into memory, so their size
// and the time they may take are bounded here. Every other bound derives
// from the request timeout.
const (
	readHeaderTimeout = 5 * time.Second
	idleTimeout       = 2 * time.Minute
	// maxHeaderBytes is far above any valid request (a token is at most
	// 256 bytes, the longest query a few hundred). Beyond it net/http
	// answers 431 itself, before any handler runs.
	maxHeaderBytes = 64 << 10
	// writeMargin is how long after the request timeout an answer may still
	// be written: cleanup after an outbound call that used the whole
	// request runs on its own short deadline (see store.RequestDeletion).
	writeMargin = 10 * time.Second
)

// HTTPServer is the http.Server to serve the app with: a request's body
// cannot trickle in past its deadline, a connection cannot sit idle or
// half-sent for long, and headers are bounded in size.
func (a *App) HTTPServer(errorLog *log.Logger) *http.Server {
	return &http.Server{
		Handler:           a,
		ReadHeaderTimeout: readHeaderTimeout,
		// Bodies are cut at the request's own deadline as they are read
		// (see timeout); this is the backstop for a body nobody reads.
		ReadTimeout:    readHeaderTimeout + a.cfg.RequestTimeout,
		WriteTimeout:   a.cfg.RequestTimeout + writeMargin,
		IdleTimeout:    idleTimeout,
		MaxHeaderBytes: maxHeaderBytes,
		ErrorLog:       errorLog,
		// Tells the listener's connections which of them are idle (see
		// connLimiter.victim).
		ConnState: trackConnState,
	}
}

// netShare is how many times a client address's connection share one IPv6
// /48 may hold: a /48 is 65,536 /64s, each of which would otherwise get a
// share of its own.
const netShare = 4

// Listener caps the connections open at once on ln: Config.MaxConns in
// all, and Config.MaxConnsPerAddress per client address (an IPv4 address
// or an IPv6 /64; netShare times that per IPv6 /48). 0 means no cap. When
// a cap is reached, the oldest idle connection under it (a keep-alive
// connection between requests, or one that has not sent a byte yet) is
// closed to make room; only when there is none is the new connection
// answered 503 in the envelope and closed, so a flood of idle connections
// costs one answer each instead of a goroutine and buffers held until they
// time out, and cannot keep other clients out. Connections from a trusted
// proxy are not held to the per-address shares: they carry every client
// behind it (the proxy caps its clients by source, as HAProxy's maxconn
// per source does).
func (a *App) Listener(ln net.Listener) net.Listener {
	if a.cfg.MaxConns <= 0 && a.cfg.MaxConnsPerAddress <= 0 {
		return ln
	}
	return newConnLimiter(ln, a.cfg.MaxConns, a.cfg.MaxConnsPerAddress, a.cfg.TrustedProxies)
}

type connLimiter struct {
	net.Listener
	max, perAddress int
	trusted         []*net.IPNet
	busy            []byte

	// Taken once per connection (accept, close), never per request: the
	// connections report their state through atomics.
	mu    sync.Mutex
	total int
	held  map[string]int // open connections per key (see connKeys); no zero entries
	conns map[*limitedConn]struct{}
}

func newConnLimiter(ln net.Listener, max, perAddress int, trusted []*net.IPNet) *connLimiter {
	return &connLimiter{Listener: ln, max: max, perAddress: perAddress, trusted: trusted, busy: busyAnswer(),
		held: map[string]int{}, conns: map[*limitedConn]struct{}{}}
}

func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if lc := l.admit(c); lc != nil {
			return lc, nil
		}
		// Best effort: a client still sending may see a reset instead.
		_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		_, _ = c.Write(l.busy)
		_ = c.Close()
	}
}

// connKeys are the shares a connection from addr counts against: its
// address (IPv4, or IPv6 /64) and, for IPv6, its /48. None for a trusted
// proxy.
func (l *connLimiter) connKeys(addr net.Addr) []string {
	if l.perAddress <= 0 {
		return nil
	}
	var ip netip.Addr
	if ta, ok := addr.(*net.TCPAddr); ok {
		ip, _ = netip.AddrFromSlice(ta.IP)
	} else if ap, err := netip.ParseAddrPort(addr.String()); err == nil {
		ip = ap.Addr()
	}
	ip = ip.Unmap().WithZone("")
	if !ip.IsValid() {
		return []string{"unparsed"}
	}
	for _, n := range l.trusted {
		if n.Contains(ip.AsSlice()) {
			return nil
		}
	}
	one, wide := addressKeys(ip)
	if wide == "" {
		return []string{one}
	}
	return []string{one, wide}
}

// capOf is the number of connections key may hold; keys[0] is an address,
// keys[1] a /48.
func (l *connLimiter) capOf(i int) int {
	if i == 0 {
		return l.perAddress
	}
	return netShare * l.perAddress
}

// admit counts c in, closing an idle connection to make room when a cap is
// reached; nil when there is no room.
func (l *connLimiter) admit(c net.Conn) *limitedConn {
	lc := &limitedConn{Conn: c, l: l, keys: l.connKeys(c.RemoteAddr())}
	lc.since.Store(time.Now().UnixNano()) // state: http.StateNew, the zero value
	l.mu.Lock()
	// The shares nest (address in /48 in all): one connection closed in
	// the narrowest full one makes room in every one.
	var victim *limitedConn
	full := false
	for i, k := range lc.keys {
		if l.held[k] >= l.capOf(i) {
			victim, full = l.victim(k), true
			break
		}
	}
	if !full && l.max > 0 && l.total >= l.max {
		victim, full = l.victim(""), true
	}
	if full && victim == nil {
		l.mu.Unlock()
		return nil
	}
	if victim != nil {
		l.forget(victim)
	}
	l.total++
	for _, k := range lc.keys {
		l.held[k]++
	}
	l.conns[lc] = struct{}{}
	l.mu.Unlock()
	if victim != nil {
		// Its server goroutine sees the read fail and lets it go; an
		// HTTP client retries a request it sent on a reused connection
		// that closed.
		_ = victim.Conn.Close()
	}
	return lc
}

// victim is the connection to close for room under key (any connection
// when key is empty): the one idle the longest, where idle is between
// requests or not started on its first. Nil when every one is busy. A
// scan, but only when a cap is reached, under a lock taken per connection.
func (l *connLimiter) victim(key string) *limitedConn {
	var best *limitedConn
	var bestSince int64
	for c := range l.conns {
		if key != "" && !slices.Contains(c.keys, key) {
			continue
		}
		if s := http.ConnState(c.state.Load()); s != http.StateIdle && s != http.StateNew {
			continue
		}
		if since := c.since.Load(); best == nil || since < bestSince {
			best, bestSince = c, since
		}
	}
	return best
}

// forget stops counting c; mu is held.
func (l *connLimiter) forget(c *limitedConn) {
	if c.gone {
		return
	}
	c.gone = true
	delete(l.conns, c)
	l.total--
	for _, k := range c.keys {
		if l.held[k]--; l.held[k] <= 0 {
			delete(l.held, k)
		}
	}
}

type limitedConn struct {
	net.Conn
	l     *connLimiter
	keys  []string
	state atomic.Int32 // an http.ConnState
	since atomic.Int64 // when it entered that state, in Unix nanoseconds
	gone  bool         // no longer counted; under l.mu
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.l.mu.Lock()
	c.l.forget(c)
	c.l.mu.Unlock()
	return err
}

// trackConnState is the http.Server's ConnState hook: it records, on the
// connection, what the limiter needs to pick an idle one.
func trackConnState(c net.Conn, s http.ConnState) {
	lc, ok := c.(*limitedConn)
	if !ok {
		return
	}
	if s == http.StateIdle {
		lc.since.Store(time.Now().UnixNano())
	}
	lc.state.Store(int32(s))
}

// busyAnswer is the raw HTTP answer to a connection over the cap.
func busyAnswer() []byte {
	body, _ := json.Marshal(handlers.ErrBusy.Envelope())
	return fmt.Appendf(nil, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: %s\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s",
		handlers.RetryAfterHeader(handlers.ErrBusy.RetryAfter), len(body), body)
}

// limitInFlight answers 503 (Retry-After) at once to requests beyond n in
// flight, rather than queueing them: everything a request holds (its body,
// its place in the database queue) is then bounded by n. Health probes are
// exempt, so a saturated server is not also declared dead.
//
// Within n, a request holds one of its client address's slots (see
// limits.perAddressInFlight) until it is authenticated, when the guard
// trades it for one of its credential's: an address cannot fill the
// server with requests that are waiting on their authentication, nor a
// user with requests it keeps slow, and users behind one address (an
// office's NAT) do not share the address's small number.
func (l limits) limitInFlight(n int) echo.MiddlewareFunc {
	// Made once: echo wraps its middleware around each request anew.
	slots := make(chan struct{}, max(n, 0))
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		if n <= 0 && l.perAddressInFlight == nil && l.perCredentialInFlight == nil {
			return next
		}
		return func(c echo.Context) error {
			if p := c.Path(); p == "/healthz" || p == "/readyz" {
				return next(c)
			}
			s := &slot{}
			if g := l.perAddressInFlight; g != nil {
				// Before the server-wide slot: an address over its number
				// does not take one even for a moment.
				addr, wide := clientKeys(c.RealIP())
				if !s.take(g, addr) {
					return errTooManyAtOnce
				}
				if wide != "" && l.perNetInFlight != nil && !s.take(l.perNetInFlight, wide) {
					s.release()
					return errTooManyAtOnce
				}
			}
			defer s.release()
			c.Set(slotKey, s)
			if n > 0 {
				select {
				case slots <- struct{}{}:
				default:
					return handlers.ErrBusy
				}
				defer func() { <-slots }()
			}
			return next(c)
		}
	}
}

// timeout bounds every request by d, database waits included, and cuts the
// body off at the same deadline: without it a body sent a byte at a time
// would hold its connection (and, once read, its buffer) indefinitely.
func timeout(d time.Duration) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			ctx, cancel := context.WithTimeout(c.Request().Context(), d)
			defer cancel()
			req := c.Request()
			if req.ContentLength != 0 {
				dl, _ := ctx.Deadline()
				rc := http.NewResponseController(c.Response().Writer)
				c.Set(connKey, rc)
				// Fails only where there is no connection (a test recorder).
				_ = rc.SetReadDeadline(dl)
			}
			c.SetRequest(req.WithContext(ctx))
			return next(c)
		}
	}
}

// rejectNULQuery refuses NUL characters in the query: the contract's types
// allow them, PostgreSQL's text cannot store them, and no legitimate
// name, slug, email or search contains one.
func rejectNULQuery() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			q := c.Request().URL.RawQuery
			if strings.Contains(q, "%00") || strings.ContainsRune(q, 0) {
				return handlers.BadRequest("query parameters must not contain NUL characters.")
			}
			return next(c)
		}
	}
}

const (
	bodyReadKey = "body_read"
	connKey     = "conn"
	slotKey     = "in_flight_slot"
)

// readBody reads the request body into memory (under the body limit and
// the request's read deadline) and refuses NUL characters in its JSON
// strings. The validator calls it once the caller is authenticated, so an
// anonymous client cannot make the server buffer anything.
func readBody(c echo.Context) error {
	req := c.Request()
	if req.Body == nil || req.Body == http.NoBody || req.ContentLength == 0 {
		return nil
	}
	body, err := io.ReadAll(req.Body)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return handlers.ErrBodyTimeout
	}
	var limitErr *echo.HTTPError
	if errors.As(err, &limitErr) {
		return err // the body limit's 413
	}
	if err != nil {
		// The client stopped sending (the connection was closed or reset
		// before the announced length): its fault, not the server's, and
		// not worth an ERROR line. The answer rarely reaches it.
		return errBodyCut
	}
	c.Set(bodyReadKey, true)
	req.Body = io.NopCloser(bytes.NewReader(body))
	if bytes.Contains(body, []byte(`\u0000`)) || bytes.IndexByte(body, 0) >= 0 {
		return handlers.BadRequest("strings must not contain NUL characters.")
	}
	return nil
}

// errBodyCut answers a body that ended before its announced length.
var errBodyCut = handlers.BadRequest("the request body ended before its announced length.")

// bodyUnread reports a request whose body was sent but not read (the
// caller was refused before it was needed).
func bodyUnread(c echo.Context) bool {
	read, _ := c.Get(bodyReadKey).(bool)
	return c.Request().ContentLength != 0 && !read
}

// dropBody closes the connection after the answer instead of reading and
// discarding the rest of an unread body, which net/http would otherwise do
// (up to 256 KiB, for as long as the client cares to take).
func dropBody(c echo.Context) {
	c.Response().Header().Set(echo.HeaderConnection, "close")
	rc, ok := c.Get(connKey).(*http.ResponseController)
	if !ok {
		// Refused before the request's deadline was set (a rate limit).
		rc = http.NewResponseController(c.Response().Writer)
	}
	_ = rc.SetReadDeadline(time.Now())
}
