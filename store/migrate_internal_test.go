package store

import (
	"context"
	"fmt"
	"io/fs"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/kayle-id/orgs-api/internal/testdb"
)

// withMigrations makes Migrate apply the real migrations plus extra ones
// while the test runs.
func withMigrations(t *testing.T, extra map[string]string) int {
	t.Helper()
	files := fstest.MapFS{}
	n := 0
	for _, d := range []Dialect{Postgres, SQLite} {
		dir := "migrations/" + string(d)
		entries, err := fs.ReadDir(migrations, dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			b, err := fs.ReadFile(migrations, dir+"/"+e.Name())
			if err != nil {
				t.Fatal(err)
			}
			files[dir+"/"+e.Name()] = &fstest.MapFile{Data: b}
		}
		for name, sql := range extra {
			files[dir+"/"+name] = &fstest.MapFile{Data: []byte(sql)}
		}
		n = len(entries) + len(extra)
	}
	old := migrationFiles
	migrationFiles = files
	t.Cleanup(func() { migrationFiles = old })
	return n
}

// Processes migrating one database at once (each Store here has its own
// pool, so its own PostgreSQL sessions, as separate processes would), from
// a fresh database and from every older schema version: all succeed, and
// each migration is applied exactly once, by one of them.
func TestConcurrentMigrations(t *testing.T) {
	// Slow steps widen the window in which migrators overlap; the table
	// each creates fails a second application.
	total := withMigrations(t, map[string]string{
		"90001_probe_a.sql": "-- +goose Up\nCREATE TABLE probe_a (id int);\nSELECT pg_sleep(0.05);\n",
		"90002_probe_b.sql": "-- +goose Up\nCREATE TABLE probe_b (id int);\nSELECT pg_sleep(0.05);\n",
		"90003_probe_c.sql": "-- +goose Up\nCREATE TABLE probe_c (id int);\n",
	})
	const migrators = 6
	for from := 0; from < total; from++ {
		t.Run(fmt.Sprintf("from %d of %d applied", from, total), func(t *testing.T) {
			ctx := context.Background()
			url := testdb.URL(t, testdb.Postgres)
			if from > 0 {
				s, err := Open(ctx, url, Options{})
				if err != nil {
					t.Fatal(err)
				}
				p, err := s.migrationProvider(false)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := p.UpTo(ctx, p.ListSources()[from-1].Version); err != nil {
					t.Fatal(err)
				}
				s.Close()
			}
			var (
				wg      sync.WaitGroup
				mu      sync.Mutex
				applied = map[int64]int{}
				queue   int
				start   = make(chan struct{})
			)
			for i := 0; i < migrators; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					s, err := Open(ctx, url, Options{})
					if err != nil {
						t.Error(err)
						return
					}
					defer s.Close()
					<-start
					done, err := s.Migrate(ctx)
					if err != nil {
						t.Errorf("migrate: %v", err)
					}
					mu.Lock()
					for _, m := range done {
						if m.Version == 0 { // the job queue's own migrations
							queue++
							continue
						}
						applied[m.Version]++
					}
					mu.Unlock()
				}()
			}
			close(start)
			wg.Wait()
			if queue != 1 {
				t.Errorf("the job queue's migrations ran %d times, want once", queue)
			}
			if len(applied) != total-from {
				t.Errorf("%d migrations applied, want %d: %v", len(applied), total-from, applied)
			}
			for v, n := range applied {
				if n != 1 {
					t.Errorf("migration %d applied %d times", v, n)
				}
			}
			s, err := Open(ctx, url, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var rows, versions int
			if err := s.DB().QueryRow(`SELECT COUNT(*), COUNT(DISTINCT version_id) FROM goose_db_version WHERE version_id > 0`).Scan(&rows, &versions); err != nil {
				t.Fatal(err)
			}
			if rows != total || versions != total {
				t.Errorf("goose_db_version has %d rows for %d versions, want %d", rows, versions, total)
			}
			if n, err := s.MigrationsPending(ctx); err != nil || n != 0 {
				t.Errorf("pending after migrating: %d %v", n, err)
			}
		})
	}
}
