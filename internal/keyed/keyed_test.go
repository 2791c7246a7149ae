package keyed

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
)

// A Limiter holds each key to its number under concurrency, and forgets a
// key once its last piece of work ends: its memory is bounded by the work
// in flight.
func TestLimiterBounded(t *testing.T) {
	g := New(3)
	var wg sync.WaitGroup
	var mu sync.Mutex
	peak := map[string]int{}
	cur := map[string]int{}
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				key := fmt.Sprintf("k%d", (w+i)%5)
				if !g.TryAcquire(key) {
					continue
				}
				mu.Lock()
				cur[key]++
				peak[key] = max(peak[key], cur[key])
				mu.Unlock()
				runtime.Gosched()
				mu.Lock()
				cur[key]--
				mu.Unlock()
				g.Release(key)
			}
		}()
	}
	wg.Wait()
	for k, p := range peak {
		if p > 3 {
			t.Errorf("%s had %d in flight, cap 3", k, p)
		}
	}
	if n := g.Len(); n != 0 {
		t.Fatalf("%d keys kept with nothing in flight", n)
	}
	a, b, c := g.TryAcquire("x"), g.TryAcquire("x"), g.TryAcquire("x")
	if !a || !b || !c || g.TryAcquire("x") {
		t.Fatal("the cap of 3 is not held")
	}
}

// Acquire waits for a place of its key only, gives up when its context
// ends (and is no longer counted), and is let in once a place is released.
func TestAcquireWaits(t *testing.T) {
	g := New(1)
	ctx := context.Background()
	if err := g.Acquire(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := g.Acquire(ctx, "b"); err != nil {
		t.Fatalf("another key waited: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := g.Acquire(short, "a"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a second place of a full key: %v", err)
	}
	if n := g.Refs("a"); n != 1 {
		t.Fatalf("a waiter that gave up is still counted: %d", n)
	}
	done := make(chan error, 1)
	go func() { done <- g.Acquire(ctx, "a") }()
	for g.Refs("a") != 2 {
		runtime.Gosched()
	}
	g.Release("a")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	g.Release("a")
	g.Release("b")
	if n := g.Len(); n != 0 {
		t.Fatalf("%d keys kept with nothing in flight", n)
	}
}
