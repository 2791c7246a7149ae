package ecc

import (
	"crypto/rand"
	"math/big"
	"testing"
)

// signForTest is textbook ECDSA (SEC 1 §4.1.3), only to exercise
// verification on curves the standard library lacks.
func signForTest(t *testing.T, k *PrivateKey, hash []byte) (r, s *big.Int) {
	c := k.Curve
	for {
		e, err := GenerateKey(c, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		r = new(big.Int).Mod(e.X, c.N)
		if r.Sign() == 0 {
			continue
		}
		s = new(big.Int).Mul(r, k.D)
		s.Add(s, hashToInt(hash, c.N))
		s.Mul(s, new(big.Int).ModInverse(e.D, c.N)).Mod(s, c.N)
		if s.Sign() != 0 {
			return r, s
		}
	}
}

func TestStressGenericVerify(t *testing.T) {
	for _, c := range []*Curve{BrainpoolP256t1, BrainpoolP256r1} {
		for i := 0; i < 40; i++ {
			k, _ := GenerateKey(c, rand.Reader)
			h := make([]byte, 32)
			rand.Read(h)
			r, s := signForTest(t, k, h)
			if !VerifyECDSA(&k.PublicKey, h, r, s) {
				t.Fatalf("%s iteration %d: d=%x r=%x s=%x h=%x", c.Name, i, k.D, r, s, h)
			}
		}
	}
}
