package store

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"
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
			s.exit()
		}()
		time.Sleep(30 * time.Millisecond) // let waiter i queue before i+1 arrives
	}
	s.exit()
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
	defer s.exit()
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := s.enter(short); err == nil {
		t.Fatal("entered a full gate")
	}
}
