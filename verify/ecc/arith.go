package ecc

import "math/big"

// jpoint is a point in Jacobian coordinates: (X/Z², Y/Z³); Z = 0 is the
// point at infinity.
type jpoint struct{ x, y, z *big.Int }

func (p jpoint) inf() bool { return p.z.Sign() == 0 }

func infinity() jpoint { return jpoint{new(big.Int), big.NewInt(1), new(big.Int)} }

func (c *Curve) generator() jpoint { return affine(c.Gx, c.Gy) }

func affine(x, y *big.Int) jpoint {
	return jpoint{new(big.Int).Set(x), new(big.Int).Set(y), big.NewInt(1)}
}

// onCurve reports y² ≡ x³ + ax + b (mod p) for reduced coordinates.
func (c *Curve) onCurve(x, y *big.Int) bool {
	if x.Sign() < 0 || y.Sign() < 0 || x.Cmp(c.P) >= 0 || y.Cmp(c.P) >= 0 {
		return false
	}
	return new(big.Int).Mod(new(big.Int).Mul(y, y), c.P).Cmp(c.rhs(x)) == 0
}

// rhs is x³ + ax + b mod p.
func (c *Curve) rhs(x *big.Int) *big.Int {
	r := new(big.Int).Mul(x, x)
	r.Add(r, c.A).Mul(r, x).Add(r, c.B)
	return r.Mod(r, c.P)
}

// double is dbl-2007-bl generalised to any a (Hankerson, Menezes and
// Vanstone, Guide to ECC, §3.2.2).
func (c *Curve) double(p jpoint) jpoint {
	if p.inf() || p.y.Sign() == 0 {
		return infinity()
	}
	m := c.P
	xx := new(big.Int).Mul(p.x, p.x)
	yy := new(big.Int).Mul(p.y, p.y)
	yy.Mod(yy, m)
	zz := new(big.Int).Mul(p.z, p.z)
	zz.Mod(zz, m)
	s := new(big.Int).Mul(p.x, yy)
	s.Lsh(s, 2).Mod(s, m) // S = 4·X·Y²
	mm := new(big.Int).Mul(zz, zz)
	mm.Mul(mm, c.A)
	mm.Add(mm, new(big.Int).Mul(xx, big.NewInt(3))).Mod(mm, m) // M = 3X² + aZ⁴
	x3 := new(big.Int).Mul(mm, mm)
	x3.Sub(x3, new(big.Int).Lsh(s, 1)).Mod(x3, m) // X3 = M² − 2S
	y4 := new(big.Int).Mul(yy, yy)
	y4.Lsh(y4, 3)
	y3 := new(big.Int).Sub(s, x3)
	y3.Mul(y3, mm).Sub(y3, y4).Mod(y3, m) // Y3 = M(S − X3) − 8Y⁴
	z3 := new(big.Int).Mul(p.y, p.z)
	z3.Lsh(z3, 1).Mod(z3, m) // Z3 = 2YZ
	return jpoint{x3, y3, z3}
}

// add is the general Jacobian addition (Guide to ECC, §3.2.2).
func (c *Curve) add(p, q jpoint) jpoint {
	if p.inf() {
		return q
	}
	if q.inf() {
		return p
	}
	m := c.P
	z1z1 := new(big.Int).Mul(p.z, p.z)
	z1z1.Mod(z1z1, m)
	z2z2 := new(big.Int).Mul(q.z, q.z)
	z2z2.Mod(z2z2, m)
	u1 := new(big.Int).Mul(p.x, z2z2)
	u1.Mod(u1, m)
	u2 := new(big.Int).Mul(q.x, z1z1)
	u2.Mod(u2, m)
	s1 := new(big.Int).Mul(p.y, q.z)
	s1.Mul(s1, z2z2).Mod(s1, m)
	s2 := new(big.Int).Mul(q.y, p.z)
	s2.Mul(s2, z1z1).Mod(s2, m)
	if u1.Cmp(u2) == 0 {
		if s1.Cmp(s2) == 0 {
			return c.double(p)
		}
		return infinity()
	}
	h := new(big.Int).Sub(u2, u1)
	r := new(big.Int).Sub(s2, s1)
	hh := new(big.Int).Mul(h, h)
	hh.Mod(hh, m)
	hhh := new(big.Int).Mul(hh, h)
	hhh.Mod(hhh, m)
	v := new(big.Int).Mul(u1, hh)
	v.Mod(v, m)
	x3 := new(big.Int).Mul(r, r)
	x3.Sub(x3, hhh).Sub(x3, new(big.Int).Lsh(v, 1)).Mod(x3, m)
	y3 := new(big.Int).Sub(v, x3)
	y3.Mul(y3, r).Sub(y3, new(big.Int).Mul(s1, hhh)).Mod(y3, m)
	z3 := new(big.Int).Mul(p.z, q.z)
	z3.Mul(z3, h).Mod(z3, m)
	return jpoint{x3, y3, z3}
}

// mul is k·p by double-and-add: variable time (see the package comment).
func (c *Curve) mul(p jpoint, k *big.Int) jpoint {
	r := infinity()
	for i := k.BitLen() - 1; i >= 0; i-- {
		r = c.double(r)
		if k.Bit(i) == 1 {
			r = c.add(r, p)
		}
	}
	return r
}

// mul2 is a·p + b·q with Shamir's trick, for ECDSA verification.
func (c *Curve) mul2(a *big.Int, p jpoint, b *big.Int, q jpoint) jpoint {
	pq := c.add(p, q)
	r := infinity()
	n := max(a.BitLen(), b.BitLen())
	for i := n - 1; i >= 0; i-- {
		r = c.double(r)
		switch {
		case a.Bit(i) == 1 && b.Bit(i) == 1:
			r = c.add(r, pq)
		case a.Bit(i) == 1:
			r = c.add(r, p)
		case b.Bit(i) == 1:
			r = c.add(r, q)
		}
	}
	return r
}

// toAffine returns (X/Z², Y/Z³); p must not be infinity.
func (c *Curve) toAffine(p jpoint) (x, y *big.Int) {
	zi := new(big.Int).ModInverse(p.z, c.P)
	zi2 := new(big.Int).Mul(zi, zi)
	zi2.Mod(zi2, c.P)
	x = new(big.Int).Mul(p.x, zi2)
	x.Mod(x, c.P)
	y = new(big.Int).Mul(p.y, zi2)
	y.Mul(y, zi).Mod(y, c.P)
	return x, y
}
