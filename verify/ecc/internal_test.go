package ecc

import (
	"bytes"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"math/big"
	"testing"
)

// The generic arithmetic agrees with crypto/ecdsa and crypto/ecdh on the
// NIST curves, where the standard library is the independent answer.
func TestGenericMatchesStdlib(t *testing.T) {
	n := 40
	if testing.Short() {
		n = 5
	}
	for _, c := range []*Curve{P256, P384, P521} {
		for i := 0; i < n; i++ {
			sk, err := ecdsa.GenerateKey(c.stdElliptic, rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := sk.PublicKey.Bytes()
			pub, err := ParsePoint(c, raw)
			if err != nil {
				t.Fatal(err)
			}
			d, _ := sk.Bytes()
			mine, err := NewPrivateKey(c, new(big.Int).SetBytes(d))
			if err != nil || !mine.PublicKey.Equal(pub) {
				t.Fatalf("%s: d·G differs from crypto/ecdsa", c.Name)
			}
			digest := sha256.Sum256([]byte{byte(i)})
			r, s, err := ecdsa.Sign(rand.Reader, sk, digest[:])
			if err != nil {
				t.Fatal(err)
			}
			if !c.verifyGeneric(pub, digest[:], r, s) {
				t.Fatalf("%s: generic verify refused a crypto/ecdsa signature", c.Name)
			}
			if c.verifyGeneric(pub, digest[:], s, r) {
				t.Fatalf("%s: swapped r, s accepted", c.Name)
			}
			peer, _ := c.stdECDH.GenerateKey(rand.Reader)
			want, _ := mustECDH(t, sk, peer.PublicKey())
			pp, err := ParsePoint(c, peer.PublicKey().Bytes())
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.ecdhGeneric(mine.D, pp)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%s: generic ECDH differs from crypto/ecdh", c.Name)
			}
		}
	}
}

func mustECDH(t *testing.T, sk *ecdsa.PrivateKey, peer *ecdh.PublicKey) ([]byte, error) {
	t.Helper()
	k, err := sk.ECDH()
	if err != nil {
		t.Fatal(err)
	}
	return k.ECDH(peer)
}

// Edge cases of the group law the random tests rarely reach.
func TestGroupLawEdges(t *testing.T) {
	for _, c := range Curves() {
		g := c.generator()
		nm1 := new(big.Int).Sub(c.N, big.NewInt(1))
		x, y := c.toAffine(c.mul(g, nm1)) // −G
		if x.Cmp(c.Gx) != 0 || new(big.Int).Add(y, c.Gy).Cmp(c.P) != 0 {
			t.Fatalf("%s: (n−1)·G ≠ −G", c.Name)
		}
		if !c.add(g, affine(x, y)).inf() {
			t.Fatalf("%s: G + (−G) ≠ O", c.Name)
		}
		x2, y2 := c.toAffine(c.add(g, g))
		x3, y3 := c.toAffine(c.double(g))
		if x2.Cmp(x3) != 0 || y2.Cmp(y3) != 0 {
			t.Fatalf("%s: G + G ≠ 2G", c.Name)
		}
		// mul2 with equal scalars and equal points goes through doubling.
		x4, y4 := c.toAffine(c.mul2(big.NewInt(3), g, big.NewInt(5), g))
		x5, y5 := c.toAffine(c.mul(g, big.NewInt(8)))
		if x4.Cmp(x5) != 0 || y4.Cmp(y5) != 0 {
			t.Fatalf("%s: 3G + 5G ≠ 8G", c.Name)
		}
	}
}
