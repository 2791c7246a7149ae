package webhooks

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestIDs(t *testing.T) {
	cases := []struct {
		prefix string
		n      int
	}{{EndpointIDPrefix, 32}, {KeyIDPrefix, 32}, {DeliveryIDPrefix, 64}, {AttemptIDPrefix, 64}, {EventIDPrefix, 64}}
	for _, c := range cases {
		re := regexp.MustCompile(fmt.Sprintf("^%s[a-z0-9]{%d}$", c.prefix, c.n))
		seen := map[string]bool{}
		for range 50 {
			id, err := NewID(c.prefix, c.n)
			if err != nil {
				t.Fatal(err)
			}
			if !re.MatchString(id) || seen[id] {
				t.Fatalf("NewID(%q, %d) = %q (repeated: %v)", c.prefix, c.n, id, seen[id])
			}
			seen[id] = true
		}
	}
	s, err := NewSigningSecret()
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^whsec_[a-z0-9]{32}$`).MatchString(s) {
		t.Fatalf("NewSigningSecret = %q", s)
	}
}

// Rejection sampling: bytes 252..255 are skipped, not folded onto a..d.
func TestRandomStringRejects(t *testing.T) {
	in := append(bytes.Repeat([]byte{255, 252}, 8), 0, 35, 36, 251)
	got, err := randomString(bytes.NewReader(append(in, make([]byte, 64)...)), 4)
	if err != nil {
		t.Fatal(err)
	}
	// 0 -> a, 35 -> 9, 36 -> a, 251 -> 251%36 = 35 -> 9.
	if got != "a9a9" {
		t.Fatalf("randomString = %q, want a9a9", got)
	}
	// Only 252..255 on offer: the reader runs dry instead of biasing.
	if _, err := randomString(bytes.NewReader(bytes.Repeat([]byte{253}, 32)), 1); err == nil {
		t.Fatal("randomString made a character from rejected bytes only")
	}
}

func TestScheduleTotals(t *testing.T) {
	var sum time.Duration
	for _, d := range Schedule {
		sum += d
	}
	if len(Schedule) != 8 || sum != ScheduleTotal || ScheduleTotal.String() != "27h35m5s" {
		t.Fatalf("schedule %v sums to %v (want 8 attempts, %v)", Schedule, sum, ScheduleTotal)
	}
	if strings.Join(EventTypes, ",") != "verification.session.succeeded,verification.session.failed,verification.session.expired,verification.session.cancelled" {
		t.Fatalf("EventTypes = %v", EventTypes)
	}
	for _, h := range []int{0, 24, 72, 168} {
		if !IsRetentionHours(h) {
			t.Errorf("retention %d refused", h)
		}
	}
	for _, h := range []int{-1, 1, 48, 73, 169} {
		if IsRetentionHours(h) {
			t.Errorf("retention %d accepted", h)
		}
	}
	if !IsEventType(EventCancelled) || IsEventType("verification.attempt.succeeded") {
		t.Error("IsEventType")
	}
}
