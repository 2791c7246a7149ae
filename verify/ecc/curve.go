// Package ecc holds the elliptic curves travel documents use (BSI TR-03111,
// ICAO 9303-11): NIST P-256/384/521, the brainpool curves of RFC 5639 (r1 and
// t1) and curves given by explicit parameters (p, a, b, G, n, h) in a DG14,
// DG15 or certificate.
//
// Go's crypto/x509 refuses brainpool and explicit parameters and
// crypto/elliptic.CurveParams assumes a = -3; no maintained Go module covers
// curves with an arbitrary a (ProtonMail's go-crypto has the brainpool
// curves only, built on the deprecated elliptic.CurveParams). So: the NIST
// curves go through crypto/ecdsa and crypto/ecdh, every other curve through
// the short-Weierstrass arithmetic in arith.go (Jacobian coordinates over
// math/big).
//
// That arithmetic is variable-time. It is used for verification, where all
// inputs are public, and for ECDH with the ephemeral terminal key the phone
// uploads in the chip-authentication transcript (verify/chipauth): that key
// was used once, is no secret from the phone, and the server never holds a
// long-term private key on these curves. Do not use it to sign.
package ecc

import (
	"crypto/ecdh"
	"crypto/elliptic"
	"encoding/asn1"
	"errors"
	"math/big"
)

// Curve is a short-Weierstrass curve y² = x³ + ax + b over GF(P) with base
// point (Gx, Gy) of prime order N and cofactor H. The named curves are
// shared values: their fields must not be modified.
type Curve struct {
	Name string
	// OID is the named curve's identifier; nil for explicit parameters
	// that match no named curve.
	OID                   asn1.ObjectIdentifier
	P, A, B, Gx, Gy, N, H *big.Int
	byteLen               int // field element length, SEC 1 §2.3.5
	orderLen              int // length of n: r and s in TR-03111's plain form
	stdECDH               ecdh.Curve
	stdElliptic           elliptic.Curve
}

// ByteLen is the length in bytes of a field element (and of each coordinate
// in an uncompressed point).
func (c *Curve) ByteLen() int { return c.byteLen }

// OrderLen is the length in bytes of the group order, which is the length of
// r and of s in a plain (TR-03111 §5.2.1) signature.
func (c *Curve) OrderLen() int { return c.orderLen }

// Named reports whether c is one of the named curves of this package.
func (c *Curve) Named() bool { return c.OID != nil }

func (c *Curve) String() string { return c.Name }

// Equal reports whether two curves have the same domain parameters (two
// parsings of the same explicit parameters are different values).
func (c *Curve) Equal(o *Curve) bool {
	if c == o {
		return true
	}
	return c.P.Cmp(o.P) == 0 && c.A.Cmp(o.A) == 0 && c.B.Cmp(o.B) == 0 && c.Gx.Cmp(o.Gx) == 0 &&
		c.Gy.Cmp(o.Gy) == 0 && c.N.Cmp(o.N) == 0 && c.H.Cmp(o.H) == 0
}

func hexInt(s string) *big.Int {
	v, ok := new(big.Int).SetString(s, 16)
	if !ok {
		panic("ecc: bad constant " + s)
	}
	return v
}

func named(name string, oid asn1.ObjectIdentifier, p, a, b, gx, gy, n string) *Curve {
	return finish(&Curve{Name: name, OID: oid, P: hexInt(p), A: hexInt(a), B: hexInt(b),
		Gx: hexInt(gx), Gy: hexInt(gy), N: hexInt(n), H: big.NewInt(1)})
}

func finish(c *Curve) *Curve {
	c.byteLen = (c.P.BitLen() + 7) / 8
	c.orderLen = (c.N.BitLen() + 7) / 8
	return c
}

func nist(name string, oid asn1.ObjectIdentifier, std elliptic.Curve, x ecdh.Curve) *Curve {
	p := std.Params()
	return finish(&Curve{Name: name, OID: oid, P: p.P, A: new(big.Int).Sub(p.P, big.NewInt(3)),
		B: p.B, Gx: p.Gx, Gy: p.Gy, N: p.N, H: big.NewInt(1), stdECDH: x, stdElliptic: std})
}

// The NIST curves (FIPS 186-4 D.1.2), OIDs from RFC 5480 §2.1.1.1.
var (
	P256 = nist("P-256", asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}, elliptic.P256(), ecdh.P256())
	P384 = nist("P-384", asn1.ObjectIdentifier{1, 3, 132, 0, 34}, elliptic.P384(), ecdh.P384())
	P521 = nist("P-521", asn1.ObjectIdentifier{1, 3, 132, 0, 35}, elliptic.P521(), ecdh.P521())
)

// Curves lists every named curve.
func Curves() []*Curve {
	return []*Curve{P256, P384, P521,
		BrainpoolP256r1, BrainpoolP384r1, BrainpoolP512r1,
		BrainpoolP256t1, BrainpoolP384t1, BrainpoolP512t1}
}

// ByOID returns the named curve with that OID.
func ByOID(oid asn1.ObjectIdentifier) (*Curve, bool) {
	for _, c := range Curves() {
		if c.OID.Equal(oid) {
			return c, true
		}
	}
	return nil, false
}

// ByName returns the named curve with that name ("P-256", "brainpoolP256r1").
func ByName(name string) (*Curve, bool) {
	for _, c := range Curves() {
		if c.Name == name {
			return c, true
		}
	}
	return nil, false
}

// Bounds on explicit parameters: documents use fields of 192 to 521 bits;
// the bounds leave room on both sides and cap the work one key can cost.
const (
	minFieldBits = 160
	maxFieldBits = 1024
)

// ErrInvalidParameters is returned for explicit domain parameters that do
// not define a usable curve.
var ErrInvalidParameters = errors.New("ecc: invalid curve parameters")

// FromExplicit builds a curve from explicit domain parameters (SEC 1 §3.1.1,
// the SpecifiedECDomain of RFC 3279). h may be nil (it is OPTIONAL there)
// and is then derived from Hasse's bound. When the parameters equal a named
// curve's, that curve is returned, so callers get its fast path and name.
//
// Checks (SEC 1 §3.1.1.2.1, the cheap ones): p and n probable primes, field
// size within bounds, a, b, Gx, Gy reduced, 4a³ + 27b² ≠ 0, G on the curve,
// n·G = O, and h·n within Hasse's interval.
func FromExplicit(p, a, b, gx, gy, n, h *big.Int) (*Curve, error) {
	for _, v := range []*big.Int{p, a, b, gx, gy, n} {
		if v == nil || v.Sign() < 0 {
			return nil, ErrInvalidParameters
		}
	}
	if p.BitLen() < minFieldBits || p.BitLen() > maxFieldBits || p.Bit(0) == 0 {
		return nil, ErrInvalidParameters
	}
	for _, v := range []*big.Int{a, b, gx, gy} {
		if v.Cmp(p) >= 0 {
			return nil, ErrInvalidParameters
		}
	}
	if n.BitLen() < minFieldBits/2 || n.BitLen() > p.BitLen()+1 {
		return nil, ErrInvalidParameters
	}
	for _, c := range Curves() {
		if c.P.Cmp(p) == 0 && c.A.Cmp(a) == 0 && c.B.Cmp(b) == 0 && c.Gx.Cmp(gx) == 0 &&
			c.Gy.Cmp(gy) == 0 && c.N.Cmp(n) == 0 && (h == nil || c.H.Cmp(h) == 0) {
			return c, nil
		}
	}
	// Hasse: |#E − (p + 1)| ≤ 2√p, and #E = h·n.
	t := new(big.Int).Sqrt(p)
	t.Lsh(t, 1).Add(t, big.NewInt(2)) // 2⌊√p⌋ + 2 ≥ 2√p, rounding covered
	lo := new(big.Int).Add(p, big.NewInt(1))
	lo.Sub(lo, t)
	hi := new(big.Int).Add(p, big.NewInt(1))
	hi.Add(hi, t)
	if h == nil {
		h = new(big.Int).Div(hi, n)
	}
	if h.Sign() <= 0 || h.BitLen() > 16 {
		return nil, ErrInvalidParameters
	}
	order := new(big.Int).Mul(h, n)
	if order.Cmp(lo) < 0 || order.Cmp(hi) > 0 {
		return nil, ErrInvalidParameters
	}
	if !p.ProbablyPrime(1) || !n.ProbablyPrime(1) {
		return nil, ErrInvalidParameters
	}
	c := finish(&Curve{Name: "explicit", P: new(big.Int).Set(p), A: new(big.Int).Set(a),
		B: new(big.Int).Set(b), Gx: new(big.Int).Set(gx), Gy: new(big.Int).Set(gy),
		N: new(big.Int).Set(n), H: new(big.Int).Set(h)})
	// 4a³ + 27b² ≠ 0 (mod p): the curve is not singular.
	d := new(big.Int).Exp(a, big.NewInt(3), p)
	d.Mul(d, big.NewInt(4))
	b2 := new(big.Int).Mul(b, b)
	b2.Mul(b2, big.NewInt(27))
	d.Add(d, b2).Mod(d, p)
	if d.Sign() == 0 {
		return nil, ErrInvalidParameters
	}
	if !c.onCurve(gx, gy) {
		return nil, ErrInvalidParameters
	}
	if !c.mul(c.generator(), n).inf() {
		return nil, ErrInvalidParameters
	}
	return c, nil
}
