package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/kayle-id/orgs-api/internal/testdb"
	"github.com/kayle-id/orgs-api/mail"
	"github.com/kayle-id/orgs-api/server"
	"github.com/kayle-id/orgs-api/store"
	"github.com/kayle-id/orgs-api/validator"
)

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestRequestLogAndMetrics(t *testing.T) {
	ctx := context.Background()
	metrics := server.NewMetrics()
	st, err := store.Open(ctx, testdb.URL(t, testdb.SQLite), store.Options{MaxOpenConns: 7, OnEvent: metrics.Event})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	metrics.WatchDB(st.DB())
	var logs syncBuffer
	app, err := server.New(server.Config{Validation: validator.Full, Logger: slog.New(slog.NewJSONHandler(&logs, nil)), Metrics: metrics, PublicMetrics: true},
		st, &mail.Outbox{Dir: t.TempDir(), From: "x@kayle.id"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(app)
	defer srv.Close()

	if _, err := st.CreateUser(ctx, "log@example.com", "Log"); err != nil {
		t.Fatal(err)
	}
	tok, err := st.CreateSession(ctx, "log@example.com", nil, 3600e9)
	if err != nil {
		t.Fatal(err)
	}
	call := func(method, path, body, reqID string) *http.Response {
		req, _ := http.NewRequestWithContext(ctx, method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok.Token)
		req.Header.Set("Content-Type", "application/json")
		if reqID != "" {
			req.Header.Set("X-Request-Id", reqID)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	if r := call("POST", "/v1/auth/orgs", `{"name":"Logs","slug":"logs"}`, "trace-123"); r.StatusCode != 200 || r.Header.Get("X-Request-Id") != "trace-123" {
		t.Fatalf("create: %d, request id %q", r.StatusCode, r.Header.Get("X-Request-Id"))
	}
	r := call("POST", "/v1/auth/orgs/members/leave", "", "")
	if r.StatusCode != 409 || len(r.Header.Get("X-Request-Id")) < 16 {
		t.Fatalf("leave: %d, generated request id %q", r.StatusCode, r.Header.Get("X-Request-Id"))
	}
	call("POST", "/v1/auth/orgs", `{"name":"","slug":"BAD"}`, "")

	// One JSON line per request, with the route template; never the token.
	if strings.Contains(logs.String(), tok.Token) || strings.Contains(logs.String(), strings.TrimPrefix(tok.Token, "kid_")) {
		t.Fatal("a token reached the log")
	}
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", sc.Text())
		}
		if m["msg"] == "request" {
			lines = append(lines, m)
		}
	}
	if len(lines) != 3 {
		t.Fatalf("want 3 request lines, got %d: %s", len(lines), logs.String())
	}
	if l := lines[0]; l["request_id"] != "trace-123" || l["route"] != "/v1/auth/orgs" || l["method"] != "POST" || l["status"] != float64(200) || l["duration_ms"] == nil {
		t.Fatalf("create log line: %v", l)
	}
	if l := lines[1]; l["route"] != "/v1/auth/orgs/members/leave" || l["status"] != float64(409) || l["operation"] != "leaveOrganization" || l["organization_id"] == nil {
		t.Fatalf("leave log line: %v", l)
	}

	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`kayle_http_requests_total{method="POST",operation="createOrganization",status="200"} 1`,
		`kayle_http_requests_total{method="POST",operation="leaveOrganization",status="409"} 1`,
		`kayle_http_request_duration_seconds_count{operation="leaveOrganization",status="409"} 1`,
		`kayle_validation_rejections_total{direction="request",operation="createOrganization"} 1`,
		`kayle_membership_events_total{event="organization.created"} 1`,
		`kayle_membership_events_total{event="organization.ownership.assigned"} 1`,
		`go_sql_max_open_connections{db_name="kayle"} 7`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// Clients cannot mint metric series: made-up methods and paths, known
// paths with the wrong method, all collapse into a handful of label values.
// Each series lives as long as the process, so an unbounded label is an
// unauthenticated memory leak (and a /metrics answer that grows with it).
func TestMetricsLabelsAreBounded(t *testing.T) {
	e := newEnv(t, testdb.SQLite)
	metrics := server.NewMetrics()
	app, err := server.New(server.Config{Validation: validator.Full, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Metrics: metrics, PublicMetrics: true},
		e.st, &mail.Outbox{Dir: t.TempDir(), From: "x@kayle.id"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(app)
	defer srv.Close()
	send := func(method, path string) {
		req, err := http.NewRequest(method, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	for i := range 60 {
		send(fmt.Sprintf("M%dX%s", i, strings.Repeat("Q", i*100)), "/v1/auth/orgs")
		send("GET", fmt.Sprintf("/no/such/path/%d", i))
		send("PUT", "/healthz")
	}
	body := scrapeURL(t, srv.URL)
	var series []string
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "kayle_http_requests_total{") || strings.HasPrefix(line, "kayle_http_request_duration_seconds_count{") {
			series = append(series, line)
		}
	}
	if len(series) > 8 {
		t.Fatalf("%d series from made-up methods and paths, want a handful:\n%s", len(series), strings.Join(series, "\n"))
	}
	for _, want := range []string{
		`kayle_http_requests_total{method="OTHER",operation="unmatched",status="405"} 60`,
		`kayle_http_requests_total{method="GET",operation="unmatched",status="404"} 60`,
		`kayle_http_requests_total{method="PUT",operation="unmatched",status="405"} 60`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, strings.Join(series, "\n"))
		}
	}
}

// /metrics is not on the API's address unless asked for.
func TestMetricsNotPublicByDefault(t *testing.T) {
	e := newEnv(t, testdb.SQLite)
	resp, err := http.Get(e.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("/metrics on the API address: %d", resp.StatusCode)
	}
}

func scrapeURL(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	return string(body)
}

func TestHealth(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		for path, want := range map[string]int{"/healthz": 200, "/readyz": 200} {
			resp, err := http.Get(e.srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("%s: %d", path, resp.StatusCode)
			}
		}
	})
}
