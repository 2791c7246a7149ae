package truststore

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	encasn1 "encoding/asn1"
	"testing"

	"github.com/kayle-id/orgs-api/verify/lds"
)

// The master lists' signature check (passive authentication's, which takes
// brainpool and explicit curves too) agrees with crypto/ecdsa on the NIST
// curves: every signature crypto/ecdsa makes verifies, and a changed
// message does not.
func TestGenericECDSAAgreesWithCryptoECDSA(t *testing.T) {
	alg := lds.AlgorithmIdentifier{Algorithm: encasn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}} // ecdsa-with-SHA256
	for _, c := range []elliptic.Curve{elliptic.P256(), elliptic.P384(), elliptic.P521()} {
		for range 5 {
			k, _ := ecdsa.GenerateKey(c, rand.Reader)
			spki, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
			if err != nil {
				t.Fatal(err)
			}
			msg := []byte(c.Params().Name)
			sum := sha256.Sum256(msg)
			der, _ := ecdsa.SignASN1(rand.Reader, k, sum[:])
			if err := verifySignature(spki, alg, 0, msg, der); err != nil {
				t.Fatalf("%s: a crypto/ecdsa signature does not verify: %v", c.Params().Name, err)
			}
			msg[0] ^= 1
			if verifySignature(spki, alg, 0, msg, der) == nil {
				t.Fatalf("%s: a changed digest verifies", c.Params().Name)
			}
		}
	}
}
