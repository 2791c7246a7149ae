package server_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/kayle-id/orgs-api/internal/testdb"
)

// answer is a raw HTTP answer, readable by wantError and wantStatus.
type answer struct {
	status int
	body   []byte
}

func (a answer) StatusCode() int { return a.status }
func (a answer) GetBody() []byte { return a.body }
func (a answer) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("answer %s: %v", a.body, err)
	}
}

// call sends a JSON request as p (token "" sends none) and returns the answer.
func (e *env) call(t testing.TB, method, path, token, body string) answer {
	t.Helper()
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	ct := ""
	if body != "" {
		ct = "application/json"
	}
	status, raw, ok := sendRaw(t, e, method, path, ct, body, h)
	if !ok {
		t.Fatalf("%s %s: not sent", method, path)
	}
	return answer{status, raw}
}

// wantFrozenForKeys checks upstream's 410 of the API-key routes and the
// logo upload, whose docs link is a page of its own.
func wantFrozenForKeys(t *testing.T, a answer) {
	t.Helper()
	env := wantError(t, a, 410, "ORGANIZATION_FROZEN", "This organization is scheduled for deletion. API keys and verification flows are disabled until the deletion is canceled.")
	if env.Error.Hint != "Cancel the pending deletion from the dashboard, then retry." || env.Error.Docs != "https://kayle.id/docs/errors/organization-frozen" {
		t.Fatalf("410: %+v", env.Error)
	}
}

var jsTime = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

type keyItem struct {
	ID           string         `json:"id"`
	Name         string         `json:"name"`
	Enabled      bool           `json:"enabled"`
	Permissions  []string       `json:"permissions"`
	Metadata     map[string]any `json:"metadata"`
	CreatedAt    string         `json:"createdAt"`
	UpdatedAt    string         `json:"updatedAt"`
	RequestCount float64        `json:"requestCount"`
}

type keyList struct {
	Data       []keyItem `json:"data"`
	Pagination struct {
		Limit      int     `json:"limit"`
		HasMore    bool    `json:"has_more"`
		NextCursor *string `json:"next_cursor"`
	} `json:"pagination"`
}

func TestAPIKeysHTTP(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		owner, admin, member, noOrg := e.person("owner"), e.person("admin"), e.person("member"), e.person("noorg")
		orgID := e.org(owner, "keys-"+string(e.kind))
		e.join(owner, admin, "admin")
		e.join(owner, member, "member")
		const body = `{"name":"  Production ","permissions":["sessions:read","sessions:write"],"metadata":{"team":"payments","tier":2,"live":true}}`

		// 401: no credential, or an API key where a session is needed.
		wantError(t, e.call(t, "GET", "/v1/auth/api-keys", "", ""), 401, "UNAUTHORIZED", "Unauthorized")
		wantError(t, e.call(t, "POST", "/v1/auth/api-keys", "", body), 401, "UNAUTHORIZED", "")
		wantError(t, e.call(t, "PATCH", "/v1/auth/api-keys/"+uuid.NewString(), "", `{"name":"x"}`), 401, "UNAUTHORIZED", "")
		wantError(t, e.call(t, "DELETE", "/v1/auth/api-keys/"+uuid.NewString(), "", ""), 401, "UNAUTHORIZED", "")

		// 403 without a selected organization: before the request is looked at.
		for _, c := range []struct{ method, path, body string }{
			{"GET", "/v1/auth/api-keys?limit=5000", ""},
			{"POST", "/v1/auth/api-keys", `{"name":""}`},
			{"PATCH", "/v1/auth/api-keys/not-a-uuid", `{}`},
			{"DELETE", "/v1/auth/api-keys/" + uuid.NewString(), ""},
		} {
			env := wantError(t, e.call(t, c.method, c.path, noOrg.Token, c.body), 403, "FORBIDDEN", "Forbidden")
			if env.Error.Hint != "The active session must have an organization selected." || env.Error.Docs != "https://kayle.id/docs/api/errors#forbidden" {
				t.Errorf("%s %s: %+v", c.method, c.path, env.Error)
			}
			if (c.method == "GET") != (env.Pagination != nil) {
				t.Errorf("%s %s: pagination %+v", c.method, c.path, env.Pagination)
			}
		}

		// 403 for members, in each operation's words.
		env := wantError(t, e.call(t, "GET", "/v1/auth/api-keys", member.Token, ""), 403, "FORBIDDEN", "You are not authorized to list API keys")
		if env.Error.Hint != "Please contact an administrator to request access." || env.Pagination == nil || env.Pagination.Limit != 10 || env.Pagination.HasMore {
			t.Errorf("list 403: %+v %+v", env.Error, env.Pagination)
		}
		wantError(t, e.call(t, "POST", "/v1/auth/api-keys", member.Token, body), 403, "FORBIDDEN", "You are not authorized to create API keys")
		wantError(t, e.call(t, "PATCH", "/v1/auth/api-keys/"+uuid.NewString(), member.Token, `{"name":"x"}`), 403, "FORBIDDEN", "You are not authorized to update API keys")
		wantError(t, e.call(t, "DELETE", "/v1/auth/api-keys/"+uuid.NewString(), member.Token, ""), 403, "FORBIDDEN", "You are not authorized to delete API keys")

		// 400: what the schema and the rules refuse.
		for _, bad := range []string{
			`{"name":"x","permissions":[]}`,
			`{"name":"x","permissions":["admin"]}`,
			`{"name":"","permissions":["sessions:read"]}`,
			`{"name":" \u00a0 ","permissions":["sessions:read"]}`,
			`{"name":"` + strings.Repeat("😀", 61) + `","permissions":["sessions:read"]}`,
			`{"name":"x","permissions":["sessions:read"],"metadata":{"a b":"x"}}`,
			`{"name":"x","permissions":["sessions:read"],"metadata":{"k":null}}`,
			`{"name":"x","permissions":["sessions:read"],"metadata":{"k":{"nested":1}}}`,
			`{"name":"x","permissions":["sessions:read"],"metadata":{"k":"` + strings.Repeat("v", 513) + `"}}`,
			`{"name":"x","permissions":["sessions:read"],"metadata":` + metadataOf(21) + `}`,
			`{"name":"x","permissions":["sessions:read"],"key":"kk_mine"}`,
		} {
			wantError(t, e.call(t, "POST", "/v1/auth/api-keys", admin.Token, bad), 400, "BAD_REQUEST", "")
		}

		// 200: the key once, then never again.
		var created struct {
			Data struct{ ID, Key string } `json:"data"`
		}
		a := e.call(t, "POST", "/v1/auth/api-keys", admin.Token, body)
		wantStatus(t, a, 200)
		a.decode(t, &created)
		if !regexp.MustCompile(`^kk_[a-z0-9]{32}$`).MatchString(created.Data.Key) || uuid.Validate(created.Data.ID) != nil {
			t.Fatalf("created %s", a.body)
		}
		wantStatus(t, e.call(t, "POST", "/v1/auth/api-keys", owner.Token, `{"name":"Second","permissions":["analytics:read"],"metadata":`+metadataOf(20)+`}`), 200)
		wantStatus(t, e.call(t, "POST", "/v1/auth/api-keys", owner.Token, `{"name":"Third","permissions":["webhooks:read","webhooks:read"]}`), 200)

		a = e.call(t, "GET", "/v1/auth/api-keys", admin.Token, "")
		wantStatus(t, a, 200)
		if strings.Contains(string(a.body), created.Data.Key) || strings.Contains(string(a.body), created.Data.Key[3:]) {
			t.Fatal("the list shows the key")
		}
		var list keyList
		a.decode(t, &list)
		if len(list.Data) != 3 || list.Pagination.Limit != 10 || list.Pagination.HasMore || list.Pagination.NextCursor != nil {
			t.Fatalf("list: %s", a.body)
		}
		var mine *keyItem
		for i, k := range list.Data {
			if i > 0 && list.Data[i-1].ID >= k.ID {
				t.Fatalf("not in id order: %s", a.body)
			}
			if !jsTime.MatchString(k.CreatedAt) || !jsTime.MatchString(k.UpdatedAt) {
				t.Fatalf("timestamps %q %q", k.CreatedAt, k.UpdatedAt)
			}
			if k.ID == created.Data.ID {
				mine = &list.Data[i]
			}
		}
		if mine == nil || mine.Name != "Production" || !mine.Enabled || mine.RequestCount != 0 || len(mine.Permissions) != 2 ||
			mine.Metadata["team"] != "payments" || mine.Metadata["tier"] != 2.0 || mine.Metadata["live"] != true {
			t.Fatalf("the created key as listed: %+v", mine)
		}
		// The page size is honoured (upstream refuses any), and pages chain.
		a = e.call(t, "GET", "/v1/auth/api-keys?limit=2", owner.Token, "")
		wantStatus(t, a, 200)
		var p1, p2 keyList
		a.decode(t, &p1)
		if len(p1.Data) != 2 || !p1.Pagination.HasMore || p1.Pagination.NextCursor == nil || *p1.Pagination.NextCursor != p1.Data[1].ID || p1.Pagination.Limit != 2 {
			t.Fatalf("page 1: %s", a.body)
		}
		a = e.call(t, "GET", "/v1/auth/api-keys?limit=2&starting_after="+strings.ToUpper(*p1.Pagination.NextCursor), owner.Token, "")
		wantStatus(t, a, 200)
		a.decode(t, &p2)
		if len(p2.Data) != 1 || p2.Pagination.HasMore || p2.Data[0].ID != list.Data[2].ID {
			t.Fatalf("page 2: %s", a.body)
		}
		for _, q := range []string{"limit=0", "limit=101", "limit=ten", "starting_after=nope"} {
			env := wantError(t, e.call(t, "GET", "/v1/auth/api-keys?"+q, owner.Token, ""), 400, "BAD_REQUEST", "")
			if env.Pagination == nil || env.Pagination.Limit != 10 {
				t.Errorf("%s: pagination %+v", q, env.Pagination)
			}
		}

		// Update: exactly what is sent.
		path := "/v1/auth/api-keys/" + created.Data.ID
		a = e.call(t, "PATCH", path, owner.Token, `{"name":"Renamed","enabled":false,"permissions":["webhooks:write"],"metadata":{}}`)
		wantStatus(t, a, 200)
		if strings.TrimSpace(string(a.body)) != `{"data":{"message":"API key updated successfully","status":"success"},"error":null}` {
			t.Fatalf("update answer %s", a.body)
		}
		wantError(t, e.call(t, "PATCH", path, owner.Token, `{}`), 400, "BAD_REQUEST", "")
		wantError(t, e.call(t, "PATCH", path, owner.Token, `{"name":"   "}`), 400, "BAD_REQUEST", "")
		wantError(t, e.call(t, "PATCH", "/v1/auth/api-keys/not-a-uuid", owner.Token, `{"name":"x"}`), 400, "BAD_REQUEST", "")
		env = wantError(t, e.call(t, "PATCH", "/v1/auth/api-keys/"+uuid.NewString(), owner.Token, `{"name":"x"}`), 400, "API_KEY_NOT_FOUND", "API key not found")
		if env.Error.Hint != "Confirm the API key ID belongs to this organization." || env.Error.Docs != "https://kayle.id/docs/api/errors#api_key_not_found" {
			t.Errorf("not found: %+v", env.Error)
		}

		// Audit: one row per change, filterable by event.
		events := map[string]int{}
		for _, ev := range []string{"api_key.created", "api_key.updated", "api_key.deleted"} {
			a = e.call(t, "GET", "/v1/auth/orgs/audit-logs?event="+ev, owner.Token, "")
			wantStatus(t, a, 200)
			var logs struct {
				Data []struct {
					Event      string         `json:"event"`
					TargetType string         `json:"targetType"`
					Metadata   map[string]any `json:"metadata"`
				} `json:"data"`
			}
			a.decode(t, &logs)
			for _, l := range logs.Data {
				if l.Event != ev || l.TargetType != "api_key" {
					t.Fatalf("filter %s returned %+v", ev, l)
				}
				events[ev]++
				if ev == "api_key.updated" && (fmt.Sprint(l.Metadata["updated_fields"]) != "[name enabled permissions metadata]" || l.Metadata["enabled"] != false) {
					t.Fatalf("api_key.updated metadata %v", l.Metadata)
				}
			}
		}
		if events["api_key.created"] != 3 || events["api_key.updated"] != 1 || events["api_key.deleted"] != 0 {
			t.Fatalf("audit rows %v", events)
		}

		// Delete, then again.
		a = e.call(t, "DELETE", path, admin.Token, "")
		wantStatus(t, a, 200)
		if strings.TrimSpace(string(a.body)) != `{"data":{"message":"API key deleted successfully","status":"success"},"error":null}` {
			t.Fatalf("delete answer %s", a.body)
		}
		env = wantError(t, e.call(t, "DELETE", path, admin.Token, ""), 400, "API_KEY_NOT_DELETED", "API key not found")
		if env.Error.Docs != "https://kayle.id/docs/api/errors#api_key_not_deleted" {
			t.Errorf("docs %q", env.Error.Docs)
		}
		wantError(t, e.call(t, "DELETE", "/v1/auth/api-keys/42", admin.Token, ""), 400, "BAD_REQUEST", "")

		// Frozen: changes answer 410 before anything else is checked; the list still works.
		scheduleDeletion(t, e, owner, orgID)
		wantFrozenForKeys(t, e.call(t, "POST", "/v1/auth/api-keys", admin.Token, body))
		wantFrozenForKeys(t, e.call(t, "POST", "/v1/auth/api-keys", member.Token, `{"not":"valid"}`))
		wantFrozenForKeys(t, e.call(t, "PATCH", "/v1/auth/api-keys/not-a-uuid", member.Token, `{}`))
		wantFrozenForKeys(t, e.call(t, "DELETE", "/v1/auth/api-keys/"+list.Data[1].ID, owner.Token, ""))
		wantStatus(t, e.call(t, "GET", "/v1/auth/api-keys", owner.Token, ""), 200)
	})
}

func metadataOf(n int) string {
	var parts []string
	for i := range n {
		parts = append(parts, fmt.Sprintf(`"k.%d:x-y_z":%d`, i, i))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// A key is a credential: its text is in the creation answer and nowhere
// else, neither in any table, the database files, the log, nor any later
// answer.
func TestAPIKeyNeverStoredOrShown(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		owner := e.person("owner")
		e.org(owner, "secret-"+string(e.kind))
		var created struct {
			Data struct{ ID, Key string } `json:"data"`
		}
		a := e.call(t, "POST", "/v1/auth/api-keys", owner.Token, `{"name":"Secret","permissions":["sessions:read"]}`)
		wantStatus(t, a, 200)
		a.decode(t, &created)
		key := created.Data.Key
		secretPart := key[len("kk_"):]
		leaks := func(where string, text string) {
			if strings.Contains(text, secretPart) {
				t.Errorf("the key reached %s", where)
			}
		}
		// Later answers, to every kind of reader.
		for _, path := range []string{"/v1/auth/api-keys", "/v1/auth/api-keys?limit=100", "/v1/auth/orgs/audit-logs", "/v1/auth/orgs/members", "/v1/auth/account/owned-organizations"} {
			leaks("GET "+path, string(e.call(t, "GET", path, owner.Token, "").body))
		}
		leaks("an update answer", string(e.call(t, "PATCH", "/v1/auth/api-keys/"+created.Data.ID, owner.Token, `{"name":"Renamed"}`).body))
		// The key as a credential here: refused, and not echoed.
		refused := e.call(t, "GET", "/v1/auth/api-keys", key, "")
		wantError(t, refused, 401, "UNAUTHORIZED", "")
		leaks("the 401 answer", string(refused.body))
		wantError(t, e.call(t, "POST", "/v1/auth/orgs/rp-terms", key, ""), 401, "UNAUTHORIZED", "")
		// Every text value of every table.
		for _, table := range tables(t, e) {
			rows, err := e.st.DB().Query("SELECT * FROM " + table)
			if err != nil {
				t.Fatal(err)
			}
			cols, _ := rows.Columns()
			for rows.Next() {
				vals := make([]sql.RawBytes, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				if err := rows.Scan(ptrs...); err != nil {
					t.Fatal(err)
				}
				for i, v := range vals {
					leaks(table+"."+cols[i], string(v))
				}
			}
			rows.Close()
		}
		// The SQLite files themselves, write-ahead log included.
		if e.kind == testdb.SQLite {
			files, _ := filepath.Glob(e.dbPath + "*")
			if len(files) == 0 {
				t.Fatal("no database files found")
			}
			for _, f := range files {
				raw, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				leaks(filepath.Base(f), string(raw))
			}
		}
		leaks("the log", e.logs.String())
		if !strings.Contains(e.logs.String(), "route=/v1/auth/api-keys") {
			t.Fatal("the log was not captured")
		}
		// And the key still works, so the test looked at the right things.
		if _, err := e.st.AuthenticateAPIKey(context.Background(), key); err != nil {
			t.Fatalf("the key does not authenticate: %v", err)
		}
	})
}

// tables lists the database's tables.
func tables(t *testing.T, e *env) []string {
	t.Helper()
	q := `SELECT name FROM sqlite_master WHERE type = 'table'`
	if e.kind == testdb.Postgres {
		q = `SELECT tablename FROM pg_tables WHERE schemaname = 'public'`
	}
	rows, err := e.st.DB().Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	if len(out) < 9 {
		t.Fatalf("only %d tables: %v", len(out), out)
	}
	return out
}
