package server_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kayle-id/orgs-api/blobstore"
	"github.com/kayle-id/orgs-api/internal/testnet"
	"github.com/kayle-id/orgs-api/logo"
	"github.com/kayle-id/orgs-api/server"
)

// keepAlive is a client connection from a chosen loopback address
// (127.0.0.2 and the like are all the machine's own on Linux) that sends
// requests one after another on it.
type keepAlive struct {
	t    *testing.T
	conn net.Conn
	br   *bufio.Reader
}

func dialFrom(t *testing.T, local, addr string) *keepAlive {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &keepAlive{t: t, conn: c, br: bufio.NewReader(c)}
}

// get sends a GET and returns the answer's status, 0 when the connection
// was closed instead.
func (k *keepAlive) get(path, token string) (status int, closeAfter bool) {
	k.t.Helper()
	req := "GET " + path + " HTTP/1.1\r\nHost: kayle\r\n"
	if token != "" {
		req += "Authorization: Bearer " + token + "\r\n"
	}
	k.conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := k.conn.Write([]byte(req + "\r\n")); err != nil {
		return 0, true
	}
	resp, err := http.ReadResponse(k.br, nil)
	if err != nil {
		return 0, true
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	// The server marks the connection idle just after it has written the
	// answer: let it, so the next step sees it idle.
	time.Sleep(20 * time.Millisecond)
	return resp.StatusCode, resp.Close
}

// open reports whether the server still holds the connection open.
func (k *keepAlive) open() bool {
	k.conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, err := k.br.Peek(1)
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// One address opening keep-alive connections holds at most its share: its
// oldest idle ones are closed to make room for its new ones, and while its
// share is busy a new one of its own is refused; another address is served
// all along.
func TestConnectionSharePerAddress(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		owner := e.person("owner")
		addr := serveReal(t, e, server.Config{MaxConns: 64, MaxConnsPerAddress: 2, RequestTimeout: 2 * time.Second})
		var conns []*keepAlive
		for i := range 6 {
			k := dialFrom(t, "127.0.0.1", addr)
			if s, _ := k.get("/healthz", ""); s != 200 {
				t.Fatalf("connection %d: %d", i, s)
			}
			conns = append(conns, k)
		}
		openN := 0
		for i, k := range conns {
			if k.open() {
				openN++
				if i < 4 {
					t.Errorf("connection %d of 6 still open: the oldest idle ones go first", i)
				}
			}
		}
		if openN > 2 {
			t.Fatalf("one address holds %d connections, its share is 2", openN)
		}
		if s, _ := dialFrom(t, "127.0.0.2", addr).get("/healthz", ""); s != 200 {
			t.Fatalf("another address: %d", s)
		}

		// Its share busy (bodies trickling in): a new connection of its own
		// is refused, another address's is served.
		slowPost(t, addr, "/v1/auth/orgs", owner.Token, 1000)
		slowPost(t, addr, "/v1/auth/orgs", owner.Token, 1000)
		time.Sleep(300 * time.Millisecond) // both are being read
		over := dialFrom(t, "127.0.0.1", addr)
		resp, env, closed := readAnswer(t, over.conn)
		if resp.StatusCode != 503 || env.Error.Code != "SERVICE_UNAVAILABLE" || !closed {
			t.Fatalf("over the address's share: %d %+v closed=%v", resp.StatusCode, env.Error, closed)
		}
		if s, _ := dialFrom(t, "127.0.0.2", addr).get("/healthz", ""); s != 200 {
			t.Fatalf("another address while the first one's share is busy: %d", s)
		}
	})
}

// At the connection cap an idle connection is closed to make room: idle
// keep-alive connections cannot keep a new client out.
func TestConnectionCapReclaimsIdle(t *testing.T) {
	e := newEnv(t, "sqlite")
	addr := serveReal(t, e, server.Config{MaxConns: 4})
	var conns []*keepAlive
	for range 4 {
		k := dialFrom(t, "127.0.0.1", addr)
		if s, _ := k.get("/healthz", ""); s != 200 {
			t.Fatalf("filling the cap: %d", s)
		}
		conns = append(conns, k)
	}
	if s, _ := dialFrom(t, "127.0.0.2", addr).get("/healthz", ""); s != 200 {
		t.Fatalf("a new client at the cap, every connection idle: %d", s)
	}
	if conns[0].open() {
		t.Error("the oldest idle connection was not the one closed")
	}
	for i, k := range conns[1:] {
		if !k.open() {
			t.Errorf("connection %d closed; one closed was enough", i+1)
		}
	}
}

// A trusted proxy's connections carry every client behind it: they are
// not held to one address's share.
func TestConnectionShareTrustedProxy(t *testing.T) {
	e := newEnv(t, "sqlite")
	_, proxy, _ := net.ParseCIDR("127.0.0.1/32")
	addr := serveReal(t, e, server.Config{MaxConns: 64, MaxConnsPerAddress: 2, TrustedProxies: []*net.IPNet{proxy}})
	var conns []*keepAlive
	for range 6 {
		k := dialFrom(t, "127.0.0.1", addr)
		if s, _ := k.get("/healthz", ""); s != 200 {
			t.Fatalf("through the proxy: %d", s)
		}
		conns = append(conns, k)
	}
	for i, k := range conns {
		if !k.open() {
			t.Errorf("proxy connection %d closed", i)
		}
	}
}

// A client refused with 429 that is not authenticated does not keep its
// connection; a 401 does.
func TestRefusedAnonymousConnectionClosed(t *testing.T) {
	e := newEnv(t, "sqlite")
	addr := serveReal(t, e, server.Config{RateLimit: server.RateLimit{PerIP: 0.01, Burst: 1}})
	k := dialFrom(t, "127.0.0.1", addr)
	if s, closeAfter := k.get("/v1/auth/orgs/members", "kid_guess"); s != 401 || closeAfter {
		t.Fatalf("first guess: %d, close=%v", s, closeAfter)
	}
	if s, closeAfter := k.get("/v1/auth/orgs/members", "kid_guess"); s != 429 || !closeAfter {
		t.Fatalf("second guess: %d, close=%v; want 429 and the connection closed", s, closeAfter)
	}
	if k.open() {
		t.Fatal("the connection stayed open after the 429")
	}
}

// Anonymous requests held up by a component that hangs (here object
// storage behind /logos, silent) are capped per address: the rest of that
// address's are refused at once, and the server's in-flight slots stay free
// for everyone else. (A provider's hanging key set no longer holds more
// than the one request that started the fetch: see
// TestProviderHangingFetchHoldsOneRequest.)
func TestInFlightPerAddress(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	forEachDB(t, func(t *testing.T, e *env) {
		bucket, err := blobstore.Open(context.Background(), "s3://logos?region=us-east-1&use_path_style=true&endpoint=http://"+testnet.Silent(t), 3*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer bucket.Close()
		local := e.person("local")
		addr := serveReal(t, e, server.Config{Logos: &logo.Library{Bucket: bucket, Base: "http://127.0.0.1:8787"}, ServeLogos: true,
			RequestTimeout: 3 * time.Second, MaxInFlight: 8, MaxInFlightPerAddress: 3})
		var wg sync.WaitGroup
		statuses := make(chan int, 12)
		for range 12 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, _ := dialFrom(t, "127.0.0.1", addr).get("/logos/"+uuid.NewString(), "")
				statuses <- s
			}()
		}
		// The refused ones answer at once; the others are waiting.
		refused := 0
		for refused < 9 {
			if s := <-statuses; s != 429 {
				t.Fatalf("an anonymous request beyond the address's 3: %d, want 429", s)
			}
			refused++
		}
		if s, _ := dialFrom(t, "127.0.0.2", addr).get("/v1/auth/account/owned-organizations", local.Token); s != 200 {
			t.Fatalf("a session from another address while one address waits on storage: %d", s)
		}
		wg.Wait()
	})
}

// One user (any number of its sessions) keeping requests in flight with
// trickling bodies holds at most its number of the server's slots: another
// user is served, even from the same address.
func TestInFlightPerCredential(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		hog, other := e.person("hog"), e.person("other")
		addr := serveReal(t, e, server.Config{RequestTimeout: 3 * time.Second, MaxInFlight: 8, MaxInFlightPerAddress: 3, MaxInFlightPerCredential: 3})
		for range 3 {
			slowPost(t, addr, "/v1/auth/orgs", hog.Token, 1000)
		}
		time.Sleep(300 * time.Millisecond) // all three are being read
		for i, tok := range []string{hog.Token, e.token(hog.User.Email, nil), hog.Token, hog.Token, hog.Token, hog.Token} {
			resp, env, closed := readAnswer(t, slowPost(t, addr, "/v1/auth/orgs", tok, 1000))
			if resp.StatusCode != 429 || env.Error.Code != "RATE_LIMITED" || resp.Header.Get("Retry-After") == "" || !closed {
				t.Fatalf("the hog's request %d beyond its 3: %d %s closed=%v", i+4, resp.StatusCode, env.Error.Code, closed)
			}
		}
		// Same address, another user: the address's number was given back
		// once the hog's requests were authenticated.
		for range 3 {
			if s, _ := dialFrom(t, "127.0.0.1", addr).get("/v1/auth/account/owned-organizations", other.Token); s != 200 {
				t.Fatalf("another user while the hog trickles: %d", s)
			}
		}
	})
}

// A body cut short by the client is the client's doing: a 4xx (if the
// answer reaches it at all), never a 5xx, never an ERROR line.
func TestTruncatedBody(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		owner := e.person("owner")
		var logs syncBuffer
		addr := serveReal(t, e, server.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		for i := range 3 {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(c, "POST /v1/auth/orgs HTTP/1.1\r\nHost: kayle\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"name\":", owner.Token)
			c.(*net.TCPConn).CloseWrite() // gone before the announced length
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode < 400 || resp.StatusCode >= 500 {
					t.Errorf("truncated body %d: %d, want a 4xx", i, resp.StatusCode)
				}
			}
			c.Close()
		}
		// The request log line is written once the answer is; wait for it.
		for deadline := time.Now().Add(5 * time.Second); strings.Count(logs.String(), "route=/v1/auth/orgs") < 3 && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
		if out := logs.String(); strings.Contains(out, "level=ERROR") || strings.Contains(out, "status=500") {
			t.Fatalf("a truncated body was logged as a server error:\n%s", out)
		}
	})
}
