package appattest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
)

// VerifyAssertion checks an assertion against a stored key and counter; it
// returns the assertion's counter, which the caller stores with a
// compare-and-set on storedCounter (a lost race is a replay).
func (c Config) VerifyAssertion(publicKeyCOSE []byte, storedCounter uint32, assertion []byte, clientDataHash [32]byte) (uint32, error) {
	if c.AppID == "" {
		return 0, fail(ErrConfig, "no app id")
	}
	if len(assertion) > MaxAssertionSize {
		return 0, fail(ErrTooLarge, "assertion of %d bytes", len(assertion))
	}
	pub, err := parseCOSEKey(publicKeyCOSE)
	if err != nil {
		return 0, err
	}
	var obj assertionObject
	if err := decMode.Unmarshal(assertion, &obj); err != nil {
		return 0, fail(ErrMalformed, "assertion object: %v", err)
	}
	// Flags are not checked: real devices set AT (0x40) in assertions that
	// carry no credential data (testdata's device does), and all of
	// authData is signed anyway. Only its length, rpIdHash and counter
	// are read.
	ad, err := parseAuthData(obj.AuthenticatorData)
	if err != nil {
		return 0, err
	}
	// Apple's steps 1–3 (step 1, clientDataHash, is the caller's): nonce = SHA-256(authenticatorData ‖ clientDataHash) is
	// the message, signed with ES256, so the ECDSA digest is SHA-256(nonce).
	// (Hashing once only fails every real device's assertion: see
	// TestRealDeviceAttestationAndAssertion.)
	nonce := sha256.Sum256(concat(obj.AuthenticatorData, clientDataHash[:]))
	digest := sha256.Sum256(nonce[:])
	if !ecdsa.VerifyASN1(pub, digest[:], obj.Signature) {
		return 0, ErrSignature
	}
	// Step 4: rpIdHash.
	want := c.rpIDHash()
	if !bytes.Equal(ad.rpIDHash, want[:]) {
		return 0, fail(ErrRPID, "assertion rpIdHash")
	}
	// Step 5: the counter moves forward. Step 6, the challenge, is in
	// clientDataHash, which the caller builds from its own challenge.
	if ad.counter <= storedCounter {
		return 0, fail(ErrCounter, "counter %d, stored %d", ad.counter, storedCounter)
	}
	return ad.counter, nil
}
