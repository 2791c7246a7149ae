package webhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader carries the signature of a delivery.
const SignatureHeader = "X-Kayle-Signature"

// DefaultTolerance is how far a receiver lets t be from its clock
// (upstream's documented 300 s).
const DefaultTolerance = 300 * time.Second

// Sign is the X-Kayle-Signature value for body sent at unix time t:
// "t=<t>,v1=<hex>", the HMAC-SHA256 keyed with the UTF-8 bytes of the whole
// secret (the "whsec_" prefix included, no decoding) over "<t>.<body>".
// The sender takes t immediately before each attempt.
func Sign(secret string, t int64, body []byte) string {
	ts := strconv.FormatInt(t, 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Errors of Verify.
var (
	ErrSignatureMalformed = errors.New("webhooks: signature header malformed")
	ErrSignatureMismatch  = errors.New("webhooks: signature does not match")
	ErrSignatureStale     = errors.New("webhooks: signature timestamp outside tolerance")
)

// Verify checks a received X-Kayle-Signature header the way upstream's
// documentation tells receivers to: split on ",", take "t=" and "v1=",
// recompute over the raw body, compare in constant time, and refuse
// |now - t| > tolerance.
func Verify(header string, body []byte, secret string, now time.Time, tolerance time.Duration) error {
	var ts, v1 string
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			v1 = v
		}
	}
	if ts == "" || v1 == "" {
		return ErrSignatureMalformed
	}
	t, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return ErrSignatureMalformed
	}
	got, err := hex.DecodeString(v1)
	if err != nil {
		return ErrSignatureMismatch
	}
	if !hmac.Equal(got, mac(secret, ts, body)) {
		return ErrSignatureMismatch
	}
	// Bounds around now rather than a difference, which a hostile t
	// could overflow.
	n, tol := now.Unix(), int64(tolerance/time.Second)
	if t < n-tol || t > n+tol {
		return ErrSignatureStale
	}
	return nil
}
