package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kayle-id/orgs-api/mail"
	"github.com/kayle-id/orgs-api/server"
	"github.com/kayle-id/orgs-api/validator"
)

// Behind trusted proxies the client is the first address in X-Forwarded-For,
// read from the right, that is not a trusted proxy: the per-address limit
// and the request log use it. A client cannot pick its own address by
// writing the header: not without a trusted proxy in front, not through one
// (whatever it wrote sits left of the address the proxy appended), and not
// from outside the trusted ranges.
func TestClientAddressBehindProxies(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		serve := func(trusted ...string) (string, *syncBuffer) {
			var nets []*net.IPNet
			for _, c := range trusted {
				_, n, err := net.ParseCIDR(c)
				if err != nil {
					t.Fatal(err)
				}
				nets = append(nets, n)
			}
			logs := &syncBuffer{}
			app, err := server.New(server.Config{Validation: validator.Full, Metrics: conformance,
				Logger:         slog.New(slog.NewJSONHandler(logs, nil)),
				RateLimit:      server.RateLimit{PerIP: 0.01, Burst: 2},
				TrustedProxies: nets,
			}, e.st, &mail.Outbox{Dir: t.TempDir(), From: "x@kayle.id"})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(app)
			t.Cleanup(srv.Close)
			return srv.URL, logs
		}
		// leave sends a write with a credential that does not exist: 401
		// while the address has requests left, 429 after.
		leave := func(base string, xff ...string) int {
			req, _ := http.NewRequestWithContext(context.Background(), "POST", base+"/v1/auth/orgs/members/leave", nil)
			req.Header.Set("Authorization", "Bearer kid_nobody")
			for _, v := range xff {
				req.Header.Add("X-Forwarded-For", v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return resp.StatusCode
		}
		want := func(what string, got, status int) {
			t.Helper()
			if got != status {
				t.Fatalf("%s: %d, want %d", what, got, status)
			}
		}

		t.Run("through a trusted proxy", func(t *testing.T) {
			base, logs := serve("127.0.0.1/32")
			want("first", leave(base, "203.0.113.7"), 401)
			want("second", leave(base, "203.0.113.7"), 401)
			want("third from the same client", leave(base, "203.0.113.7"), 429)
			want("another client", leave(base, "203.0.113.8"), 401)
			// A client that wrote its own header: the proxy appended the
			// real address after it, and that is the one believed.
			want("forged, then appended", leave(base, "198.51.100.1, 203.0.113.7"), 429)
			want("forged, on its own line", leave(base, "198.51.100.1", "203.0.113.7"), 429)
			want("no header: the proxy itself", leave(base), 401)
			ips := clientIPs(t, logs)
			if strings.Join(ips, " ") != "203.0.113.7 203.0.113.7 203.0.113.7 203.0.113.8 203.0.113.7 203.0.113.7 127.0.0.1" {
				t.Fatalf("logged client addresses: %v", ips)
			}
		})

		t.Run("through two trusted hops", func(t *testing.T) {
			base, logs := serve("127.0.0.1/32", "10.0.0.0/8")
			want("first", leave(base, "203.0.113.9, 10.1.2.3"), 401)
			if ips := clientIPs(t, logs); len(ips) != 1 || ips[0] != "203.0.113.9" {
				t.Fatalf("logged client addresses: %v", ips)
			}
		})

		t.Run("no trusted proxies: the header is ignored", func(t *testing.T) {
			base, logs := serve()
			want("first", leave(base, "203.0.113.1"), 401)
			want("second", leave(base, "203.0.113.2"), 401)
			want("third, yet another made-up address", leave(base, "203.0.113.3"), 429)
			for _, ip := range clientIPs(t, logs) {
				if ip != "127.0.0.1" {
					t.Fatalf("logged %s, want the connection's address", ip)
				}
			}
		})

		t.Run("a peer outside the trusted ranges", func(t *testing.T) {
			base, logs := serve("10.0.0.0/8")
			want("first", leave(base, "203.0.113.1"), 401)
			want("second", leave(base, "203.0.113.2"), 401)
			want("third", leave(base, "203.0.113.3"), 429)
			if ips := clientIPs(t, logs); ips[0] != "127.0.0.1" {
				t.Fatalf("logged %v, want the connection's address", ips)
			}
		})
	})
}

// clientIPs lists the client_ip of each request log line.
func clientIPs(t *testing.T, logs *syncBuffer) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", sc.Text())
		}
		if m["msg"] == "request" {
			ip, _ := m["client_ip"].(string)
			out = append(out, ip)
		}
	}
	return out
}
