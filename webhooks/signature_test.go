package webhooks

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// The notes' vector, re-run against upstream's code.
func TestSignVector(t *testing.T) {
	got := Sign("whsec_test_secret", 1742404800, []byte("encrypted-payload"))
	want := "t=1742404800,v1=4e4a7ec092b53b027f0b504e4f1c0383af4dc960d2a869d9961d50586f46105b"
	if got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

func TestVerify(t *testing.T) {
	const secret = "whsec_test_secret"
	body := []byte("encrypted-payload")
	now := time.Unix(1742404800, 0)
	good := Sign(secret, now.Unix(), body)
	cases := []struct {
		name   string
		header string
		body   []byte
		secret string
		now    time.Time
		want   error
	}{
		{"good", good, body, secret, now, nil},
		{"300 s late still good", good, body, secret, now.Add(300 * time.Second), nil},
		{"300 s early still good", good, body, secret, now.Add(-300 * time.Second), nil},
		{"301 s late", good, body, secret, now.Add(301 * time.Second), ErrSignatureStale},
		{"301 s early", good, body, secret, now.Add(-301 * time.Second), ErrSignatureStale},
		{"members swapped", strings.Join([]string{strings.Split(good, ",")[1], strings.Split(good, ",")[0]}, ","), body, secret, now, nil},
		{"other body", good, []byte("encrypted-payload!"), secret, now, ErrSignatureMismatch},
		{"other secret", good, body, "whsec_other", now, ErrSignatureMismatch},
		{"secret without prefix", good, body, "test_secret", now, ErrSignatureMismatch},
		{"v1 flipped", good[:len(good)-1] + "c", body, secret, now, ErrSignatureMismatch},
		{"v1 not hex", "t=1742404800,v1=zz", body, secret, now, ErrSignatureMismatch},
		{"no v1", "t=1742404800", body, secret, now, ErrSignatureMalformed},
		{"no t", "v1=" + strings.Split(good, "v1=")[1], body, secret, now, ErrSignatureMalformed},
		{"t not a number", "t=abc," + strings.Split(good, ",")[1], body, secret, now, ErrSignatureMalformed},
		{"empty", "", body, secret, now, ErrSignatureMalformed},
		{"t at the far past", "t=-9223372036854775808," + strings.Split(Sign(secret, -9223372036854775808, body), ",")[1], body, secret, now, ErrSignatureStale},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Verify(c.header, c.body, c.secret, c.now, DefaultTolerance)
			if !errors.Is(err, c.want) || (c.want == nil && err != nil) {
				t.Fatalf("Verify = %v, want %v", err, c.want)
			}
		})
	}
}
