package store_test

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kayle-id/orgs-api/internal/testdb"
	"github.com/kayle-id/orgs-api/store"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testdb.Shutdown()
	os.Exit(code)
}

func open(t *testing.T, url string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), url, store.Options{MaxOpenConns: 16})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// Migrations are versioned and move forward only: reopening an existing
// database applies nothing and keeps every row.
func TestMigrationsKeepData(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			url := testdb.URL(t, kind)
			st := open(t, url)
			if n, err := st.MigrationsPending(ctx); err != nil || n == 0 {
				t.Fatalf("a new database has pending migrations: %d %v", n, err)
			}
			applied, err := st.Migrate(ctx)
			if err != nil || len(applied) == 0 || applied[0].Version != 1 {
				t.Fatalf("first migrate: %+v %v", applied, err)
			}
			u, err := st.CreateUser(ctx, "keep@example.com", "Keep")
			if err != nil {
				t.Fatal(err)
			}
			st.Close()

			again := open(t, url)
			applied, err = again.Migrate(ctx)
			if err != nil || len(applied) != 0 {
				t.Fatalf("second migrate applied %+v, %v", applied, err)
			}
			if n, err := again.MigrationsPending(ctx); err != nil || n != 0 {
				t.Fatalf("pending after migrate: %d %v", n, err)
			}
			got, err := again.UserByEmail(ctx, "KEEP@example.com ")
			if err != nil || got.ID != u.ID || got.Name != "Keep" {
				t.Fatalf("user lost across reopen: %+v %v", got, err)
			}
			// Times round-trip at microsecond precision on both databases.
			if !got.CreatedAt.Equal(u.CreatedAt) {
				t.Fatalf("created_at %s != %s", got.CreatedAt, u.CreatedAt)
			}
		})
	}
}

func TestSessions(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			now := time.Now()
			var mu sync.Mutex
			clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
			st, err := store.Open(ctx, testdb.URL(t, kind), store.Options{Now: clock})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if _, err := st.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := st.CreateUser(ctx, "s@example.com", "S"); err != nil {
				t.Fatal(err)
			}
			if _, err := st.CreateUser(ctx, "S@example.com", "Dup"); !errors.Is(err, store.ErrEmailTaken) {
				t.Fatalf("duplicate email: %v", err)
			}
			tok, err := st.CreateSession(ctx, "s@example.com", nil, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if len(tok.Token) < 40 {
				t.Fatalf("token too short to hold 256 bits: %q", tok.Token)
			}
			// Only the hash is stored.
			var n int
			if err := st.DB().QueryRow(`SELECT COUNT(*) FROM sessions WHERE token_hash = $1`, tok.Token).Scan(&n); err != nil || n != 0 {
				t.Fatalf("token stored in clear: %d %v", n, err)
			}
			if _, err := st.Authenticate(ctx, tok.Token); err != nil {
				t.Fatal(err)
			}
			for _, bad := range []string{"", "kid_", tok.Token + "x", tok.Token[:len(tok.Token)-1], "Bearer " + tok.Token, string(make([]byte, 5000))} {
				if _, err := st.Authenticate(ctx, bad); !errors.Is(err, store.ErrUnauthenticated) {
					t.Errorf("Authenticate(%.20q) = %v", bad, err)
				}
			}
			mu.Lock()
			now = now.Add(time.Hour)
			mu.Unlock()
			if _, err := st.Authenticate(ctx, tok.Token); !errors.Is(err, store.ErrUnauthenticated) {
				t.Fatalf("expired token accepted: %v", err)
			}
			tok2, _ := st.CreateSession(ctx, "s@example.com", nil, time.Hour)
			if err := st.RevokeToken(ctx, tok2.Token); err != nil {
				t.Fatal(err)
			}
			if _, err := st.Authenticate(ctx, tok2.Token); !errors.Is(err, store.ErrUnauthenticated) {
				t.Fatalf("revoked token accepted: %v", err)
			}
			if _, err := st.CreateSession(ctx, "nobody@example.com", nil, time.Hour); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("session for unknown user: %v", err)
			}
			org := uuid.New()
			if _, err := st.CreateSession(ctx, "s@example.com", &org, time.Hour); !errors.Is(err, store.ErrOrganizationNotFound) {
				t.Fatalf("session for unknown org: %v", err)
			}
		})
	}
}

func TestDialectFor(t *testing.T) {
	for url, want := range map[string]store.Dialect{
		"postgres://u@h/db": store.Postgres, "postgresql://h/db": store.Postgres,
		"kayle-id.db": store.SQLite, "/var/lib/kayle/id.db": store.SQLite,
	} {
		if got := store.DialectFor(url); got != want {
			t.Errorf("DialectFor(%q) = %s", url, got)
		}
	}
	if _, err := store.Open(context.Background(), "bad?.db", store.Options{}); err == nil {
		t.Error("a SQLite path with '?' was accepted")
	}
}

// "Sign out everywhere" by an email that is empty once normalised names
// nobody: provider users without a verified email have an empty one, and
// keep their sessions.
func TestRevokeSessionsNeedsAnEmail(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := open(t, testdb.URL(t, kind))
			if _, err := st.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			id := store.ExternalIdentity{Issuer: "https://id.example.com", Subject: "no-email", ExpiresAt: time.Now().Add(time.Hour)}
			p, err := st.AuthenticateExternal(ctx, id)
			if err != nil || p.User.Email != "" {
				t.Fatalf("provider user without an email: %+v %v", p.User, err)
			}
			for _, email := range []string{"", "  ", "\t\n"} {
				if n, err := st.RevokeSessions(ctx, email); !errors.Is(err, store.ErrNotFound) || n != 0 {
					t.Fatalf("RevokeSessions(%q) = %d, %v; want ErrNotFound", email, n, err)
				}
			}
			if again, err := st.AuthenticateExternal(ctx, id); err != nil || again.Session.ID != p.Session.ID {
				t.Fatalf("the provider user's session after a blank sign-out: %+v %v", again.Session, err)
			}
			// A real address still signs its user out everywhere.
			if _, err := st.CreateUser(ctx, "out@example.com", "Out"); err != nil {
				t.Fatal(err)
			}
			tok, err := st.CreateSession(ctx, "out@example.com", nil, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if n, err := st.RevokeSessions(ctx, " OUT@example.com"); err != nil || n != 1 {
				t.Fatalf("RevokeSessions of a user: %d %v", n, err)
			}
			if _, err := st.Authenticate(ctx, tok.Token); !errors.Is(err, store.ErrUnauthenticated) {
				t.Fatalf("a signed-out session still authenticates: %v", err)
			}
		})
	}
}
