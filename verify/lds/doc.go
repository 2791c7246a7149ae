// Package lds parses the security objects of an ICAO 9303 chip (the Logical
// Data Structure, ICAO 9303-10): EF.SOD (a CMS SignedData, RFC 5652, over an
// LDSSecurityObject), DG14 (SecurityInfos, 9303-11 §9.2) and DG15 (the
// active-authentication SubjectPublicKeyInfo, 9303-11 §6.1), with elliptic
// curve domain parameters named or explicit.
//
// It only parses: no signature, hash or curve check happens here (passive
// authentication does that on what this package returns). Every input is
// treated as hostile: the ICAO wrappers are read with a bounded BER-TLV
// reader (definite lengths only, tags up to three bytes, a depth limit), the
// ASN.1 inside with golang.org/x/crypto/cryptobyte, which accepts DER only
// (minimal lengths, no indefinite form), and counts and sizes are capped.
package lds

import "errors"

// Errors callers can tell apart with errors.Is; each returned error wraps
// one of them with the detail.
var (
	// ErrMalformed: the bytes are not the structure the standard defines.
	ErrMalformed = errors.New("lds: malformed encoding")
	// ErrTooLarge: an input, a count or a nesting depth exceeds the limits.
	ErrTooLarge = errors.New("lds: input exceeds limits")
	// ErrUnsupported: well formed, but an algorithm or form this package
	// does not read (a binary-field curve, an unknown named curve).
	ErrUnsupported = errors.New("lds: unsupported")
)
