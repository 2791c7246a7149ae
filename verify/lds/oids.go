package lds

import (
	"crypto"
	"encoding/asn1"
)

// Object identifiers, each from the standard that defines it.
var (
	// RFC 5652 §5.1, §3 and §11.
	OIDSignedData    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	OIDContentType   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	OIDMessageDigest = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	OIDSigningTime   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 5}

	// ICAO 9303-10 §4.6.2 (id-icao-mrtd-security-ldsSecurityObject) and
	// 9303-12 (the CSCA master list, for the trust-store importer).
	OIDLDSSecurityObject = asn1.ObjectIdentifier{2, 23, 136, 1, 1, 1}
	OIDCSCAMasterList    = asn1.ObjectIdentifier{2, 23, 136, 1, 1, 2}
	// ICAO 9303-11 §6.1: ActiveAuthenticationInfo.
	OIDActiveAuthentication = asn1.ObjectIdentifier{2, 23, 136, 1, 1, 5}

	// RFC 8017 / RFC 3279 / RFC 5480 public keys.
	OIDRSAEncryption = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	OIDECPublicKey   = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	OIDPrimeField    = asn1.ObjectIdentifier{1, 2, 840, 10045, 1, 1}

	// BSI TR-03110-3 §A.1.1 (= ICAO 9303-11 §9.2.5/§9.2.6): chip
	// authentication protocols and their public keys.
	OIDCADH   = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 3, 1}
	OIDCAECDH = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 3, 2}
	OIDPKDH   = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 1, 1}
	OIDPKECDH = asn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 1, 2}
)

// Hash algorithm identifiers (RFC 3279 §2.2.1 for SHA-1, RFC 5754 §2 for SHA-2).
var hashOIDs = []struct {
	oid  asn1.ObjectIdentifier
	hash crypto.Hash
}{
	{asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}, crypto.SHA1},
	{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 4}, crypto.SHA224},
	{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}, crypto.SHA256},
	{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}, crypto.SHA384},
	{asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}, crypto.SHA512},
}

// HashForOID names the hash function of a digest algorithm identifier, or
// returns 0 when it is not one of SHA-1, SHA-224, SHA-256, SHA-384, SHA-512.
func HashForOID(oid asn1.ObjectIdentifier) crypto.Hash {
	for _, h := range hashOIDs {
		if h.oid.Equal(oid) {
			return h.hash
		}
	}
	return 0
}

// OIDForHash is HashForOID's inverse (nil for other hashes).
func OIDForHash(h crypto.Hash) asn1.ObjectIdentifier {
	for _, e := range hashOIDs {
		if e.hash == h {
			return e.oid
		}
	}
	return nil
}

// hasPrefix reports whether oid lies under arc (and is longer than it).
func hasPrefix(oid, arc asn1.ObjectIdentifier) bool {
	return len(oid) > len(arc) && oid[:len(arc)].Equal(arc)
}

// Object identifiers of named curves (their parameters are verify/ecc's).
var (
	OIDCurveP256            = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}
	OIDCurveP384            = asn1.ObjectIdentifier{1, 3, 132, 0, 34}
	OIDCurveP521            = asn1.ObjectIdentifier{1, 3, 132, 0, 35}
	OIDCurveBrainpoolP256r1 = asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 7}
	OIDCurveBrainpoolP384r1 = asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 11}
	OIDCurveBrainpoolP512r1 = asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 13}
)
