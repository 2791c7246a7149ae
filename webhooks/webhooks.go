// Package webhooks holds the rules and the cryptography of webhook
// deliveries, with no database: ids and signing secrets, the URL rules,
// the public JWK checks, the payload bytes, the JWE, the signature and the
// signing secret's encryption at rest. The store, the handlers and the
// delivery worker call it; the egress package makes the connections.
//
// Everything here reproduces upstream's wire format byte for byte (see
// docs behaviour-webhooks.md), so a receiver written against upstream's
// documentation keeps working.
package webhooks

import (
	"crypto/rand"
	"fmt"
	"slices"
	"time"
)

// The four event types, in upstream's order.
const (
	EventSucceeded = "verification.session.succeeded"
	EventFailed    = "verification.session.failed"
	EventExpired   = "verification.session.expired"
	EventCancelled = "verification.session.cancelled"
)

// EventTypes lists the event types in upstream's order, which is also the
// default subscription of a new endpoint.
var EventTypes = []string{EventSucceeded, EventFailed, EventExpired, EventCancelled}

// IsEventType reports whether s names one of the four event types.
func IsEventType(s string) bool { return slices.Contains(EventTypes, s) }

// RetentionHours are the values undelivered_payload_retention_hours may
// take (the database CHECK has the same set); DefaultRetentionHours is a
// new endpoint's.
var RetentionHours = []int{0, 24, 72, 168}

// DefaultRetentionHours is the retention of an endpoint created without one.
const DefaultRetentionHours = 72

// IsRetentionHours reports whether h is an allowed retention.
func IsRetentionHours(h int) bool { return slices.Contains(RetentionHours, h) }

// Schedule is the delay before each of the 8 attempts of a delivery run,
// counted from the end of the previous attempt: upstream's workflow
// sleeps, adding up to 27 h 35 min 5 s.
var Schedule = []time.Duration{0, 5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour}

// ScheduleTotal is the sum of Schedule, the part of a payload's expiry
// that does not depend on the endpoint's retention.
const ScheduleTotal = 27*time.Hour + 35*time.Minute + 5*time.Second

// AttemptTimeout bounds one attempt, to the response headers (upstream's
// 15 000 ms abort signal).
const AttemptTimeout = 15 * time.Second

// Id prefixes and the length of their random part.
const (
	EndpointIDPrefix = "whe_"
	KeyIDPrefix      = "whk_"
	DeliveryIDPrefix = "whd_"
	AttemptIDPrefix  = "wha_"
	EventIDPrefix    = "evt_"
	SecretPrefix     = "whsec_"

	ShortIDChars = 32 // endpoints, keys, signing secrets
	LongIDChars  = 64 // deliveries, attempts, events
)

const idAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// NewID is prefix followed by n characters of [a-z0-9] from crypto/rand,
// e.g. NewID(EventIDPrefix, LongIDChars).
func NewID(prefix string, n int) (string, error) {
	s, err := randomString(rand.Reader, n)
	if err != nil {
		return "", err
	}
	return prefix + s, nil
}

// NewSigningSecret is a new endpoint signing secret: "whsec_" and 32
// characters of [a-z0-9] (about 165 bits).
func NewSigningSecret() (string, error) { return NewID(SecretPrefix, ShortIDChars) }

// randomString draws n characters of idAlphabet from r. Bytes from the
// largest multiple of 36 up are rejected, so that every character is
// equally likely.
func randomString(r interface{ Read([]byte) (int, error) }, n int) (string, error) {
	limit := 256 - 256%len(idAlphabet)
	out := make([]byte, 0, n)
	buf := make([]byte, max(n, 16))
	for len(out) < n {
		if _, err := r.Read(buf); err != nil {
			return "", fmt.Errorf("webhooks: randomness: %w", err)
		}
		for _, c := range buf {
			if int(c) < limit && len(out) < n {
				out = append(out, idAlphabet[int(c)%len(idAlphabet)])
			}
		}
	}
	return string(out), nil
}
