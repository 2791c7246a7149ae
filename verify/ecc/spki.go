package ecc

import (
	"encoding/asn1"
	"errors"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

var (
	oidECPublicKey = asn1.ObjectIdentifier{1, 2, 840, 10045, 2, 1}
	oidPrimeField  = asn1.ObjectIdentifier{1, 2, 840, 10045, 1, 1}
)

// ErrUnsupported is returned for parameters this package cannot use
// (characteristic-two fields, implicitCurve).
var ErrUnsupported = errors.New("ecc: unsupported curve parameters")

// maxParamsLen bounds the DER a caller can make us read: explicit
// parameters for a 1024-bit field with a seed fit comfortably.
const maxParamsLen = 2048

// ParseParameters reads ECParameters (RFC 5480 §2.1.1, SEC 1 §C.2): a
// namedCurve OID or specifiedCurve (SpecifiedECDomain over a prime field),
// the latter through FromExplicit.
func ParseParameters(der []byte) (*Curve, error) {
	if len(der) > maxParamsLen {
		return nil, ErrInvalidParameters
	}
	in := cryptobyte.String(der)
	if in.PeekASN1Tag(cbasn1.OBJECT_IDENTIFIER) {
		var oid asn1.ObjectIdentifier
		if !in.ReadASN1ObjectIdentifier(&oid) || !in.Empty() {
			return nil, ErrInvalidParameters
		}
		c, ok := ByOID(oid)
		if !ok {
			return nil, ErrUnsupported
		}
		return c, nil
	}
	var dom, field, curve cryptobyte.String
	var version int64
	var fieldType asn1.ObjectIdentifier
	p, n := new(big.Int), new(big.Int)
	var a, b, base []byte
	if !in.ReadASN1(&dom, cbasn1.SEQUENCE) || !in.Empty() ||
		!dom.ReadASN1Integer(&version) || version < 1 || version > 3 ||
		!dom.ReadASN1(&field, cbasn1.SEQUENCE) || !field.ReadASN1ObjectIdentifier(&fieldType) {
		return nil, ErrInvalidParameters
	}
	if !fieldType.Equal(oidPrimeField) {
		return nil, ErrUnsupported
	}
	if !field.ReadASN1Integer(p) || !field.Empty() ||
		!dom.ReadASN1(&curve, cbasn1.SEQUENCE) ||
		!curve.ReadASN1Bytes(&a, cbasn1.OCTET_STRING) || !curve.ReadASN1Bytes(&b, cbasn1.OCTET_STRING) ||
		!curve.SkipOptionalASN1(cbasn1.BIT_STRING) || !curve.Empty() ||
		!dom.ReadASN1Bytes(&base, cbasn1.OCTET_STRING) || !dom.ReadASN1Integer(n) {
		return nil, ErrInvalidParameters
	}
	var h *big.Int
	if dom.PeekASN1Tag(cbasn1.INTEGER) {
		h = new(big.Int)
		if !dom.ReadASN1Integer(h) {
			return nil, ErrInvalidParameters
		}
	}
	// The optional hash AlgorithmIdentifier (version 2 and 3) names how the
	// seed was used; nothing here depends on it.
	if !dom.SkipOptionalASN1(cbasn1.SEQUENCE) || !dom.Empty() {
		return nil, ErrInvalidParameters
	}
	if p.Sign() <= 0 || p.BitLen() > maxFieldBits {
		return nil, ErrInvalidParameters
	}
	fl := (p.BitLen() + 7) / 8
	// SEC 1 §2.3.6: field elements as octet strings of the field's length;
	// some encoders drop leading zeros, so accept shorter ones.
	if len(a) > fl || len(b) > fl {
		return nil, ErrInvalidParameters
	}
	gx, gy, err := decodeBase(p, new(big.Int).SetBytes(a), new(big.Int).SetBytes(b), base)
	if err != nil {
		return nil, err
	}
	return FromExplicit(p, new(big.Int).SetBytes(a), new(big.Int).SetBytes(b), gx, gy, n, h)
}

// decodeBase decodes G before the curve exists (a compressed G needs a and b).
func decodeBase(p, a, b *big.Int, base []byte) (x, y *big.Int, err error) {
	tmp := finish(&Curve{P: p, A: a, B: b, N: big.NewInt(1), H: big.NewInt(1)})
	k, err := ParsePoint(tmp, base)
	if err != nil {
		return nil, nil, ErrInvalidParameters
	}
	return k.X, k.Y, nil
}

// ParseSubjectPublicKeyInfo reads an id-ecPublicKey SubjectPublicKeyInfo
// (RFC 5480 §2) with named or explicit parameters: the form DG15 and
// certificates use, and which crypto/x509 refuses for brainpool and
// explicit parameters.
func ParseSubjectPublicKeyInfo(der []byte) (*PublicKey, error) {
	if len(der) > maxParamsLen+2*(maxFieldBits/8)+64 {
		return nil, ErrInvalidParameters
	}
	in := cryptobyte.String(der)
	var spki, alg cryptobyte.String
	var oid asn1.ObjectIdentifier
	var params cryptobyte.String
	var bits asn1.BitString
	if !in.ReadASN1(&spki, cbasn1.SEQUENCE) || !in.Empty() ||
		!spki.ReadASN1(&alg, cbasn1.SEQUENCE) || !alg.ReadASN1ObjectIdentifier(&oid) {
		return nil, ErrInvalidPoint
	}
	if !oid.Equal(oidECPublicKey) {
		return nil, ErrUnsupported
	}
	if !readAnyElement(&alg, &params) {
		return nil, ErrInvalidParameters
	}
	if !alg.Empty() || !spki.ReadASN1BitString(&bits) || !spki.Empty() || bits.BitLength%8 != 0 {
		return nil, ErrInvalidPoint
	}
	c, err := ParseParameters(params)
	if err != nil {
		return nil, err
	}
	return ParsePoint(c, bits.Bytes)
}

func readAnyElement(s *cryptobyte.String, out *cryptobyte.String) bool {
	var tag cbasn1.Tag
	return s.ReadAnyASN1Element(out, &tag)
}
