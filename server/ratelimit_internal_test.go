package server

import (
	"fmt"
	"testing"
	"time"
)

// The limiter's own memory is bounded, however many keys clients make up:
// refilled buckets are forgotten, and while the table is full of buckets
// still refilling a new key is refused rather than added.
func TestLimiterMemoryBounded(t *testing.T) {
	l := newLimiter(10, 2) // a bucket refills in 0.2 s
	l.maxKeys = 100
	now := time.Now()
	for i := range 1000 {
		l.charge(fmt.Sprintf("k%d", i), now)
		if d := l.take(fmt.Sprintf("t%d", i), now); i >= 100 && d == 0 {
			t.Fatalf("new key %d admitted to a full table", i)
		}
	}
	if n := len(l.buckets); n > 100 {
		t.Fatalf("%d buckets, cap 100", n)
	}
	if d := l.check("newcomer", now); d == 0 {
		t.Fatal("a new key passed the check while the table was full")
	}
	// Once the buckets have refilled they are forgotten, and there is room.
	later := now.Add(time.Second)
	if d := l.check("newcomer", later); d != 0 {
		t.Fatalf("after the buckets refilled a new key still waits %s", d)
	}
	if n := len(l.buckets); n != 0 {
		t.Fatalf("%d refilled buckets kept", n)
	}
	// An idle table is swept on its own too.
	l.take("a", later)
	l.take("a", later)
	l.take("b", later.Add(sweepEvery+time.Second))
	if _, ok := l.buckets["a"]; ok {
		t.Fatal("an idle, refilled bucket was kept past a sweep")
	}
}

// A debt is paid back at the limiter's rate.
func TestLimiterDebt(t *testing.T) {
	l := newLimiter(2, 2)
	now := time.Now()
	for range 12 {
		l.charge("k", now)
	}
	if d := l.check("k", now); d < 5*time.Second || d > 6*time.Second {
		t.Fatalf("12 charges against a burst of 2 at 2/s: wait %s, want 5.5s", d)
	}
	if d := l.check("k", now.Add(5600*time.Millisecond)); d != 0 {
		t.Fatalf("after the debt was paid: wait %s", d)
	}
}

func TestAddressKey(t *testing.T) {
	for _, c := range []struct{ a, b string }{
		{"2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff"},
		{"2001:db8:1:2::1", "2001:db8:1:2::1%eth0"},
		{"192.0.2.1", "::ffff:192.0.2.1"},
	} {
		if addressKey(c.a) != addressKey(c.b) {
			t.Errorf("%s and %s count apart: %s, %s", c.a, c.b, addressKey(c.a), addressKey(c.b))
		}
	}
	for _, c := range []struct{ a, b string }{
		{"2001:db8:1:2::1", "2001:db8:1:3::1"},
		{"192.0.2.1", "192.0.2.2"},
	} {
		if addressKey(c.a) == addressKey(c.b) {
			t.Errorf("%s and %s count together: %s", c.a, c.b, addressKey(c.a))
		}
	}
}
