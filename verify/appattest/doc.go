// Package appattest verifies Apple App Attest attestations and assertions
// (Apple, "Validating apps that connect to your server"), whose
// authenticator data follows the WebAuthn layout (W3C Web Authentication
// §6.1): rpIdHash(32) ‖ flags(1) ‖ signCount(4, big-endian) ‖ for an
// attestation, AAGUID(16) ‖ credentialIdLength(2) ‖ credentialId ‖ COSE_Key.
//
// The package holds no state: registering a key returns a Key to store, and
// an assertion is checked against a stored COSE key and counter, returning
// the new counter for the caller to store with a compare-and-set. CBOR is
// decoded by github.com/fxamacker/cbor/v2 under a decoding mode that bounds
// the work (see cbor.go); inputs are size-capped before any decoding.
package appattest
