// Package mutex is a mutex that owns the value it guards, so the value can
// only be reached while the lock is held. It implements the API of
// zenhack.net/go/util/sync/mutex that capnproto.org/go/capnp/v3 calls (see
// ../../README.md for why this copy exists).
package mutex

import "sync"

// Mutex guards a value of type T. The zero value is an unlocked mutex
// guarding T's zero value. A Mutex must not be copied after first use.
type Mutex[T any] struct {
	mu  sync.Mutex
	val T
}

// New returns a mutex guarding v.
func New[T any](v T) Mutex[T] {
	return Mutex[T]{val: v}
}

// Locked is the proof that its Mutex is held; Value is valid until Unlock.
type Locked[T any] struct {
	m *Mutex[T]
}

// Lock acquires the mutex.
func (m *Mutex[T]) Lock() *Locked[T] {
	m.mu.Lock()
	return &Locked[T]{m: m}
}

// Value returns the guarded value; it must not be used after Unlock.
func (l *Locked[T]) Value() *T {
	return &l.m.val
}

// Unlock releases the mutex.
func (l *Locked[T]) Unlock() {
	m := l.m
	l.m = nil // a second Unlock panics on nil instead of unlocking someone else's hold
	m.mu.Unlock()
}

// With calls f with the guarded value while holding the lock.
func (m *Mutex[T]) With(f func(*T)) {
	l := m.Lock()
	defer l.Unlock()
	f(l.Value())
}

// With1 is With for an f returning one value.
func With1[T, A any](m *Mutex[T], f func(*T) A) A {
	l := m.Lock()
	defer l.Unlock()
	return f(l.Value())
}

// With2 is With for an f returning two values.
func With2[T, A, B any](m *Mutex[T], f func(*T) (A, B)) (A, B) {
	l := m.Lock()
	defer l.Unlock()
	return f(l.Value())
}

// With3 is With for an f returning three values.
func With3[T, A, B, C any](m *Mutex[T], f func(*T) (A, B, C)) (A, B, C) {
	l := m.Lock()
	defer l.Unlock()
	return f(l.Value())
}

// With4 is With for an f returning four values.
func With4[T, A, B, C, D any](m *Mutex[T], f func(*T) (A, B, C, D)) (A, B, C, D) {
	l := m.Lock()
	defer l.Unlock()
	return f(l.Value())
}
