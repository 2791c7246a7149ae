package ecc_test

import (
	"encoding/asn1"
	"math/big"
	"os"
	"testing"

	"github.com/kayle-id/orgs-api/verify/ecc"
)

func FuzzParsePoint(f *testing.F) {
	for _, c := range ecc.Curves() {
		k, _ := ecc.NewPrivateKey(c, big.NewInt(2))
		f.Add(k.PublicKey.Bytes())
	}
	f.Add([]byte{0})
	f.Add([]byte{2, 1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, c := range []*ecc.Curve{ecc.P256, ecc.BrainpoolP256r1, ecc.BrainpoolP384t1} {
			if p, err := ecc.ParsePoint(c, b); err == nil {
				q, err := ecc.ParsePoint(c, p.Bytes())
				if err != nil || !q.Equal(p) {
					t.Fatal("a parsed point does not round-trip")
				}
			}
		}
	})
}

func FuzzParseDERSignature(f *testing.F) {
	f.Add([]byte{0x30, 6, 2, 1, 5, 2, 1, 9})
	f.Add([]byte{0x30, 0x80, 2, 1, 5, 2, 1, 9, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, s, err := ecc.ParseDERSignature(b)
		if err != nil {
			return
		}
		if r.Sign() <= 0 || s.Sign() <= 0 {
			t.Fatal("non-positive component accepted")
		}
		again, _ := asn1.Marshal(struct{ R, S *big.Int }{r, s})
		if string(again) != string(b) {
			t.Fatalf("not canonical DER: %x vs %x", b, again)
		}
	})
}

// FuzzParseSubjectPublicKeyInfo and FuzzParseParameters are seeded with the
// DER OpenSSL writes for named and explicit brainpool parameters.
func FuzzParseParameters(f *testing.F) {
	for _, s := range paramSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ecc.ParseParameters(b)
		_, _ = ecc.ParseSubjectPublicKeyInfo(b)
	})
}

func paramSeeds(f *testing.F) [][]byte {
	seeds := [][]byte{{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}}
	for _, name := range []string{"testdata/brainpoolP256r1-explicit.der", "testdata/secp256k1-explicit.der", "testdata/brainpoolP256r1-spki.der"} {
		if b, err := os.ReadFile(name); err == nil {
			seeds = append(seeds, b)
		}
	}
	return seeds
}
