package lds

import (
	encasn1 "encoding/asn1"
	"fmt"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// Data group tags (ICAO 9303-10 §4.6.1).
const (
	TagDG14 = 0x6E
	TagDG15 = 0x6F
)

// ParseDG15 parses DG15 as read from the chip (the 6F wrapper) or the bare
// SubjectPublicKeyInfo. The key must be RSA or EC (ICAO 9303-11 §6.1).
func ParseDG15(b []byte) (*PublicKey, error) {
	if len(b) > 0 && b[0] == TagDG15 {
		v, err := Unwrap(b, TagDG15)
		if err != nil {
			return nil, fmt.Errorf("DG15: %w", err)
		}
		b = v
	}
	k, err := ParsePublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("DG15: %w", err)
	}
	if k.RSA == nil && k.EC == nil {
		return nil, fmt.Errorf("%w: DG15 key algorithm %v", ErrUnsupported, k.Algorithm)
	}
	return k, nil
}

// maxSecurityInfos bounds DG14: a chip lists a handful of protocols.
const maxSecurityInfos = 64

// SecurityInfos is DG14's content (ICAO 9303-11 §9.2), sorted by kind.
// Infos of other protocols (PACE, terminal authentication, …) are kept in
// Other with their OID.
type SecurityInfos struct {
	ChipAuthentication          []ChipAuthenticationInfo
	ChipAuthenticationPublicKey []ChipAuthenticationPublicKeyInfo
	ActiveAuthentication        []ActiveAuthenticationInfo
	Other                       []SecurityInfo
}

// SecurityInfo ::= SEQUENCE { protocol OBJECT IDENTIFIER, requiredData ANY, optionalData ANY OPTIONAL }
type SecurityInfo struct {
	Protocol encasn1.ObjectIdentifier
	Raw      []byte
}

// ChipAuthenticationInfo ::= SEQUENCE { protocol (id-CA-DH-* | id-CA-ECDH-*), version INTEGER, keyId INTEGER OPTIONAL }
type ChipAuthenticationInfo struct {
	Protocol encasn1.ObjectIdentifier
	Version  int64
	KeyID    *big.Int // nil when absent
}

// ChipAuthenticationPublicKeyInfo ::= SEQUENCE { protocol (id-PK-DH | id-PK-ECDH),
// chipAuthenticationPublicKey SubjectPublicKeyInfo, keyId INTEGER OPTIONAL }
type ChipAuthenticationPublicKeyInfo struct {
	Protocol  encasn1.ObjectIdentifier
	PublicKey *PublicKey
	KeyID     *big.Int
}

// ActiveAuthenticationInfo ::= SEQUENCE { protocol id-AA, version INTEGER, signatureAlgorithm OBJECT IDENTIFIER }
type ActiveAuthenticationInfo struct {
	Version            int64
	SignatureAlgorithm encasn1.ObjectIdentifier
}

// ParseDG14 parses DG14 as read from the chip (the 6E wrapper) or the bare
// SecurityInfos. The standard says SET OF; a SEQUENCE OF is also read, as
// some encoders write it.
func ParseDG14(b []byte) (*SecurityInfos, error) {
	if len(b) > 0 && b[0] == TagDG14 {
		v, err := Unwrap(b, TagDG14)
		if err != nil {
			return nil, fmt.Errorf("DG14: %w", err)
		}
		b = v
	}
	if len(b) > MaxObjectSize {
		return nil, fmt.Errorf("%w: DG14 of %d bytes", ErrTooLarge, len(b))
	}
	s := cryptobyte.String(b)
	var set cryptobyte.String
	if !s.ReadASN1(&set, asn1.SET) {
		s = cryptobyte.String(b)
		if !s.ReadASN1(&set, asn1.SEQUENCE) {
			return nil, fmt.Errorf("%w: DG14 is not a SET OF SecurityInfo", ErrMalformed)
		}
	}
	if !s.Empty() {
		return nil, fmt.Errorf("%w: bytes after DG14 SecurityInfos", ErrMalformed)
	}
	var out SecurityInfos
	for n := 0; !set.Empty(); n++ {
		if n == maxSecurityInfos {
			return nil, fmt.Errorf("%w: more than %d SecurityInfos", ErrTooLarge, maxSecurityInfos)
		}
		var raw, info cryptobyte.String
		var oid encasn1.ObjectIdentifier
		if !set.ReadASN1Element(&raw, asn1.SEQUENCE) {
			return nil, fmt.Errorf("%w: SecurityInfo %d", ErrMalformed, n)
		}
		outer := raw
		if !outer.ReadASN1(&info, asn1.SEQUENCE) || !info.ReadASN1ObjectIdentifier(&oid) || info.Empty() {
			return nil, fmt.Errorf("%w: SecurityInfo %d", ErrMalformed, n)
		}
		var err error
		switch {
		case hasPrefix(oid, OIDCADH) || hasPrefix(oid, OIDCAECDH):
			err = out.readCA(oid, info)
		case oid.Equal(OIDPKDH) || oid.Equal(OIDPKECDH):
			err = out.readCAPublicKey(oid, info)
		case oid.Equal(OIDActiveAuthentication):
			err = out.readAA(info)
		default:
			out.Other = append(out.Other, SecurityInfo{Protocol: oid, Raw: raw})
		}
		if err != nil {
			return nil, fmt.Errorf("SecurityInfo %d (%v): %w", n, oid, err)
		}
	}
	return &out, nil
}

func readOptionalKeyID(s *cryptobyte.String) (*big.Int, error) {
	if s.Empty() {
		return nil, nil
	}
	id := new(big.Int)
	if !s.ReadASN1Integer(id) || !s.Empty() || id.Sign() < 0 || id.BitLen() > 64 {
		return nil, fmt.Errorf("%w: keyId", ErrMalformed)
	}
	return id, nil
}

func (out *SecurityInfos) readCA(oid encasn1.ObjectIdentifier, s cryptobyte.String) error {
	ci := ChipAuthenticationInfo{Protocol: oid}
	if !s.ReadASN1Integer(&ci.Version) || ci.Version < 1 {
		return fmt.Errorf("%w: version", ErrMalformed)
	}
	var err error
	if ci.KeyID, err = readOptionalKeyID(&s); err != nil {
		return err
	}
	out.ChipAuthentication = append(out.ChipAuthentication, ci)
	return nil
}

func (out *SecurityInfos) readCAPublicKey(oid encasn1.ObjectIdentifier, s cryptobyte.String) error {
	var spki cryptobyte.String
	if !s.ReadASN1Element(&spki, asn1.SEQUENCE) {
		return fmt.Errorf("%w: chipAuthenticationPublicKey", ErrMalformed)
	}
	k, err := ParsePublicKey(spki)
	if err != nil {
		return err
	}
	pk := ChipAuthenticationPublicKeyInfo{Protocol: oid, PublicKey: k}
	if pk.KeyID, err = readOptionalKeyID(&s); err != nil {
		return err
	}
	out.ChipAuthenticationPublicKey = append(out.ChipAuthenticationPublicKey, pk)
	return nil
}

func (out *SecurityInfos) readAA(s cryptobyte.String) error {
	var aa ActiveAuthenticationInfo
	if !s.ReadASN1Integer(&aa.Version) || !s.ReadASN1ObjectIdentifier(&aa.SignatureAlgorithm) || !s.Empty() {
		return fmt.Errorf("%w: ActiveAuthenticationInfo", ErrMalformed)
	}
	out.ActiveAuthentication = append(out.ActiveAuthentication, aa)
	return nil
}
