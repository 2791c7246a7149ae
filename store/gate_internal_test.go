package store

import (
	"context"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"
)

// Work waiting for the database is admitted in the order it arrived
// (database/sql alone hands a freed connection to a random waiter).
func TestGateIsFirstComeFirstServed(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "g.db"), Options{MaxOpenConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.enter(ctx); err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		order []int
		wg    sync.WaitGroup
	)
	const waiters = 8
	for i := range waiters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.enter(ctx); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
			s.exit(ctx)
		}()
		time.Sleep(30 * time.Millisecond) // let waiter i queue before i+1 arrives
	}
	s.exit(ctx)
	wg.Wait()
	for i, w := range order {
		if w != i {
			t.Fatalf("admitted in order %v, want arrival order", order)
		}
	}
	if len(order) != waiters {
		t.Fatalf("%d of %d waiters admitted", len(order), waiters)
	}

	// A waiter whose request ends stops waiting.
	if err := s.enter(ctx); err != nil {
		t.Fatal(err)
	}
	defer s.exit(ctx)
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := s.enter(short); err == nil {
		t.Fatal("entered a full gate")
	}
}

// waitFor polls cond until it holds, failing the test after a generous
// deadline (a hang, not a speed, is what it catches).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// One key's work holds at most half the turns (2 of 4); the rest wait for
// their key's slot, in arrival order, or until their context ends, and
// other callers still get turns. No entry outlives its key's work.
func TestShareCapsTurns(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "share.db"), Options{MaxOpenConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	refs := s.shares.Refs
	a := WithShare(ctx, "user-a")
	hold := make(chan struct{})
	var admitted atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if err := s.enter(a); err != nil {
				t.Error(err)
				return
			}
			admitted.Add(1)
			<-hold
			s.exit(a)
		})
	}
	waitFor(t, "20 turns of user-a held or waited for", func() bool { return refs("user-a") == 20 })
	waitFor(t, "user-a's share admitted", func() bool { return admitted.Load() >= 2 })

	short, cancel := context.WithTimeout(a, 20*time.Millisecond)
	defer cancel()
	if err := s.enter(short); err == nil {
		t.Fatal("user-a entered past its share")
	}
	if n := refs("user-a"); n != 20 {
		t.Fatalf("a waiter that gave up is still counted: %d", n)
	}

	for _, other := range []context.Context{WithShare(ctx, "user-b"), ctx} {
		bounded, cancel := context.WithTimeout(other, 15*time.Second)
		err := s.read(bounded, func(db *gorm.DB) error { return db.Exec("SELECT 1").Error })
		cancel()
		if err != nil {
			t.Fatalf("another caller got no turn while user-a ran 20: %v", err)
		}
	}
	if n := admitted.Load(); n != 2 {
		t.Fatalf("user-a holds %d turns of 4, want 2", n)
	}
	close(hold)
	wg.Wait()
	if admitted.Load() != 20 || len(s.gate) != 0 {
		t.Fatalf("admitted %d, gate %d", admitted.Load(), len(s.gate))
	}
	if left := s.shares.Len(); left != 0 {
		t.Fatalf("%d share entries left after all work ended", left)
	}
}
