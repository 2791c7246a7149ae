package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"
)

// Serialization failures and deadlocks are retried a bounded number of
// times; other errors are returned at once.
func TestTxRetries(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "r.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, code := range []string{"40001", "40P01"} {
		calls := 0
		err := s.tx(ctx, func(*gorm.DB) error {
			calls++
			if calls < 3 {
				return &pgconn.PgError{Code: code}
			}
			return nil
		})
		if err != nil || calls != 3 {
			t.Errorf("%s: err %v after %d calls, want success on the 3rd", code, err, calls)
		}
		calls = 0
		err = s.tx(ctx, func(*gorm.DB) error { calls++; return &pgconn.PgError{Code: code} })
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || calls != maxTxAttempts {
			t.Errorf("%s: %v after %d calls, want the error after %d", code, err, calls, maxTxAttempts)
		}
	}
	calls := 0
	err = s.tx(ctx, func(*gorm.DB) error { calls++; return ErrLastOwner })
	if !errors.Is(err, ErrLastOwner) || calls != 1 {
		t.Errorf("rule errors must not be retried: %v after %d calls", err, calls)
	}
}
