package store_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/kayle-id/orgs-api/internal/testdb"
	"github.com/kayle-id/orgs-api/store"
)

// 00012's Down undoes its Up, and Up applies again after it, on both
// databases.
func TestVerifyMigrationDownUp(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			st := migrated(t, kind, store.Options{MaxOpenConns: 16})
			dir := "sqlite"
			if kind != "sqlite" {
				dir = "postgres"
			}
			raw, err := os.ReadFile("migrations/" + dir + "/00012_verify.sql")
			if err != nil {
				t.Fatal(err)
			}
			up, down, ok := strings.Cut(strings.TrimPrefix(string(raw), "-- +goose Up"), "-- +goose Down")
			if !ok {
				t.Fatal("no Down section")
			}
			run := func(sql string) {
				t.Helper()
				for _, stmt := range strings.Split(sql, ";") {
					if body := strings.TrimSpace(stripComments(stmt)); body != "" {
						if _, err := st.DB().Exec(body); err != nil {
							t.Fatalf("%s: %v", body, err)
						}
					}
				}
			}
			run(down)
			if _, err := st.DB().Exec("SELECT 1 FROM verification_consents"); err == nil {
				t.Fatal("Down left verification_consents")
			}
			if _, err := st.DB().Exec("SELECT mobile_write_token_hash FROM verification_sessions"); err == nil {
				t.Fatal("Down left the token column")
			}
			run(up)
			if _, err := st.DB().Exec("SELECT claimed_at, mobile_write_token_hash FROM verification_sessions"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func stripComments(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "--") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// A registration challenge is spent once, whoever presents it at the same
// moment.
func TestAttestChallengeOnce(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := migrated(t, kind, store.Options{MaxOpenConns: 16})
			ch, _, err := st.NewAttestChallenge(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			var mu sync.Mutex
			won, lost := 0, 0
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					err := st.ConsumeAttestChallenge(ctx, ch)
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						won++
					case errors.Is(err, store.ErrAttestChallengeInvalid):
						lost++
					default:
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			if won != 1 || lost != 7 {
				t.Fatalf("%d won, %d lost", won, lost)
			}
			if err := st.ConsumeAttestChallenge(ctx, "never-issued"); !errors.Is(err, store.ErrAttestChallengeInvalid) {
				t.Fatalf("unknown challenge: %v", err)
			}
		})
	}
}

// An assertion counter moves by compare-and-set: of racing assertions
// read at the same counter, one is stored; a regression never is.
func TestAttestCounterCAS(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			st := migrated(t, kind, store.Options{MaxOpenConns: 16})
			if _, err := st.RegisterAttestKey(ctx, store.AttestKey{KeyID: "key", PublicKeyCOSE: "cose"}); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			var mu sync.Mutex
			won := 0
			for i := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := st.AdvanceAttestCounter(ctx, "key", 0, int64(i+1)); err == nil {
						mu.Lock()
						won++
						mu.Unlock()
					} else if !errors.Is(err, store.ErrAttestCounterRace) {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			k, err := st.AttestKeyByID(ctx, "key")
			if err != nil || won != 1 || k.Counter < 1 || k.LastUsedAt == nil {
				t.Fatalf("%d won; key %+v %v", won, k, err)
			}
			if err := st.AdvanceAttestCounter(ctx, "key", k.Counter, k.Counter); !errors.Is(err, store.ErrAttestCounterRace) {
				t.Fatalf("an unchanged counter was accepted: %v", err)
			}
			// Registering again resets it.
			if _, err := st.RegisterAttestKey(ctx, store.AttestKey{KeyID: "key", PublicKeyCOSE: "cose2"}); err != nil {
				t.Fatal(err)
			}
			if k, _ := st.AttestKeyByID(ctx, "key"); k.Counter != 0 || k.PublicKeyCOSE != "cose2" {
				t.Fatalf("re-registered: %+v", k)
			}
			if _, err := st.AttestKeyByID(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("unknown key: %v", err)
			}
		})
	}
}
