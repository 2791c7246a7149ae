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
	"os"
	"strings"
	"sync"
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
	}
}

// Listener caps the connections open at once on ln at Config.MaxConns
// (unlimited when 0). A connection beyond the cap is answered 503 in the
// envelope and closed at once, so a flood of idle connections costs one
// answer each instead of a goroutine and buffers held until they time out.
func (a *App) Listener(ln net.Listener) net.Listener {
	if a.cfg.MaxConns <= 0 {
		return ln
	}
	return &connLimiter{Listener: ln, slots: make(chan struct{}, a.cfg.MaxConns), busy: busyAnswer()}
}

type connLimiter struct {
	net.Listener
	slots chan struct{}
	busy  []byte
}

func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &limitedConn{Conn: c, release: sync.OnceFunc(func() { <-l.slots })}, nil
		default:
			// Best effort: a client still sending may see a reset instead.
			_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			_, _ = c.Write(l.busy)
			_ = c.Close()
		}
	}
}

type limitedConn struct {
	net.Conn
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.release()
	return err
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
func limitInFlight(n int) echo.MiddlewareFunc {
	// Made once: echo wraps its middleware around each request anew.
	slots := make(chan struct{}, max(n, 0))
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		if n <= 0 {
			return next
		}
		return func(c echo.Context) error {
			if p := c.Path(); p == "/healthz" || p == "/readyz" {
				return next(c)
			}
			select {
			case slots <- struct{}{}:
			default:
				return handlers.ErrBusy
			}
			defer func() { <-slots }()
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
	if err != nil {
		return err // the body limit's 413, or a broken connection
	}
	c.Set(bodyReadKey, true)
	req.Body = io.NopCloser(bytes.NewReader(body))
	if bytes.Contains(body, []byte(`\u0000`)) || bytes.IndexByte(body, 0) >= 0 {
		return handlers.BadRequest("strings must not contain NUL characters.")
	}
	return nil
}

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
