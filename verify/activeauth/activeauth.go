// Package activeauth verifies a chip's active authentication (ICAO 9303-11
// §6.1): the chip signs a challenge the server chose with the private key
// whose public half is in DG15, so a passing check shows that the chip that
// answered holds that key, which a copy of the data groups alone does not.
//
// RSA keys sign with ISO/IEC 9796-2 digital signature scheme 1 (partial
// message recovery); EC keys sign with ECDSA in the plain format of BSI
// TR-03111 §5.2.1, over curves from verify/ecc (NIST, brainpool, explicit).
//
// It proves nothing if the challenge can be replayed: Challenge derives it
// from the session id as the reference does (the same for every try of a
// session), so a signature from an earlier try of the same session passes
// again. It does not check that DG15 is the one the SOD signs: that is
// passive authentication's job and must pass first.
package activeauth

import (
	"crypto"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/asn1"
	"errors"
	"fmt"

	"github.com/kayle-id/orgs-api/verify/ecc"
)

// ChallengeLen is the length of the challenge the chip signs (ICAO 9303-11
// §6.1: an 8-byte random RND.IFD; here derived, see Challenge).
const ChallengeLen = 8

var (
	// ErrChallengeMismatch: the challenge the phone says the chip signed is
	// not the one the server issued.
	ErrChallengeMismatch = errors.New("activeauth: challenge mismatch")
	// ErrSignature: the signature does not verify (or is malformed).
	ErrSignature = errors.New("activeauth: signature does not verify")
	// ErrUnsupportedHash: a hash this package does not implement.
	ErrUnsupportedHash = errors.New("activeauth: unsupported hash algorithm")
)

// Challenge is the AA challenge for a session, as the reference derives it
// (behaviour notes §4): the first 8 bytes of HMAC-SHA256 keyed with
// AUTH_SECRET over "aa:<session id>".
func Challenge(authSecret []byte, sessionID string) []byte {
	m := hmac.New(sha256.New, authSecret)
	m.Write([]byte("aa:" + sessionID))
	return m.Sum(nil)[:ChallengeLen]
}

// CheckChallenge compares the challenge the phone uploaded with the one the
// server issued, in constant time.
func CheckChallenge(issued, uploaded []byte) error {
	if len(issued) != ChallengeLen || subtle.ConstantTimeCompare(issued, uploaded) != 1 {
		return ErrChallengeMismatch
	}
	return nil
}

// ECDSA plain signature algorithms (BSI TR-03111 §5.2.1, ecdsa-plain-
// signatures 0.4.0.127.0.7.1.1.4.1), as DG14's ActiveAuthenticationInfo
// names them.
var (
	OIDECDSAPlainSHA1   = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 1, 1, 4, 1, 1}
	OIDECDSAPlainSHA224 = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 1, 1, 4, 1, 2}
	OIDECDSAPlainSHA256 = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 1, 1, 4, 1, 3}
	OIDECDSAPlainSHA384 = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 1, 1, 4, 1, 4}
	OIDECDSAPlainSHA512 = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 1, 1, 4, 1, 5}
)

// HashForSignatureAlgorithm maps an ActiveAuthenticationInfo
// signatureAlgorithm to its hash.
func HashForSignatureAlgorithm(oid asn1.ObjectIdentifier) (crypto.Hash, error) {
	switch {
	case oid.Equal(OIDECDSAPlainSHA1):
		return crypto.SHA1, nil
	case oid.Equal(OIDECDSAPlainSHA224):
		return crypto.SHA224, nil
	case oid.Equal(OIDECDSAPlainSHA256):
		return crypto.SHA256, nil
	case oid.Equal(OIDECDSAPlainSHA384):
		return crypto.SHA384, nil
	case oid.Equal(OIDECDSAPlainSHA512):
		return crypto.SHA512, nil
	}
	return 0, fmt.Errorf("%w: %v", ErrUnsupportedHash, oid)
}

// ecdsaFallbackOrder is the reference's order of hashes to try when DG14
// names none (behaviour notes §6.4 step 4).
var ecdsaFallbackOrder = []crypto.Hash{crypto.SHA256, crypto.SHA1, crypto.SHA512, crypto.SHA384, crypto.SHA224}

// VerifyECDSA checks a plain r ‖ s signature over the challenge. hash is
// DG14's algorithm (HashForSignatureAlgorithm); 0 when DG14 names none, and
// then each hash of the reference's list is tried, which is sound because
// a signature valid under one hash is no forgery under another.
func VerifyECDSA(pub *ecc.PublicKey, challenge, sig []byte, hash crypto.Hash) error {
	if len(sig) != 2*pub.Curve.OrderLen() {
		return ErrSignature
	}
	hashes := []crypto.Hash{hash}
	if hash == 0 {
		hashes = ecdsaFallbackOrder
	}
	for _, h := range hashes {
		if !h.Available() {
			return ErrUnsupportedHash
		}
		d := h.New()
		d.Write(challenge)
		if ecc.VerifyPlain(pub, d.Sum(nil), sig) == nil {
			return nil
		}
	}
	return ErrSignature
}
