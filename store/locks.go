package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pressly/goose/v3/lock"
)

// ErrLockHeld is TryLock's answer when another process (or, on SQLite,
// another goroutine of this one) holds the lock.
var ErrLockHeld = errors.New("store: lock held elsewhere")

// lockKey is the PostgreSQL advisory lock key of a named lock. Keys are
// hashed from names under this server's own prefix, so they do not collide
// with another application's locks on a shared database.
func lockKey(name string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("kayle-id:" + name))
	return int64(h.Sum64())
}

// migrationLockWait bounds how long a process waits for another one's
// migrations before giving up.
const migrationLockWait = 10 * time.Minute

// migrationLocker serializes migrations across processes with a
// session-level advisory lock (goose holds it on one connection around each
// step). goose's own PostgreSQL locker polls every five seconds; this one
// waits inside PostgreSQL, which wakes it the moment the holder lets go, so
// replicas started together do not sit out polling intervals.
type migrationLocker struct{}

var _ lock.SessionLocker = migrationLocker{}

func (migrationLocker) SessionLock(ctx context.Context, conn *sql.Conn) error {
	ctx, cancel := context.WithTimeout(ctx, migrationLockWait)
	defer cancel()
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", lockKey("migrations")); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("waiting for another process's migrations: %w", ctx.Err())
		}
		return fmt.Errorf("taking the migration lock: %w", err)
	}
	return nil
}

func (migrationLocker) SessionUnlock(ctx context.Context, conn *sql.Conn) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var released bool
	err := conn.QueryRowContext(ctx, "SELECT pg_advisory_unlock($1)", lockKey("migrations")).Scan(&released)
	if err == nil && released {
		return nil
	}
	// The lock must not go back to the pool on a live connection: drop the
	// connection, which ends its session and every lock it holds.
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	if err == nil {
		err = errors.New("the migration lock was not held")
	}
	return fmt.Errorf("releasing the migration lock: %w", err)
}

// TryLock takes the named lock without waiting: ErrLockHeld when someone
// else has it. release gives it back. Background jobs use it so that one
// replica at a time runs each of them.
//
// On PostgreSQL it is a session-level advisory lock on a connection of its
// own, outside the pool (so it neither takes a request's connection nor
// outlives a crash: closing the session releases it). If that connection
// dies mid-run the lock is gone, so work done under it must still be safe
// to run twice at once; the lock saves the duplicate effort. On SQLite,
// served by one process, it is a lock within this Store.
func (s *Store) TryLock(ctx context.Context, name string) (release func(), err error) {
	if s.dialect != Postgres {
		v, _ := s.localLocks.LoadOrStore(name, &sync.Mutex{})
		mu := v.(*sync.Mutex)
		if !mu.TryLock() {
			return nil, ErrLockHeld
		}
		return mu.Unlock, nil
	}
	conn, err := pgx.Connect(ctx, s.url)
	if err != nil {
		return nil, classify(err)
	}
	closeConn := func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}
	var locked bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", lockKey(name)).Scan(&locked); err != nil {
		closeConn()
		return nil, classify(err)
	}
	if !locked {
		closeConn()
		return nil, ErrLockHeld
	}
	return closeConn, nil
}
