package truststore

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"math/big"
	"testing"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	"github.com/kayle-id/orgs-api/verify/lds"
)

// The math/big ECDSA verifier (for brainpool master-list signers) agrees
// with crypto/ecdsa on the NIST curves, where both apply: every signature
// crypto/ecdsa makes verifies, and a changed digest does not.
func TestGenericECDSAAgreesWithCryptoECDSA(t *testing.T) {
	for _, c := range []elliptic.Curve{elliptic.P256(), elliptic.P384(), elliptic.P521()} {
		var params *lds.ECParameters
		for _, p := range lds.KnownCurves() {
			if p.Name == c.Params().Name {
				params = p
			}
		}
		if params == nil {
			t.Fatalf("lds has no %s", c.Params().Name)
		}
		for range 5 {
			k, _ := ecdsa.GenerateKey(c, rand.Reader)
			sum := sha256.Sum256([]byte(c.Params().Name))
			der, _ := ecdsa.SignASN1(rand.Reader, k, sum[:])
			in := cryptobyte.String(der)
			var seq cryptobyte.String
			var r, s big.Int
			if !in.ReadASN1(&seq, asn1.SEQUENCE) || !seq.ReadASN1Integer(&r) || !seq.ReadASN1Integer(&s) {
				t.Fatal("signature")
			}
			if !verifyECDSAGeneric(params, k.X, k.Y, sum[:], &r, &s) {
				t.Fatalf("%s: a crypto/ecdsa signature does not verify", c.Params().Name)
			}
			sum[0] ^= 1
			if verifyECDSAGeneric(params, k.X, k.Y, sum[:], &r, &s) {
				t.Fatalf("%s: a changed digest verifies", c.Params().Name)
			}
		}
	}
}
