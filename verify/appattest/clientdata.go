package appattest

import (
	"crypto/sha256"
)

// The clientDataHash constructions are a wire contract with the iOS app
// (upstream attest-gate.ts): the app hashes the same parts in the same
// order. Strings are hashed as given; the caller passes the hello's fields
// already trimmed, as the hello parser does.

// HelloClientDataHash is SHA-256("attest:hello:" ‖ sessionID ‖ deviceID ‖
// appVersion ‖ challenge), challenge being the session's 32-byte hello
// challenge.
func HelloClientDataHash(sessionID, deviceID, appVersion string, challenge []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte("attest:hello:"))
	h.Write([]byte(sessionID))
	h.Write([]byte(deviceID))
	h.Write([]byte(appVersion))
	h.Write(challenge)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// NFCArtefacts are the chip artefacts the NFC assertion covers. A nil or
// empty field is an absent artefact and hashes as SHA-256 of nothing.
// AASignature is the active-authentication signature alone, without the
// 8-byte challenge the upload prefixes it with.
type NFCArtefacts struct {
	DG1, DG2, DG14, DG15, SOD, CATranscript, AASignature []byte
}

// NFCClientDataHash is SHA-256("attest:nfc:" ‖ sessionID ‖ SHA-256(DG1) ‖
// SHA-256(DG2) ‖ SHA-256(DG14) ‖ SHA-256(DG15) ‖ SHA-256(SOD) ‖
// SHA-256(CA transcript) ‖ SHA-256(AA signature) ‖ challenge).
func NFCClientDataHash(sessionID string, a NFCArtefacts, challenge []byte) [32]byte {
	h := sha256.New()
	h.Write([]byte("attest:nfc:"))
	h.Write([]byte(sessionID))
	for _, part := range [][]byte{a.DG1, a.DG2, a.DG14, a.DG15, a.SOD, a.CATranscript, a.AASignature} {
		d := sha256.Sum256(part)
		h.Write(d[:])
	}
	h.Write(challenge)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// RegistrationClientDataHash is SHA-256 of the registration challenge's
// bytes (the 32 random bytes, not their base64url text).
func RegistrationClientDataHash(challenge []byte) [32]byte {
	return sha256.Sum256(challenge)
}
