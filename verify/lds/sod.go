package lds

import (
	"crypto"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// TagSOD is EF.SOD's application tag (ICAO 9303-10 §4.6.2).
const TagSOD = 0x77

// SOD is a parsed EF.SOD: the CMS SignedData and the LDSSecurityObject it
// encapsulates. Nothing in it is verified yet.
type SOD struct {
	SignedData *SignedData
	LDS        *LDSSecurityObject
}

// LDSSecurityObject is ICAO 9303-10 §4.6.2.2's:
//
//	LDSSecurityObject ::= SEQUENCE {
//	  version LDSSecurityObjectVersion,         -- v0(0) or v1(1)
//	  hashAlgorithm DigestAlgorithmIdentifier,
//	  dataGroupHashValues SEQUENCE SIZE (2..16) OF DataGroupHash,
//	  ldsVersionInfo LDSVersionInfo OPTIONAL }  -- present iff version is v1
type LDSSecurityObject struct {
	Version         int64
	HashAlgorithm   AlgorithmIdentifier
	DataGroupHashes []DataGroupHash // in the order encoded
	VersionInfo     *LDSVersionInfo // nil for version 0
}

// DataGroupHash is one dataGroupHashValues entry.
type DataGroupHash struct {
	DataGroupNumber int
	Hash            []byte
}

// LDSVersionInfo ::= SEQUENCE { ldsVersion PrintableString, unicodeVersion PrintableString }
type LDSVersionInfo struct {
	LDSVersion     string // e.g. "0108"
	UnicodeVersion string // e.g. "040000"
}

// HashFunc is the hash function the data group hashes use, or 0 when the
// algorithm is not SHA-1 or SHA-2 (callers refuse it).
func (l *LDSSecurityObject) HashFunc() crypto.Hash { return HashForOID(l.HashAlgorithm.Algorithm) }

// Hash returns the stored hash of data group dg (1–16).
func (l *LDSSecurityObject) Hash(dg int) ([]byte, bool) {
	for _, h := range l.DataGroupHashes {
		if h.DataGroupNumber == dg {
			return h.Hash, true
		}
	}
	return nil, false
}

// ParseSOD parses EF.SOD as read from the chip (the 77 wrapper) or the bare
// ContentInfo. The SignedData must encapsulate an LDSSecurityObject.
func ParseSOD(b []byte) (*SOD, error) {
	if len(b) > 0 && b[0] == TagSOD {
		v, err := Unwrap(b, TagSOD)
		if err != nil {
			return nil, fmt.Errorf("EF.SOD: %w", err)
		}
		b = v
	}
	sd, err := ParseContentInfo(b)
	if err != nil {
		return nil, fmt.Errorf("EF.SOD: %w", err)
	}
	if !sd.EContentType.Equal(OIDLDSSecurityObject) {
		return nil, fmt.Errorf("%w: EF.SOD eContentType %v is not ldsSecurityObject", ErrMalformed, sd.EContentType)
	}
	if sd.EContent == nil {
		return nil, fmt.Errorf("%w: EF.SOD has no eContent", ErrMalformed)
	}
	if len(sd.SignerInfos) == 0 {
		return nil, fmt.Errorf("%w: EF.SOD has no signer", ErrMalformed)
	}
	lds, err := ParseLDSSecurityObject(sd.EContent)
	if err != nil {
		return nil, err
	}
	return &SOD{SignedData: sd, LDS: lds}, nil
}

// ParseLDSSecurityObject parses the LDSSecurityObject DER. A data group
// listed twice is refused (the standard gives each one hash; the reference
// let the later entry win, which lets two hashes for one group coexist).
// When the hash algorithm is known each hash must have its length.
func ParseLDSSecurityObject(der []byte) (*LDSSecurityObject, error) {
	s := cryptobyte.String(der)
	var seq, hashes cryptobyte.String
	var l LDSSecurityObject
	if !s.ReadASN1(&seq, asn1.SEQUENCE) || !s.Empty() || !seq.ReadASN1Integer(&l.Version) {
		return nil, fmt.Errorf("%w: LDSSecurityObject", ErrMalformed)
	}
	if l.Version != 0 && l.Version != 1 {
		return nil, fmt.Errorf("%w: LDSSecurityObject version %d", ErrUnsupported, l.Version)
	}
	var err error
	if l.HashAlgorithm, err = readAlgorithmIdentifier(&seq); err != nil {
		return nil, fmt.Errorf("LDSSecurityObject hashAlgorithm: %w", err)
	}
	size := 0 // unknown algorithm: lengths not checked (crypto.Hash(0).Size panics)
	if h := l.HashFunc(); h != 0 {
		size = h.Size()
	}
	if !seq.ReadASN1(&hashes, asn1.SEQUENCE) {
		return nil, fmt.Errorf("%w: dataGroupHashValues", ErrMalformed)
	}
	for !hashes.Empty() {
		if len(l.DataGroupHashes) == 16 {
			return nil, fmt.Errorf("%w: more than 16 data group hashes", ErrTooLarge)
		}
		var e, h cryptobyte.String
		var n int64
		if !hashes.ReadASN1(&e, asn1.SEQUENCE) || !e.ReadASN1Integer(&n) ||
			!e.ReadASN1(&h, asn1.OCTET_STRING) || !e.Empty() {
			return nil, fmt.Errorf("%w: DataGroupHash", ErrMalformed)
		}
		if n < 1 || n > 16 {
			return nil, fmt.Errorf("%w: data group number %d", ErrMalformed, n)
		}
		if _, dup := l.Hash(int(n)); dup {
			return nil, fmt.Errorf("%w: data group %d hashed twice", ErrMalformed, n)
		}
		if size != 0 && len(h) != size {
			return nil, fmt.Errorf("%w: DG%d hash is %d bytes, the algorithm gives %d", ErrMalformed, n, len(h), size)
		}
		l.DataGroupHashes = append(l.DataGroupHashes, DataGroupHash{DataGroupNumber: int(n), Hash: h})
	}
	if len(l.DataGroupHashes) < 2 {
		return nil, fmt.Errorf("%w: %d data group hashes, at least 2 required", ErrMalformed, len(l.DataGroupHashes))
	}
	if seq.PeekASN1Tag(asn1.SEQUENCE) {
		var vi cryptobyte.String
		var info LDSVersionInfo
		if !seq.ReadASN1(&vi, asn1.SEQUENCE) ||
			!readPrintable(&vi, &info.LDSVersion) || !readPrintable(&vi, &info.UnicodeVersion) || !vi.Empty() {
			return nil, fmt.Errorf("%w: LDSVersionInfo", ErrMalformed)
		}
		l.VersionInfo = &info
	}
	if !seq.Empty() {
		return nil, fmt.Errorf("%w: bytes after LDSSecurityObject", ErrMalformed)
	}
	if (l.Version == 1) != (l.VersionInfo != nil) {
		return nil, fmt.Errorf("%w: LDSSecurityObject version %d with LDSVersionInfo present=%v",
			ErrMalformed, l.Version, l.VersionInfo != nil)
	}
	return &l, nil
}

// readPrintable reads a PrintableString (X.680 §41.4 alphabet).
func readPrintable(s *cryptobyte.String, out *string) bool {
	var v cryptobyte.String
	if !s.ReadASN1(&v, asn1.PrintableString) {
		return false
	}
	for _, c := range v {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == ' ' ||
			c == '\'' || c == '(' || c == ')' || c == '+' || c == ',' || c == '-' || c == '.' ||
			c == '/' || c == ':' || c == '=' || c == '?'
		if !ok {
			return false
		}
	}
	*out = string(v)
	return true
}
