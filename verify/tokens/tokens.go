// Package tokens holds the verify flow's secrets and derived values
// (behaviour-verify.md §4): every one an HMAC-SHA256 keyed with the
// server's auth secret over UTF-8 text, hex in lowercase. The handoff
// token itself is random, not derived: only its hash is stored, so no
// seed is kept from which it could be rebuilt (upstream stores its seed
// in plaintext).
package tokens

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// HandoffTokenBytes is the handoff token's entropy; its text is twice as
// many lowercase hex digits (64, upstream's length).
const HandoffTokenBytes = 32

// ChallengeBytes is the size of an App Attest challenge.
const ChallengeBytes = 32

func mac(secret []byte, parts ...string) []byte {
	m := hmac.New(sha256.New, secret)
	for _, p := range parts {
		m.Write([]byte(p))
	}
	return m.Sum(nil)
}

func hexMAC(secret []byte, parts ...string) string { return hex.EncodeToString(mac(secret, parts...)) }

// NewHandoffToken is a fresh mobile write token: 32 random bytes as 64
// lowercase hex digits.
func NewHandoffToken() (string, error) {
	b := make([]byte, HandoffTokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// HandoffTokenHash is how a mobile write token is stored and looked up:
// hex HMAC(token).
func HandoffTokenHash(secret []byte, token string) string { return hexMAC(secret, token) }

// CancelTokenHash is how a session's cancel token is stored: hex
// HMAC("verify_cancel_token_v1|" + token).
func CancelTokenHash(secret []byte, token string) string {
	return hexMAC(secret, "verify_cancel_token_v1|", token)
}

// DeviceHash binds a session to the first device that said hello: hex
// HMAC(device id, trimmed).
func DeviceHash(secret []byte, deviceID string) string {
	return hexMAC(secret, strings.TrimSpace(deviceID))
}

// HelloChallenge is the App Attest challenge of a session's hello
// assertions: HMAC("attest:hello:" + session id), 32 bytes.
func HelloChallenge(secret []byte, sessionID string) []byte {
	return mac(secret, "attest:hello:", sessionID)
}

// NFCChallenge is the App Attest challenge of a session's nfc_complete
// assertion: HMAC("attest:nfc:" + session id), 32 bytes.
func NFCChallenge(secret []byte, sessionID string) []byte {
	return mac(secret, "attest:nfc:", sessionID)
}

// AttestChallengeHash is how a registration challenge is kept until it is
// used: hex HMAC("attest:register_challenge:" + challenge text).
func AttestChallengeHash(secret []byte, challenge string) string {
	return hexMAC(secret, "attest:register_challenge:", challenge)
}

// NewAttestChallenge is a registration challenge: 32 random bytes,
// base64url without padding (43 characters).
func NewAttestChallenge() (string, error) {
	b := make([]byte, ChallengeBytes)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return Base64URL(b), nil
}

// Base64URL is base64url without padding, the challenges' text form.
func Base64URL(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// Equal compares two token texts (hashes) in constant time.
func Equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
