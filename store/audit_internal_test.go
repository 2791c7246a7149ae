package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/kayle-id/orgs-api/internal/testdb"
)

// auditFixture is an organization with an owner and a few other actors
// whose names and emails the search looks at.
type auditFixture struct {
	s      *Store
	owner  Actor
	actors []uuid.UUID
}

func newAuditFixture(tb testing.TB, kind testdb.Kind, opts Options) auditFixture {
	tb.Helper()
	ctx := context.Background()
	if opts.MaxOpenConns == 0 {
		opts.MaxOpenConns = 4
	}
	s, err := Open(ctx, testdb.URL(tb, kind), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	u, err := s.CreateUser(ctx, "owner@example.com", "Owner")
	if err != nil {
		tb.Fatal(err)
	}
	owner := Actor{UserID: u.ID, SessionID: uuid.New()}
	org, err := s.CreateOrganization(ctx, owner, NewOrganization{Name: "Big log", Slug: "big-log"})
	if err != nil {
		tb.Fatal(err)
	}
	owner.ActiveOrganizationID = &org.ID
	f := auditFixture{s: s, owner: owner, actors: []uuid.UUID{u.ID}}
	for i := range 4 {
		v, err := s.CreateUser(ctx, fmt.Sprintf("actor%d@example.com", i), fmt.Sprintf("Actor Number %d", i))
		if err != nil {
			tb.Fatal(err)
		}
		f.actors = append(f.actors, v.ID)
	}
	return f
}

// fill appends n rows to the organization's log, the newest at from and
// each older one a millisecond before the next, in batched inserts inside
// one transaction. target(i) names row i's target (i = 0 is the newest).
func (f auditFixture) fill(tb testing.TB, n int, from time.Time, target func(i int) string) {
	tb.Helper()
	const batch = 500
	err := f.s.db.Transaction(func(tx *gorm.DB) error {
		rows := make([]AuditLog, 0, batch)
		for i := range n {
			actor := f.actors[i%len(f.actors)]
			tt, tid := "member", target(i)
			rows = append(rows, AuditLog{
				ID: newAuditID(), OrganizationID: *f.owner.ActiveOrganizationID, ActorUserID: &actor,
				ActorType: ActorUser, Event: KnownEvents[i%len(KnownEvents)], TargetType: &tt, TargetID: &tid,
				Metadata: Metadata{}, CreatedAt: from.Add(-time.Duration(i) * time.Millisecond).UTC(),
			})
			if len(rows) == batch || i == n-1 {
				if err := tx.Create(&rows).Error; err != nil {
					return err
				}
				rows = rows[:0]
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}

func plainTarget(i int) string { return fmt.Sprintf("mem_%08d_%s", i, strings.Repeat("x", 20)) }

// BenchmarkAuditSearch: one search with a 200-character q that matches
// nothing, in an organization with 200,000 audit rows (the worst case: the
// whole window is read).
func BenchmarkAuditSearch(b *testing.B) {
	for _, kind := range testdb.Kinds {
		b.Run(string(kind), func(b *testing.B) {
			f := newAuditFixture(b, kind, Options{})
			f.fill(b, 200_000, time.Now(), plainTarget)
			q := strings.Repeat("a", 199) + "b"
			ctx := context.Background()
			b.ResetTimer()
			for b.Loop() {
				if _, _, err := f.s.ListAuditLogs(ctx, f.owner, AuditFilter{Query: q}, Page{Limit: 50}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func targetsOf(rows []AuditEntry) []string {
	var out []string
	for _, r := range rows {
		if r.TargetID != nil {
			out = append(out, *r.TargetID)
		}
	}
	return out
}

// A search looks through the organization's newest entries (the window)
// only, however long the log: a match older than the window is not found
// until created_to moves the window back to it. Pages of a search stay
// within the window. Listings without q are not windowed.
func TestAuditSearchWindow(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			f := newAuditFixture(t, kind, Options{})
			f.s.auditWindow = 100
			from := time.Now().Add(time.Hour)
			f.fill(t, 250, from, func(i int) string {
				switch i {
				case 3:
					return "needle-new"
				case 200:
					return "needle-old"
				}
				return plainTarget(i)
			})
			rows, more, err := f.s.ListAuditLogs(ctx, f.owner, AuditFilter{Query: "NEEDLE"}, Page{Limit: 100})
			if got := targetsOf(rows); err != nil || more || len(got) != 1 || got[0] != "needle-new" {
				t.Fatalf("search of a log longer than the window: %v more=%v %v, want [needle-new] only", got, more, err)
			}
			to := from.Add(-150 * time.Millisecond) // the window is rows 150..249
			rows, _, err = f.s.ListAuditLogs(ctx, f.owner, AuditFilter{Query: "needle", CreatedTo: &to}, Page{Limit: 100})
			if got := targetsOf(rows); err != nil || len(got) != 1 || got[0] != "needle-old" {
				t.Fatalf("search with created_to moved back: %v %v, want [needle-old]", got, err)
			}

			// Every plain target has "mem_" (the _ is literal): 99 of the
			// window's 100 rows, in pages of 30.
			seen := map[string]bool{}
			page := Page{Limit: 30}
			for n := 0; ; n++ {
				rows, more, err := f.s.ListAuditLogs(ctx, f.owner, AuditFilter{Query: "mem_"}, page)
				if err != nil || n > 10 {
					t.Fatalf("page %d: %v", n, err)
				}
				for _, tg := range targetsOf(rows) {
					if seen[tg] {
						t.Fatalf("%s on two pages", tg)
					}
					seen[tg] = true
				}
				if !more {
					break
				}
				page.StartingAfter = rows[len(rows)-1].ID
			}
			if len(seen) != 99 {
				t.Fatalf("search pages found %d rows, want the window's 99", len(seen))
			}

			// Without q the whole log is listed.
			ev := KnownEvents[200%len(KnownEvents)]
			var want int64
			if err := f.s.db.Model(&AuditLog{}).Where("event = ?", ev).Count(&want).Error; err != nil {
				t.Fatal(err)
			}
			rows, _, err = f.s.ListAuditLogs(ctx, f.owner, AuditFilter{Events: []string{ev}}, Page{Limit: 100})
			if err != nil || int64(len(rows)) != want || want < 5 {
				t.Fatalf("event filter found %d rows, want all %d: %v", len(rows), want, err)
			}
		})
	}
}

// Case folding is ASCII only, on both databases alike: a non-ASCII letter
// matches itself only, and a look-alike of an ASCII letter (the Kelvin
// sign) does not match the letter. LIKE's wildcards in q are literal.
func TestAuditSearchFoldsASCIIOnly(t *testing.T) {
	targets := []string{"Émile", "émile", "ACME corp", "50%_off", "a_b", "Straße", "Kilo"}
	cases := map[string][]string{
		"É":       {"Émile"},
		"é":       {"émile"},
		"MILE":    {"Émile", "émile"},
		"acme":    {"ACME corp"},
		"\u212a":  nil, // KELVIN SIGN; strings.ToLower makes it "k"
		"%_":      {"50%_off"},
		"a_":      {"a_b"},
		"STRASSE": nil,
		"straße":  {"Straße"},
		"kILO":    {"Kilo"},
	}
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			f := newAuditFixture(t, kind, Options{})
			f.fill(t, len(targets), time.Now().Add(time.Hour), func(i int) string { return targets[i] })
			for q, want := range cases {
				rows, _, err := f.s.ListAuditLogs(ctx, f.owner, AuditFilter{Query: q}, Page{Limit: 100})
				if err != nil {
					t.Fatal(err)
				}
				got := targetsOf(rows)
				slices.Sort(got)
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Errorf("q=%q found %q, want %q", q, got, want)
				}
			}
		})
	}
}

// lockAuditLogs makes every statement reading audit_logs wait (PostgreSQL),
// from a connection outside the store's pool, until release.
func lockAuditLogs(t *testing.T, s *Store) (waiting func() int, release func()) {
	t.Helper()
	ctx := context.Background()
	db, err := sql.Open("pgx", s.url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec("LOCK TABLE audit_logs IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() { once.Do(func() { _ = tx.Rollback() }) }
	t.Cleanup(release)
	waiting = func() int {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%audit_logs%'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	return waiting, release
}

// An audit listing's statements get at most the query timeout at the
// database, then answer ErrUnavailable; the store stays usable after.
func TestAuditQueryTimeout(t *testing.T) {
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		f := newAuditFixture(t, testdb.Postgres, Options{})
		f.s.auditTimeout = 100 * time.Millisecond
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		// Every filter the page index does not serve is bounded, not only q.
		for _, filter := range []AuditFilter{{Query: "x"}, {Events: []string{"member.left"}}, {ActorType: "user"}} {
			_, release := lockAuditLogs(t, f.s) // the statement waits: the server must stop it
			_, _, err := f.s.ListAuditLogs(ctx, f.owner, filter, Page{Limit: 10})
			if !errors.Is(err, ErrUnavailable) || !errors.Is(err, errStatementTimeout) {
				t.Fatalf("a listing (%+v) stuck at the database: %v, want the statement timeout", filter, err)
			}
			release()
			if _, _, err := f.s.ListAuditLogs(ctx, f.owner, filter, Page{Limit: 10}); err != nil {
				t.Fatalf("after a timeout: %v", err)
			}
		}
	})
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		f := newAuditFixture(t, testdb.SQLite, Options{})
		f.s.auditWindow = 1 << 30 // no window: a long scan the timeout must interrupt
		f.fill(t, 30_000, time.Now(), plainTarget)
		f.s.auditTimeout = time.Millisecond
		ctx := context.Background()
		_, _, err := f.s.ListAuditLogs(ctx, f.owner, AuditFilter{Query: strings.Repeat("z", 200)}, Page{Limit: 10})
		if !errors.Is(err, ErrUnavailable) || !errors.Is(err, errStatementTimeout) {
			t.Fatalf("a 30,000-row scan under a 1 ms timeout: %v, want the statement timeout", err)
		}
		f.s.auditTimeout = AuditQueryTimeout
		if rows, _, err := f.s.ListAuditLogs(ctx, f.owner, AuditFilter{}, Page{Limit: 10}); err != nil || len(rows) != 10 {
			t.Fatalf("after a timeout: %d rows, %v", len(rows), err)
		}
	})
}

// One user's share through real searches (see TestShareCapsTurns): on
// PostgreSQL, 20 concurrent searches of one user, stuck at the database,
// hold 2 of the 4 turns, and another user's read goes through meanwhile.
func TestOneUserCannotTakeEveryTurn(t *testing.T) {
	t.Parallel()
	f := newAuditFixture(t, testdb.Postgres, Options{MaxOpenConns: 4})
	f.s.auditTimeout = time.Minute // the searches stay stuck until released
	ctx := context.Background()
	other, err := f.s.CreateUser(ctx, "other@example.com", "Other")
	if err != nil {
		t.Fatal(err)
	}
	b := Actor{UserID: other.ID, SessionID: uuid.New()}
	org, err := f.s.CreateOrganization(ctx, b, NewOrganization{Name: "Other", Slug: "other"})
	if err != nil {
		t.Fatal(err)
	}
	b.ActiveOrganizationID = &org.ID

	waiting, release := lockAuditLogs(t, f.s)
	a := WithShare(ctx, f.owner.UserID.String())
	errs := make(chan error, 20)
	for range 20 {
		go func() {
			_, _, err := f.s.ListAuditLogs(a, f.owner, AuditFilter{Query: strings.Repeat("q", 200)}, Page{Limit: 50})
			errs <- err
		}()
	}
	waitFor(t, "two searches stuck at the database", func() bool { return waiting() >= 2 })
	bctx, cancel := context.WithTimeout(WithShare(ctx, other.ID.String()), 15*time.Second)
	defer cancel()
	if _, _, err := f.s.ListMembers(bctx, b, Page{Limit: 10}); err != nil {
		t.Fatalf("another user's read while one user ran 20 searches: %v", err)
	}
	if n := waiting(); n != 2 {
		t.Fatalf("%d searches of one user at the database, want 2 (half of 4 turns)", n)
	}
	release()
	for range 20 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// Deleting an API key clears it from the audit rows through
// audit_logs_api_key_idx, not by walking the organization's log.
func TestClearAPIKeyActorUsesIndex(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			f := newAuditFixture(t, kind, Options{})
			f.fill(t, 5_000, time.Now(), plainTarget)
			key := uuid.New()
			if err := f.s.db.Exec("UPDATE audit_logs SET actor_api_key_id = ?, actor_type = 'api_key' WHERE id IN (SELECT id FROM audit_logs ORDER BY id LIMIT 3)", key.String()).Error; err != nil {
				t.Fatal(err)
			}
			if kind == testdb.Postgres {
				if err := f.s.db.Exec("ANALYZE audit_logs").Error; err != nil {
					t.Fatal(err)
				}
			}
			stmt := clearAPIKeyActor(f.s.db.Session(&gorm.Session{DryRun: true}), *f.owner.ActiveOrganizationID, key).Statement
			explain := "EXPLAIN QUERY PLAN "
			if kind == testdb.Postgres {
				explain = "EXPLAIN "
			}
			rows, err := f.s.sqlDB.Query(explain+stmt.SQL.String(), stmt.Vars...)
			plan := planLines(t, rows, err)
			if !strings.Contains(strings.Join(plan, "\n"), "audit_logs_api_key_idx") {
				t.Fatalf("clearing a key's audit rows does not use audit_logs_api_key_idx:\n%s", strings.Join(plan, "\n"))
			}
			if err := clearAPIKeyActor(f.s.db, *f.owner.ActiveOrganizationID, key).Error; err != nil {
				t.Fatal(err)
			}
			var left int64
			if err := f.s.db.Model(&AuditLog{}).Where("actor_api_key_id IS NOT NULL").Count(&left).Error; err != nil || left != 0 {
				t.Fatalf("%d rows keep the key: %v", left, err)
			}
		})
	}
}

// BenchmarkClearAPIKeyActor: the statement DeleteAPIKey runs under the
// write lock, on an organization with 200,000 audit rows.
func BenchmarkClearAPIKeyActor(b *testing.B) {
	for _, kind := range testdb.Kinds {
		b.Run(string(kind), func(b *testing.B) {
			f := newAuditFixture(b, kind, Options{})
			f.fill(b, 200_000, time.Now(), plainTarget)
			org := *f.owner.ActiveOrganizationID
			b.ResetTimer()
			for b.Loop() {
				if err := clearAPIKeyActor(f.s.db, org, uuid.New()).Error; err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
