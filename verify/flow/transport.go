package flow

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/kayle-id/orgs-api/store"
	"github.com/kayle-id/orgs-api/verify/proto"
)

// Limits bound what sockets may hold. A socket holds a connection and, once
// its hello passed (which needs the session's handoff token), up to
// proto.MaxConnectionBytes of buffers; before that it holds nothing but
// the connection, for at most HelloTimeout.
type Limits struct {
	// PerAddress and Total cap open sockets.
	PerAddress, Total int
	// HelloTimeout is how long a socket may stay without a successful hello.
	HelloTimeout time.Duration
	// IdleTimeout closes a socket that sends nothing for this long.
	IdleTimeout time.Duration
	// WriteTimeout bounds each message sent.
	WriteTimeout time.Duration
}

func (l *Limits) defaults() {
	if l.PerAddress <= 0 {
		l.PerAddress = 8
	}
	if l.Total <= 0 {
		l.Total = 1024
	}
	if l.HelloTimeout <= 0 {
		l.HelloTimeout = 15 * time.Second
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = 5 * time.Minute
	}
	if l.WriteTimeout <= 0 {
		l.WriteTimeout = 15 * time.Second
	}
}

// Server serves GET /v1/verify/session/{id} upgrades.
type Server struct {
	cfg    *Config
	limits Limits
	// Address names the client of a request (the server's proxy-aware
	// client address).
	address func(*http.Request) string

	mu      sync.Mutex
	open    map[string]int
	total   int
	conns   map[*websocket.Conn]struct{}
	closing bool
	// base is every socket's context (not the upgrade request's, which
	// ends with the handler); a Shutdown that runs out of time cancels it,
	// ending the checks still running.
	base   context.Context
	cancel context.CancelFunc
	active sync.WaitGroup
}

// NewServer serves sockets with cfg under limits. Sockets are capped per
// client address as r.RemoteAddr names it until SetClientAddress says how
// the server behind its proxies names clients.
func NewServer(cfg *Config, limits Limits) *Server {
	cfg.defaults()
	limits.defaults()
	base, cancel := context.WithCancel(context.Background())
	return &Server{cfg: cfg, limits: limits, address: remoteHost, open: map[string]int{}, conns: map[*websocket.Conn]struct{}{},
		base: base, cancel: cancel}
}

// SetClientAddress sets how a request's client address is read (the
// server's proxy-aware extractor). Call it before serving.
func (s *Server) SetClientAddress(f func(*http.Request) string) { s.address = f }

func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (s *Server) take(addr string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing || s.total >= s.limits.Total || s.open[addr] >= s.limits.PerAddress {
		return false
	}
	s.total++
	s.open[addr]++
	// Under the lock, so a Shutdown that has set closing waits for it.
	s.active.Add(1)
	return true
}

func (s *Server) release(addr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total--
	if s.open[addr]--; s.open[addr] <= 0 {
		delete(s.open, addr)
	}
	s.active.Done()
}

// Shutdown refuses new sockets, closes the open ones (1001, going away:
// the app reconnects, to this replica or another) and waits for them to
// end until ctx does, then drops what is left. A message being handled
// finishes first: every state change is its own transaction.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	conns := make([]*websocket.Conn, 0, len(s.conns))
	for ws := range s.conns {
		conns = append(conns, ws)
	}
	s.mu.Unlock()
	for _, ws := range conns {
		go func() { _ = ws.Close(websocket.StatusGoingAway, "server shutting down") }()
	}
	done := make(chan struct{})
	go func() { s.active.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.cancel()
		for _, ws := range conns {
			_ = ws.CloseNow()
		}
		return ctx.Err()
	}
}

// track records an open socket for Shutdown; false when shutting down.
func (s *Server) track(ws *websocket.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.conns[ws] = struct{}{}
	return true
}

func (s *Server) untrack(ws *websocket.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, ws)
}

// ServeHTTP upgrades and runs one socket. The caller has checked that the
// request is an upgrade; the session id is the path's last segment.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	addr := addressKey(s.address(r))
	if !s.take(addr) {
		w.Header().Set("Retry-After", "5")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = io.WriteString(w, `{"data":null,"error":{"code":"RATE_LIMITED","message":"Too many verify connections from this address. Try again later."}}`)
		return
	}
	defer s.release(addr)
	// The HTTP server's read and write deadlines are a request's; the
	// hijacked connection would keep them. The socket sets its own.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{})
	if err != nil {
		return
	}
	if !s.track(ws) {
		_ = ws.Close(websocket.StatusGoingAway, "server shutting down")
		return
	}
	defer s.untrack(ws)
	// One byte over the frame limit is read so that an oversized frame is
	// answered (FRAME_TOO_LARGE) rather than cut off by the library.
	ws.SetReadLimit(proto.MaxFrameBytes + 1)
	// The socket outlives the upgrade's request context by design; a
	// server shutdown ends it through the context handed to Handle.
	// Its store calls take at most the address's share of the database's
	// turns, as the verify routes' requests do.
	ctx := store.WithShare(s.base, "addr:"+addr)
	id := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	s.run(ctx, ws, id)
}

func (s *Server) run(ctx context.Context, ws *websocket.Conn, id string) {
	conn, reply := Open(ctx, s.cfg, id)
	if conn == nil {
		s.send(ctx, ws, reply)
		return
	}
	defer conn.Closed(ctx)
	started := time.Now()
	for {
		timeout := s.limits.IdleTimeout
		if !conn.hello {
			timeout = max(time.Millisecond, s.limits.HelloTimeout-time.Since(started))
		}
		// The deadline closes the socket itself: a read context that
		// expires makes the library drop the connection without a close
		// frame, so the client would never learn why.
		timer := time.AfterFunc(timeout, func() { _ = ws.Close(websocket.StatusPolicyViolation, "idle") })
		typ, rd, err := ws.Reader(ctx)
		if err != nil {
			timer.Stop()
			return
		}
		frame, err := io.ReadAll(io.LimitReader(rd, proto.MaxFrameBytes+1))
		if !timer.Stop() || err != nil {
			return // closing on the deadline, or the read failed
		}
		var r Reply
		switch {
		case len(frame) > proto.MaxFrameBytes:
			r = conn.TooLarge()
		case typ != websocket.MessageBinary:
			r = conn.Text()
		default:
			r = conn.Handle(ctx, frame)
		}
		if !s.send(ctx, ws, r) || r.Close != nil {
			return
		}
	}
}

// send writes a reply's frames, then closes when it says so. It reports
// whether the socket is still usable.
func (s *Server) send(ctx context.Context, ws *websocket.Conn, r Reply) bool {
	for _, f := range r.Frames {
		wctx, cancel := context.WithTimeout(ctx, s.limits.WriteTimeout)
		err := ws.Write(wctx, websocket.MessageBinary, f)
		cancel()
		if err != nil {
			_ = ws.CloseNow()
			return false
		}
	}
	if r.Close != nil {
		reason := r.Close.Reason
		if len(reason) > 120 { // a close frame's reason is at most 123 bytes
			reason = reason[:120]
		}
		_ = ws.Close(websocket.StatusCode(r.Close.Code), reason)
		return false
	}
	return true
}

// addressKey is the cap's key: an IPv4 address, or an IPv6 address's /64
// (one client usually holds a whole /64).
func addressKey(a string) string {
	ip, err := netip.ParseAddr(a)
	if err != nil || ip.Is4() || ip.Is4In6() {
		return a
	}
	p, err := ip.Prefix(64)
	if err != nil {
		return a
	}
	return p.String()
}
