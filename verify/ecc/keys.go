package ecc

import (
	"crypto/ecdsa"
	"errors"
	"io"
	"math/big"
)

// ErrInvalidPoint is returned for an encoding that is not a valid point of
// the curve's prime-order subgroup.
var ErrInvalidPoint = errors.New("ecc: invalid point")

// PublicKey is a validated point: on the curve, not infinity, of order N.
type PublicKey struct {
	Curve *Curve
	X, Y  *big.Int
}

// PrivateKey is a scalar D in [1, N−1] and its public point.
type PrivateKey struct {
	PublicKey
	D *big.Int
}

// ParsePoint decodes a point in the SEC 1 §2.3.4 encoding: uncompressed
// (04 ‖ X ‖ Y) or compressed (02/03 ‖ X), and validates it (SEC 1
// §3.2.2.1): coordinates reduced, on the curve, not infinity (which has no
// encoding here), and of order N when the cofactor is not 1.
func ParsePoint(c *Curve, b []byte) (*PublicKey, error) {
	l := c.byteLen
	var x, y *big.Int
	switch {
	case len(b) == 1+2*l && b[0] == 4:
		x = new(big.Int).SetBytes(b[1 : 1+l])
		y = new(big.Int).SetBytes(b[1+l:])
	case len(b) == 1+l && (b[0] == 2 || b[0] == 3):
		x = new(big.Int).SetBytes(b[1:])
		if x.Cmp(c.P) >= 0 {
			return nil, ErrInvalidPoint
		}
		y = new(big.Int).ModSqrt(c.rhs(x), c.P)
		if y == nil {
			return nil, ErrInvalidPoint
		}
		if y.Bit(0) != uint(b[0]&1) {
			y.Sub(c.P, y)
		}
	default:
		return nil, ErrInvalidPoint
	}
	if !c.onCurve(x, y) {
		return nil, ErrInvalidPoint
	}
	if c.H.Cmp(big.NewInt(1)) != 0 && !c.mul(affine(x, y), c.N).inf() {
		return nil, ErrInvalidPoint
	}
	return &PublicKey{Curve: c, X: x, Y: y}, nil
}

// Bytes is the uncompressed encoding 04 ‖ X ‖ Y.
func (k *PublicKey) Bytes() []byte {
	l := k.Curve.byteLen
	out := make([]byte, 1+2*l)
	out[0] = 4
	k.X.FillBytes(out[1 : 1+l])
	k.Y.FillBytes(out[1+l:])
	return out
}

// Equal reports whether two keys are the same point of the same curve.
func (k *PublicKey) Equal(o *PublicKey) bool {
	return k.Curve.Equal(o.Curve) && k.X.Cmp(o.X) == 0 && k.Y.Cmp(o.Y) == 0
}

func (k *PublicKey) std() (*ecdsa.PublicKey, error) {
	return ecdsa.ParseUncompressedPublicKey(k.Curve.stdElliptic, k.Bytes())
}

// NewPrivateKey returns the key with scalar d, which must be in [1, N−1].
func NewPrivateKey(c *Curve, d *big.Int) (*PrivateKey, error) {
	if d.Sign() <= 0 || d.Cmp(c.N) >= 0 {
		return nil, errors.New("ecc: private scalar out of range")
	}
	x, y := c.toAffine(c.mul(c.generator(), d))
	return &PrivateKey{PublicKey: PublicKey{Curve: c, X: x, Y: y}, D: new(big.Int).Set(d)}, nil
}

// GenerateKey makes a key from rand, for tests and for the terminal side
// of a key agreement (variable-time; see the package comment).
func GenerateKey(c *Curve, rand io.Reader) (*PrivateKey, error) {
	b := make([]byte, c.orderLen+8) // 64 extra bits make the bias negligible
	if _, err := io.ReadFull(rand, b); err != nil {
		return nil, err
	}
	nm1 := new(big.Int).Sub(c.N, big.NewInt(1))
	d := new(big.Int).SetBytes(b)
	d.Mod(d, nm1).Add(d, big.NewInt(1))
	return NewPrivateKey(c, d)
}

// ECDH is the elliptic curve key agreement ECKA-DH of BSI TR-03111 §4.3.1:
// the x-coordinate of D·Q as an octet string of the field's length. Q was
// validated by ParsePoint; a result at infinity is an error.
func ECDH(priv *PrivateKey, pub *PublicKey) ([]byte, error) {
	c := priv.Curve
	if !pub.Curve.Equal(c) {
		return nil, errors.New("ecc: keys on different curves")
	}
	if c.stdECDH != nil {
		sk, err := c.stdECDH.NewPrivateKey(priv.D.FillBytes(make([]byte, c.orderLen)))
		if err != nil {
			return nil, err
		}
		pk, err := c.stdECDH.NewPublicKey(pub.Bytes())
		if err != nil {
			return nil, err
		}
		return sk.ECDH(pk)
	}
	return c.ecdhGeneric(priv.D, pub)
}

func (c *Curve) ecdhGeneric(d *big.Int, pub *PublicKey) ([]byte, error) {
	// Cofactor variant of TR-03111: with h ≠ 1 the point's order was
	// checked, so D·Q needs no clearing.
	r := c.mul(affine(pub.X, pub.Y), d)
	if r.inf() {
		return nil, errors.New("ecc: shared point at infinity")
	}
	x, _ := c.toAffine(r)
	return x.FillBytes(make([]byte, c.byteLen)), nil
}
