package lds

import (
	"bytes"
	"crypto/rsa"
	encasn1 "encoding/asn1"
	"fmt"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	"github.com/kayle-id/orgs-api/verify/ecc"
)

// PublicKey is a parsed SubjectPublicKeyInfo (RFC 5280 §4.1.2.7). Exactly
// one of RSA and EC is set for those algorithms; for others (the DH keys
// DG14 may carry) only the raw fields are.
type PublicKey struct {
	Raw        []byte // the whole SubjectPublicKeyInfo
	Algorithm  encasn1.ObjectIdentifier
	Parameters []byte // the algorithm parameters' DER, nil when absent
	KeyBytes   []byte // the subjectPublicKey BIT STRING's content

	RSA *RSAPublicKey
	EC  *ECPublicKey
}

// RSAPublicKey is RSAPublicKey of RFC 8017 §A.1.1.
type RSAPublicKey struct {
	N, E *big.Int
}

// ECPublicKey is an id-ecPublicKey key (RFC 5480 §2): its domain parameters
// and its point.
type ECPublicKey struct {
	Params *ECParameters
	X, Y   *big.Int
	Point  []byte // the encoded point as it came (uncompressed 04‖X‖Y)
}

// ECParameters are prime-field curve domain parameters (SEC 1 §3.1.1,
// y² = x³ + ax + b mod P). NamedCurveOID is set when the key named the
// curve or gave explicit parameters equal to one of the known curves
// (P-256/384/521, brainpoolP256r1/384r1/512r1); it is nil for other
// explicit curves, which callers should refuse.
type ECParameters struct {
	NamedCurveOID encasn1.ObjectIdentifier
	Name          string
	Explicit      bool // the parameters came as a SpecifiedECDomain
	P, A, B       *big.Int
	Gx, Gy        *big.Int
	N             *big.Int
	H             *big.Int // the cofactor; 1 when the encoding omitted it
}

// ByteLen is the length of a field element in bytes.
func (p *ECParameters) ByteLen() int { return (p.P.BitLen() + 7) / 8 }

// OnCurve reports whether (x, y) is a point of the curve with coordinates in [0, P).
func (p *ECParameters) OnCurve(x, y *big.Int) bool {
	if x.Sign() < 0 || y.Sign() < 0 || x.Cmp(p.P) >= 0 || y.Cmp(p.P) >= 0 {
		return false
	}
	lhs := new(big.Int).Mul(y, y)
	lhs.Mod(lhs, p.P)
	rhs := new(big.Int).Mul(x, x)
	rhs.Add(rhs, p.A)
	rhs.Mul(rhs, x)
	rhs.Add(rhs, p.B)
	rhs.Mod(rhs, p.P)
	return lhs.Cmp(rhs) == 0
}

// maxFieldBits bounds explicit parameters: the largest curve a travel
// document uses is P-521.
const maxFieldBits = 521

// PublicKey converts an RSA key to crypto/rsa's form, refusing exponents
// that do not fit an int or are below 3.
func (k *RSAPublicKey) PublicKey() (*rsa.PublicKey, error) {
	if !k.E.IsInt64() || k.E.Int64() < 3 || k.E.Int64() > 1<<31-1 {
		return nil, fmt.Errorf("%w: RSA exponent %v", ErrUnsupported, k.E)
	}
	return &rsa.PublicKey{N: new(big.Int).Set(k.N), E: int(k.E.Int64())}, nil
}

// ParsePublicKey parses a DER SubjectPublicKeyInfo. RSA and EC keys are
// decoded and checked (an EC point must lie on its curve); keys of other
// algorithms are returned with their raw fields.
func ParsePublicKey(der []byte) (*PublicKey, error) {
	if len(der) > MaxObjectSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(der))
	}
	s := cryptobyte.String(der)
	var spki cryptobyte.String
	if !s.ReadASN1(&spki, asn1.SEQUENCE) || !s.Empty() {
		return nil, fmt.Errorf("%w: SubjectPublicKeyInfo is not one SEQUENCE", ErrMalformed)
	}
	alg, err := readAlgorithmIdentifier(&spki)
	if err != nil {
		return nil, fmt.Errorf("SubjectPublicKeyInfo algorithm: %w", err)
	}
	var bits encasn1.BitString
	if !spki.ReadASN1BitString(&bits) || !spki.Empty() {
		return nil, fmt.Errorf("%w: subjectPublicKey", ErrMalformed)
	}
	if bits.BitLength%8 != 0 {
		return nil, fmt.Errorf("%w: subjectPublicKey is not whole bytes", ErrMalformed)
	}
	k := &PublicKey{Raw: der, Algorithm: alg.Algorithm, Parameters: alg.Parameters, KeyBytes: bits.Bytes}
	switch {
	case alg.Algorithm.Equal(OIDRSAEncryption):
		// RFC 3279 §2.3.1 says NULL; some encoders omit it.
		if alg.Parameters != nil && !bytes.Equal(alg.Parameters, []byte{0x05, 0x00}) {
			return nil, fmt.Errorf("%w: rsaEncryption parameters are not NULL", ErrMalformed)
		}
		k.RSA, err = parseRSAPublicKey(bits.Bytes)
	case alg.Algorithm.Equal(OIDECPublicKey):
		k.EC, err = parseECPublicKey(alg.Parameters, bits.Bytes)
	}
	if err != nil {
		return nil, err
	}
	return k, nil
}

func parseRSAPublicKey(b []byte) (*RSAPublicKey, error) {
	s := cryptobyte.String(b)
	var seq cryptobyte.String
	n, e := new(big.Int), new(big.Int)
	if !s.ReadASN1(&seq, asn1.SEQUENCE) || !s.Empty() ||
		!seq.ReadASN1Integer(n) || !seq.ReadASN1Integer(e) || !seq.Empty() {
		return nil, fmt.Errorf("%w: RSAPublicKey", ErrMalformed)
	}
	if n.Sign() <= 0 || e.Sign() <= 0 || n.Bit(0) == 0 {
		return nil, fmt.Errorf("%w: RSA modulus or exponent not positive and odd", ErrMalformed)
	}
	if n.BitLen() > 8192 {
		return nil, fmt.Errorf("%w: %d-bit RSA modulus", ErrTooLarge, n.BitLen())
	}
	return &RSAPublicKey{N: n, E: e}, nil
}

func parseECPublicKey(params, point []byte) (*ECPublicKey, error) {
	if params == nil {
		return nil, fmt.Errorf("%w: id-ecPublicKey without parameters", ErrMalformed)
	}
	p, err := ParseECParameters(params)
	if err != nil {
		return nil, err
	}
	x, y, err := decodePoint(p, point)
	if err != nil {
		return nil, fmt.Errorf("EC public key: %w", err)
	}
	return &ECPublicKey{Params: p, X: x, Y: y, Point: point}, nil
}

// decodePoint reads an uncompressed point (SEC 1 §2.3.4) and checks it is
// on the curve and not the point at infinity.
func decodePoint(p *ECParameters, b []byte) (*big.Int, *big.Int, error) {
	n := p.ByteLen()
	if len(b) != 1+2*n || b[0] != 0x04 {
		return nil, nil, fmt.Errorf("%w: point is not an uncompressed %d-byte encoding", ErrMalformed, 1+2*n)
	}
	x := new(big.Int).SetBytes(b[1 : 1+n])
	y := new(big.Int).SetBytes(b[1+n:])
	if !p.OnCurve(x, y) {
		return nil, nil, fmt.Errorf("%w: point not on the curve", ErrMalformed)
	}
	return x, y, nil
}

// ParseECParameters parses ECParameters (RFC 5480 §2.1.1, RFC 3279 §2.3.5):
// a namedCurve OID from the table, or a SpecifiedECDomain over a prime
// field. implicitCurve (NULL) and binary fields are refused.
func ParseECParameters(der []byte) (*ECParameters, error) {
	s := cryptobyte.String(der)
	switch {
	case s.PeekASN1Tag(asn1.OBJECT_IDENTIFIER):
		var oid encasn1.ObjectIdentifier
		if !s.ReadASN1ObjectIdentifier(&oid) || !s.Empty() {
			return nil, fmt.Errorf("%w: namedCurve", ErrMalformed)
		}
		c := curveByOID(oid)
		if c == nil {
			return nil, fmt.Errorf("%w: named curve %v", ErrUnsupported, oid)
		}
		return c, nil
	case s.PeekASN1Tag(asn1.SEQUENCE):
		p, err := parseSpecifiedECDomain(&s)
		if err != nil {
			return nil, err
		}
		if !s.Empty() {
			return nil, fmt.Errorf("%w: bytes after SpecifiedECDomain", ErrMalformed)
		}
		return p, nil
	default:
		return nil, fmt.Errorf("%w: ECParameters neither a named curve nor explicit", ErrUnsupported)
	}
}

// parseSpecifiedECDomain reads SEC 1 §C.2 SpecifiedECDomain:
//
//	SEQUENCE { version INTEGER(1..3), fieldID SEQUENCE { prime-field, p },
//	  curve SEQUENCE { a OCTET STRING, b OCTET STRING, seed BIT STRING OPTIONAL },
//	  base OCTET STRING, order INTEGER, cofactor INTEGER OPTIONAL, … }
func parseSpecifiedECDomain(s *cryptobyte.String) (*ECParameters, error) {
	var dom, field, curve cryptobyte.String
	var version int64
	var fieldType encasn1.ObjectIdentifier
	p := &ECParameters{Explicit: true, P: new(big.Int), N: new(big.Int), H: big.NewInt(1)}
	if !s.ReadASN1(&dom, asn1.SEQUENCE) || !dom.ReadASN1Integer(&version) ||
		!dom.ReadASN1(&field, asn1.SEQUENCE) || !field.ReadASN1ObjectIdentifier(&fieldType) {
		return nil, fmt.Errorf("%w: SpecifiedECDomain", ErrMalformed)
	}
	if version < 1 || version > 3 {
		return nil, fmt.Errorf("%w: SpecifiedECDomain version %d", ErrMalformed, version)
	}
	if !fieldType.Equal(OIDPrimeField) {
		return nil, fmt.Errorf("%w: field type %v (only prime fields)", ErrUnsupported, fieldType)
	}
	if !field.ReadASN1Integer(p.P) || !field.Empty() {
		return nil, fmt.Errorf("%w: prime field", ErrMalformed)
	}
	if p.P.BitLen() > maxFieldBits || p.P.Cmp(big.NewInt(3)) <= 0 || p.P.Bit(0) == 0 {
		return nil, fmt.Errorf("%w: field prime of %d bits", ErrUnsupported, p.P.BitLen())
	}
	var a, b, base []byte
	if !dom.ReadASN1(&curve, asn1.SEQUENCE) ||
		!curve.ReadASN1Bytes(&a, asn1.OCTET_STRING) || !curve.ReadASN1Bytes(&b, asn1.OCTET_STRING) {
		return nil, fmt.Errorf("%w: curve", ErrMalformed)
	}
	if !curve.Empty() {
		var seed encasn1.BitString
		if !curve.ReadASN1BitString(&seed) || !curve.Empty() {
			return nil, fmt.Errorf("%w: curve seed", ErrMalformed)
		}
	}
	n := p.ByteLen()
	// SEC 1 §2.3.5: a field element is an octet string of exactly the field's length.
	if len(a) != n || len(b) != n {
		return nil, fmt.Errorf("%w: curve coefficients are not %d bytes", ErrMalformed, n)
	}
	p.A, p.B = new(big.Int).SetBytes(a), new(big.Int).SetBytes(b)
	if p.A.Cmp(p.P) >= 0 || p.B.Cmp(p.P) >= 0 {
		return nil, fmt.Errorf("%w: curve coefficient not below the prime", ErrMalformed)
	}
	if !dom.ReadASN1Bytes(&base, asn1.OCTET_STRING) || !dom.ReadASN1Integer(p.N) {
		return nil, fmt.Errorf("%w: base point or order", ErrMalformed)
	}
	if p.N.Sign() <= 0 || p.N.BitLen() > maxFieldBits+1 {
		return nil, fmt.Errorf("%w: order", ErrMalformed)
	}
	if dom.PeekASN1Tag(asn1.INTEGER) {
		if !dom.ReadASN1Integer(p.H) || p.H.Sign() <= 0 || p.H.BitLen() > 64 {
			return nil, fmt.Errorf("%w: cofactor", ErrMalformed)
		}
	}
	// A trailing hash AlgorithmIdentifier (SEC 1 version 2/3) is allowed
	// and ignored; anything else is not.
	if !dom.Empty() {
		var hash cryptobyte.String
		if !dom.ReadASN1(&hash, asn1.SEQUENCE) || !dom.Empty() {
			return nil, fmt.Errorf("%w: bytes after cofactor", ErrMalformed)
		}
	}
	var err error
	if p.Gx, p.Gy, err = decodePoint(p, base); err != nil {
		return nil, fmt.Errorf("base point: %w", err)
	}
	if c := curveByParams(p); c != nil {
		p.NamedCurveOID, p.Name = c.NamedCurveOID, c.Name
	}
	return p, nil
}

// curves are the named curves verify/ecc implements (NIST P-256/384/521,
// brainpool r1 and t1), in this package's plain form: one table of domain
// parameters for the parser and the arithmetic.
var curves = func() []*ECParameters {
	named := ecc.Curves()
	out := make([]*ECParameters, len(named))
	for i, c := range named {
		out[i] = &ECParameters{NamedCurveOID: c.OID, Name: c.Name, P: c.P, A: c.A, B: c.B, Gx: c.Gx, Gy: c.Gy, N: c.N, H: c.H}
	}
	return out
}()

// curveByOID returns a copy of the known curve with that OID.
func curveByOID(oid encasn1.ObjectIdentifier) *ECParameters {
	for _, c := range curves {
		if c.NamedCurveOID.Equal(oid) {
			cp := *c
			return &cp
		}
	}
	return nil
}

// curveByParams finds the known curve with the same p, a, b, G, n and h;
// the seed and the hash are not part of the curve.
func curveByParams(p *ECParameters) *ECParameters {
	for _, c := range curves {
		if c.P.Cmp(p.P) == 0 && c.A.Cmp(p.A) == 0 && c.B.Cmp(p.B) == 0 &&
			c.Gx.Cmp(p.Gx) == 0 && c.Gy.Cmp(p.Gy) == 0 && c.N.Cmp(p.N) == 0 && c.H.Cmp(p.H) == 0 {
			return c
		}
	}
	return nil
}

// KnownCurves lists the table's curves (copies).
func KnownCurves() []*ECParameters {
	out := make([]*ECParameters, len(curves))
	for i, c := range curves {
		cp := *c
		out[i] = &cp
	}
	return out
}

// AlgorithmIdentifier is RFC 5280 §4.1.1.2's, with the parameters kept as DER.
type AlgorithmIdentifier struct {
	Algorithm  encasn1.ObjectIdentifier
	Parameters []byte // nil when absent
}

func readAlgorithmIdentifier(s *cryptobyte.String) (AlgorithmIdentifier, error) {
	var ai cryptobyte.String
	var a AlgorithmIdentifier
	if !s.ReadASN1(&ai, asn1.SEQUENCE) || !ai.ReadASN1ObjectIdentifier(&a.Algorithm) {
		return a, fmt.Errorf("%w: AlgorithmIdentifier", ErrMalformed)
	}
	if !ai.Empty() {
		var params cryptobyte.String
		var tag asn1.Tag
		if !ai.ReadAnyASN1Element(&params, &tag) || !ai.Empty() {
			return a, fmt.Errorf("%w: AlgorithmIdentifier parameters", ErrMalformed)
		}
		a.Parameters = params
	}
	return a, nil
}
