// Package keyed bounds, per key, how much work runs at once: one caller's
// share of a pool that everyone draws from (database turns, logo decoders,
// requests in flight), so that no caller can take it whole.
package keyed

import (
	"context"
	"sync"
)

// Limiter lets at most n pieces of work of one key run at once. A key's
// state exists only while some work of it holds or waits for a place, so
// memory is bounded by the work in flight, not by the keys ever seen.
type Limiter struct {
	n  int
	mu sync.Mutex
	m  map[string]*entry
}

type entry struct {
	places chan struct{} // cap n; a full channel makes the next wait in arrival order
	refs   int           // work holding or waiting for a place
}

// New is a Limiter of n places per key (at least one).
func New(n int) *Limiter {
	return &Limiter{n: max(n, 1), m: map[string]*entry{}}
}

// ref counts one more piece of key's work.
func (l *Limiter) ref(key string) *entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.m[key]
	if e == nil {
		e = &entry{places: make(chan struct{}, l.n)}
		l.m[key] = e
	}
	e.refs++
	return e
}

// unref forgets one piece of key's work, and the key with its last; mu held.
func (l *Limiter) unref(key string, e *entry) {
	if e.refs--; e.refs == 0 {
		delete(l.m, key)
	}
}

// Acquire waits, in arrival order and until ctx ends, for one of key's
// places; Release gives it back.
func (l *Limiter) Acquire(ctx context.Context, key string) error {
	e := l.ref(key)
	select {
	case e.places <- struct{}{}:
		return nil
	case <-ctx.Done():
		l.mu.Lock()
		l.unref(key, e)
		l.mu.Unlock()
		return ctx.Err()
	}
}

// TryAcquire takes one of key's places if one is free now; Release gives
// it back.
func (l *Limiter) TryAcquire(key string) bool {
	e := l.ref(key)
	select {
	case e.places <- struct{}{}:
		return true
	default:
		l.mu.Lock()
		l.unref(key, e)
		l.mu.Unlock()
		return false
	}
}

// Release gives back a place Acquire or TryAcquire took for key.
func (l *Limiter) Release(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.m[key]
	<-e.places // never blocks: the caller holds a place
	l.unref(key, e)
}

// Refs is how many pieces of key's work hold or wait for a place now.
func (l *Limiter) Refs(key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.m[key]; e != nil {
		return e.refs
	}
	return 0
}

// Len is how many keys have work holding or waiting for a place now.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}
