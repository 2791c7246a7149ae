package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/kayle-id/orgs-api/internal/testdb"
)

// sendRaw sends a request as a hostile client would shape it and returns
// the answer's status and body. ok is false when the client library refused
// to send it (an invalid request line or header), so no code of ours ran.
func sendRaw(t testing.TB, e *env, method, path, ctype, body string, header http.Header) (status int, raw []byte, ok bool) {
	t.Helper()
	if strings.ContainsAny(path, " \t\r\n\x00") {
		return 0, nil, false
	}
	req, err := http.NewRequestWithContext(context.Background(), method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, false
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if strings.Contains(err.Error(), "invalid header") || strings.Contains(err.Error(), "invalid URL") || strings.Contains(err.Error(), "net/http: invalid") {
			return 0, nil, false
		}
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ = io.ReadAll(resp.Body)
	return resp.StatusCode, raw, true
}

// fuzzRequest fails on a 5xx or an error answer outside the envelope. The
// seed corpora run in every `make test`; `go test -fuzz=FuzzX ./server`
// explores further.
func fuzzRequest(t *testing.T, e *env, method, path, ctype, body string, header http.Header) {
	status, raw, ok := sendRaw(t, e, method, path, ctype, body, header)
	if !ok {
		return
	}
	if status >= 500 {
		t.Fatalf("%s %s %q: %d %s", method, path, body, status, raw)
	}
	if status >= 400 {
		var env envelope
		if err := json.Unmarshal(raw, &env); err != nil || env.Error == nil || env.Error.Code == "" {
			t.Fatalf("%s %s: %d answer is not the envelope: %s", method, path, status, raw)
		}
	}
}

func FuzzCreateOrganizationBody(f *testing.F) {
	e := newEnv(f, testdb.SQLite)
	owner := e.person("fuzz")
	for _, h := range hostileCases(owner.Token, "00000000-0000-4000-8000-000000000000") {
		if h.path == "/v1/auth/orgs" {
			f.Add(h.ctype, h.body)
		}
	}
	f.Add("application/json", `{"name":"ok","slug":"ok"}`)
	f.Add("application/json; charset=utf-8", `{"name":"😀","slug":"emoji"}`)
	f.Fuzz(func(t *testing.T, ctype, body string) {
		fuzzRequest(t, e, "POST", "/v1/auth/orgs", ctype, body, http.Header{"Authorization": {"Bearer " + owner.Token}})
	})
}

func FuzzAuditLogQuery(f *testing.F) {
	e := newEnv(f, testdb.SQLite)
	owner := e.person("fuzz")
	e.org(owner, "fuzz-audit")
	for _, h := range hostileCases(owner.Token, "00000000-0000-4000-8000-000000000000") {
		if i := strings.IndexByte(h.path, '?'); i >= 0 {
			f.Add(h.path[i+1:])
		}
	}
	f.Add("limit=1&event=member.left,member.joined&q=%25_%5C")
	f.Add("created_from=2026-01-01T00:00:00Z&created_to=2020-01-01T00:00:00Z")
	f.Fuzz(func(t *testing.T, query string) {
		fuzzRequest(t, e, "GET", "/v1/auth/orgs/audit-logs?"+query, "", "", http.Header{"Authorization": {"Bearer " + owner.Token}})
	})
}

func FuzzMemberPath(f *testing.F) {
	e := newEnv(f, testdb.SQLite)
	owner := e.person("fuzz")
	e.org(owner, "fuzz-path")
	id := e.memberID(owner, owner).String()
	for _, seed := range []string{id, id + "%2F..", "..", "%00", "not-a-uuid", strings.ToUpper(id), id + "/reinstate", "%2e%2e%2fleave"} {
		f.Add("DELETE", seed)
		f.Add("POST", seed+"/reinstate")
	}
	f.Fuzz(func(t *testing.T, method, tail string) {
		switch method {
		case "GET", "POST", "DELETE", "PATCH", "PUT":
		default:
			return
		}
		fuzzRequest(t, e, method, "/v1/auth/orgs/members/"+tail, "application/json", `{"role":"admin"}`, http.Header{"Authorization": {"Bearer " + owner.Token}})
	})
}

func FuzzAuthorization(f *testing.F) {
	e := newEnv(f, testdb.SQLite)
	owner := e.person("fuzz")
	for _, seed := range []string{"Bearer " + owner.Token, "bearer " + owner.Token, "Bearer", "Basic YTpi", "Bearer " + owner.Token + "x", "Bearer kid_" + strings.Repeat("A", 300), "", "Bearer \t" + owner.Token} {
		f.Add(seed, "")
		f.Add(seed, seed)
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		h := http.Header{}
		if a != "" {
			h.Add("Authorization", a)
		}
		if b != "" {
			h.Add("Authorization", b)
		}
		fuzzRequest(t, e, "POST", "/v1/auth/orgs/members/leave", "", "", h)
	})
}

// FuzzProviderToken sends mutated identity provider tokens: whatever the
// bytes, the answer is a 4xx in the envelope or a success, never a 5xx.
func FuzzProviderToken(f *testing.F) {
	pe := newProviderEnv(f, testdb.SQLite)
	op := pe.op
	valid := op.Token(op.Claims("fuzz", "fuzz@example.com"))
	parts := strings.Split(valid, ".")
	for _, seed := range []string{
		valid, parts[0] + "." + parts[1] + ".", parts[0] + ".." + parts[2], "..", ".", "a.b.c",
		"eyJhbGciOiJub25lIn0." + parts[1] + ".", valid + "A", strings.Repeat("A", 20000),
		op.Token(claimsWith(op.Claims("fuzz", "fuzz@example.com"), "sub", "x\x00y")),
		op.Token(claimsWith(op.Claims("fuzz", "fuzz@example.com"), "email", strings.Repeat("e", 300)+"@example.com")),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, token string) {
		fuzzRequest(t, pe.env, "POST", "/v1/auth/orgs/members/leave", "", "", http.Header{"Authorization": {"Bearer " + token}})
	})
}
