package activeauth_test

import (
	"crypto/rsa"
	"math/big"
	"testing"

	"github.com/kayle-id/orgs-api/verify/activeauth"
	"github.com/kayle-id/orgs-api/verify/ecc"
)

// Signatures are attacker-controlled input: any bytes give an error or nil,
// never a panic (a fixed key keeps each iteration cheap).
func FuzzVerify(f *testing.F) {
	n, _ := new(big.Int).SetString("c7f1b3a8d2e94f6b8a1d3c5e7f9b2d4f6a8c0e1b3d5f7a9c2e4b6d8f0a1c3e5b7d9f2a4c6e8b0d1f3a5c7e9b2d4f6a8c0e1b3d5f7a9c2e4b6d8f0a1c3e5b7d9f2a4c6e8b0d1f3a5c7e9b2d4f6a8c0e1b3d5f7a9c2e4b6d8f0a1c3e5b7d9f2a4c6e8b0d1f3a5c7e9b2d4f6a8c0e1b3d5f7a9c2e4b6d8f0a1c3e5b7d9f2a4c6e8b0d1f3a5c7e9b2d4f6a8c0e1b3d5f7a9c2e4b6d", 16)
	pub := &rsa.PublicKey{N: n, E: 65537}
	k, _ := ecc.NewPrivateKey(ecc.BrainpoolP256r1, big.NewInt(12345))
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8}, make([]byte, 128))
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8}, make([]byte, 64))
	f.Fuzz(func(t *testing.T, chal, sig []byte) {
		if activeauth.VerifyRSA(pub, chal, sig) == nil {
			t.Fatal("random signature verified")
		}
		_ = activeauth.VerifyECDSA(&k.PublicKey, chal, sig, 0)
	})
}
