package server_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kayle-id/orgs-api/mail"
	"github.com/kayle-id/orgs-api/server"
	"github.com/kayle-id/orgs-api/validator"
)

// serveReal serves a server with cfg the way `kayleid serve` does (its
// http.Server and listener) on a real loopback socket, and returns its
// address.
func serveReal(t *testing.T, e *env, cfg server.Config) string {
	t.Helper()
	cfg.Validation = validator.Full
	cfg.Metrics = conformance
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	app, err := server.New(cfg, e.st, &mail.Outbox{Dir: t.TempDir(), From: "x@kayle.id"})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := app.HTTPServer(nil)
	go srv.Serve(app.Listener(ln))
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// slowPost starts a POST that announces a body of length bytes and sends it
// one byte every 50 ms, as a slowloris client would. It returns the
// connection, for reading the answer.
func slowPost(t *testing.T, addr, path, token string, length int) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: kayle\r\nContent-Type: application/json\r\nContent-Length: %d\r\n", path, length)
	if token != "" {
		head += "Authorization: Bearer " + token + "\r\n"
	}
	if _, err := conn.Write([]byte(head + "\r\n{")); err != nil {
		t.Fatal(err)
	}
	go func() {
		for i := 1; i < length; i++ {
			time.Sleep(50 * time.Millisecond)
			if _, err := conn.Write([]byte(" ")); err != nil {
				return
			}
		}
	}()
	return conn
}

// readAnswer reads one HTTP answer from conn, then reports whether the
// server closed the connection within 300 ms of it.
func readAnswer(t *testing.T, conn net.Conn) (resp *http.Response, env envelope, closed bool) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := json.Unmarshal(body, &env); err != nil || env.Error == nil {
		t.Fatalf("%d answer is not the envelope: %s", resp.StatusCode, body)
	}
	conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, err = br.ReadByte()
	return resp, env, err == io.EOF
}

// A body that trickles in cannot hold a connection past the request's
// deadline, and an anonymous one is not read at all: authentication comes
// first, and the connection is closed after the 401 instead of waiting for
// the rest of the body.
func TestSlowBody(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		owner := e.person("owner")
		addr := serveReal(t, e, server.Config{RequestTimeout: time.Second})
		for _, length := range []int{2_000_000, 100} {
			start := time.Now()
			resp, env, closed := readAnswer(t, slowPost(t, addr, "/v1/auth/orgs", "", length))
			if resp.StatusCode != 401 || env.Error.Code != "UNAUTHORIZED" {
				t.Fatalf("anonymous slow body of %d: %d %s", length, resp.StatusCode, env.Error.Code)
			}
			if d := time.Since(start); d > 800*time.Millisecond {
				t.Errorf("anonymous slow body of %d: answered after %s; the body was waited for", length, d)
			}
			if !closed {
				t.Errorf("anonymous slow body of %d: the connection stayed open after the answer", length)
			}
		}
		start := time.Now()
		resp, env, closed := readAnswer(t, slowPost(t, addr, "/v1/auth/orgs", owner.Token, 2_000_000))
		if resp.StatusCode != 408 || env.Error.Code != "REQUEST_TIMEOUT" {
			t.Fatalf("authenticated slow body: %d %s", resp.StatusCode, env.Error.Code)
		}
		if d := time.Since(start); d < 900*time.Millisecond || d > 3*time.Second {
			t.Errorf("authenticated slow body answered after %s, want about the 1s request timeout", d)
		}
		if !closed {
			t.Error("authenticated slow body: the connection stayed open after the answer")
		}

		// Refused by the per-address limit, before anything else: the same.
		limited := serveReal(t, e, server.Config{RequestTimeout: time.Second, RateLimit: server.RateLimit{PerIP: 0.01, Burst: 1}})
		readAnswer(t, slowPost(t, limited, "/v1/auth/orgs", "", 10))
		start = time.Now()
		resp, env, closed = readAnswer(t, slowPost(t, limited, "/v1/auth/orgs", "", 100))
		if resp.StatusCode != 429 || env.Error.Code != "RATE_LIMITED" || !closed || time.Since(start) > 800*time.Millisecond {
			t.Errorf("rate-limited slow body: %d %s, closed=%v after %s", resp.StatusCode, env.Error.Code, closed, time.Since(start))
		}
	})
}

// Beyond the in-flight cap the answer is 503 with Retry-After at once, not
// a queue; health probes still answer.
func TestInFlightCap(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		owner := e.person("owner")
		addr := serveReal(t, e, server.Config{RequestTimeout: 2 * time.Second, MaxInFlight: 2})
		held := []net.Conn{slowPost(t, addr, "/v1/auth/orgs", owner.Token, 1000), slowPost(t, addr, "/v1/auth/orgs", owner.Token, 1000)}
		time.Sleep(300 * time.Millisecond) // both are being read
		get := func(path string) (*http.Response, []byte) {
			resp, err := http.Get("http://" + addr + path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return resp, body
		}
		resp, body := get("/v1/auth/orgs/members")
		var env envelope
		if resp.StatusCode != 503 || json.Unmarshal(body, &env) != nil || env.Error == nil || env.Error.Code != "SERVICE_UNAVAILABLE" || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("over the in-flight cap: %d %s (Retry-After %q)", resp.StatusCode, body, resp.Header.Get("Retry-After"))
		}
		if resp, _ := get("/healthz"); resp.StatusCode != 200 {
			t.Fatalf("healthz under the cap: %d", resp.StatusCode)
		}
		for _, c := range held {
			if resp, _, _ := readAnswer(t, c); resp.StatusCode != 408 {
				t.Fatalf("held request: %d", resp.StatusCode)
			}
		}
		if resp, body := get("/v1/auth/orgs/members"); resp.StatusCode != 401 {
			t.Fatalf("after the held requests ended: %d %s", resp.StatusCode, body)
		}
	})
}

// Beyond the connection cap, when no connection is idle, a new connection
// is answered 503 and closed; a slot frees when a connection closes.
func TestConnectionCap(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		owner := e.person("owner")
		addr := serveReal(t, e, server.Config{MaxConns: 2, RequestTimeout: 2 * time.Second})
		// Two requests whose bodies trickle in: busy, not idle.
		busy := []net.Conn{slowPost(t, addr, "/v1/auth/orgs", owner.Token, 1000), slowPost(t, addr, "/v1/auth/orgs", owner.Token, 1000)}
		time.Sleep(300 * time.Millisecond) // both are being read
		over, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer over.Close()
		resp, env, closed := readAnswer(t, over)
		if resp.StatusCode != 503 || env.Error.Code != "SERVICE_UNAVAILABLE" || !closed {
			t.Fatalf("over the connection cap: %d %+v closed=%v", resp.StatusCode, env.Error, closed)
		}
		busy[0].Close()
		deadline := time.Now().Add(5 * time.Second)
		for {
			resp, err := http.Get("http://" + addr + "/healthz")
			if err == nil && resp.StatusCode == 200 {
				resp.Body.Close()
				break
			}
			if err == nil {
				resp.Body.Close()
			}
			if time.Now().After(deadline) {
				t.Fatalf("a freed slot was not reused: %v", err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

// Headers beyond 64 KiB are refused by the HTTP server before any handler
// runs.
func TestHeaderSizeCap(t *testing.T) {
	e := newEnv(t, "sqlite")
	addr := serveReal(t, e, server.Config{})
	req, _ := http.NewRequest("GET", "http://"+addr+"/healthz", nil)
	req.Header.Set("X-Padding", strings.Repeat("a", 100<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("100 KiB header: %d", resp.StatusCode)
	}
}
