package ecc

import (
	"crypto/ecdsa"
	"errors"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// ErrInvalidSignature is returned for a malformed or non-verifying
// signature.
var ErrInvalidSignature = errors.New("ecc: invalid signature")

// VerifyECDSA checks an ECDSA signature (r, s) over hash (SEC 1 §4.1.4),
// hash truncated to the order's bit length as FIPS 186-4 §6.4 says.
func VerifyECDSA(pub *PublicKey, hash []byte, r, s *big.Int) bool {
	c := pub.Curve
	if r.Sign() <= 0 || s.Sign() <= 0 || r.Cmp(c.N) >= 0 || s.Cmp(c.N) >= 0 {
		return false
	}
	if c.stdElliptic != nil {
		k, err := pub.std()
		if err != nil {
			return false
		}
		return ecdsa.Verify(k, hash, r, s)
	}
	return c.verifyGeneric(pub, hash, r, s)
}

func (c *Curve) verifyGeneric(pub *PublicKey, hash []byte, r, s *big.Int) bool {
	e := hashToInt(hash, c.N)
	w := new(big.Int).ModInverse(s, c.N)
	if w == nil {
		return false
	}
	u1 := new(big.Int).Mul(e, w)
	u1.Mod(u1, c.N)
	u2 := new(big.Int).Mul(r, w)
	u2.Mod(u2, c.N)
	p := c.mul2(u1, c.generator(), u2, affine(pub.X, pub.Y))
	if p.inf() {
		return false
	}
	x, _ := c.toAffine(p)
	return x.Mod(x, c.N).Cmp(r) == 0
}

// hashToInt takes the leftmost bits of hash, as many as n has.
func hashToInt(hash []byte, n *big.Int) *big.Int {
	bits := n.BitLen()
	if size := (bits + 7) / 8; len(hash) > size {
		hash = hash[:size]
	}
	e := new(big.Int).SetBytes(hash)
	if excess := len(hash)*8 - bits; excess > 0 {
		e.Rsh(e, uint(excess))
	}
	return e
}

// ParsePlainSignature splits a TR-03111 §5.2.1 plain signature r ‖ s, each
// exactly OrderLen bytes.
func ParsePlainSignature(c *Curve, sig []byte) (r, s *big.Int, err error) {
	if len(sig) != 2*c.orderLen {
		return nil, nil, ErrInvalidSignature
	}
	return new(big.Int).SetBytes(sig[:c.orderLen]), new(big.Int).SetBytes(sig[c.orderLen:]), nil
}

// ParseDERSignature reads Ecdsa-Sig-Value ::= SEQUENCE { r INTEGER,
// s INTEGER } (RFC 3279 §2.2.3) in strict DER with nothing after it.
func ParseDERSignature(sig []byte) (r, s *big.Int, err error) {
	r, s = new(big.Int), new(big.Int)
	in := cryptobyte.String(sig)
	var inner cryptobyte.String
	if !in.ReadASN1(&inner, cbasn1.SEQUENCE) || !in.Empty() ||
		!inner.ReadASN1Integer(r) || !inner.ReadASN1Integer(s) || !inner.Empty() ||
		r.Sign() <= 0 || s.Sign() <= 0 {
		return nil, nil, ErrInvalidSignature
	}
	return r, s, nil
}

// VerifyPlain checks a plain (r ‖ s) signature over hash.
func VerifyPlain(pub *PublicKey, hash, sig []byte) error {
	r, s, err := ParsePlainSignature(pub.Curve, sig)
	if err != nil {
		return err
	}
	if !VerifyECDSA(pub, hash, r, s) {
		return ErrInvalidSignature
	}
	return nil
}

// VerifyDER checks a DER (X9.62) signature over hash.
func VerifyDER(pub *PublicKey, hash, sig []byte) error {
	if len(sig) > 2*pub.Curve.orderLen+16 { // two INTEGERs and their headers
		return ErrInvalidSignature
	}
	r, s, err := ParseDERSignature(sig)
	if err != nil {
		return err
	}
	if !VerifyECDSA(pub, hash, r, s) {
		return ErrInvalidSignature
	}
	return nil
}
