package lds_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"testing"

	"github.com/kayle-id/orgs-api/verify/lds"
)

// Fuzz targets: no input makes a parser panic; the seeds (valid objects
// built like the tests build them) run in every go test.

func FuzzParseSOD(f *testing.F) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	s := newSigner(f, k)
	for _, spec := range []sodSpec{
		{ldsHash: crypto.SHA256, ldsVersion: 1, dataGroups: syntheticDataGroups(), signedAttrs: true, sigHash: crypto.SHA256, embedCert: true, wrap: true},
		{ldsHash: crypto.SHA1, dataGroups: syntheticDataGroups(), ski: true, sigHash: crypto.SHA512},
	} {
		der, _ := buildSOD(f, s, spec)
		f.Add(der)
	}
	f.Add(deepEContent(3))
	f.Fuzz(func(t *testing.T, b []byte) {
		sod, err := lds.ParseSOD(b)
		if err == nil {
			// What parsed is internally consistent.
			for _, si := range sod.SignedData.SignerInfos {
				_ = si.SignedAttrsDER()
			}
			_, _ = sod.LDS.Hash(1)
		}
	})
}

func FuzzParseDG14(f *testing.F) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	spki, _ := x509.MarshalPKIXPublicKey(k.Public())
	f.Add(buildDG14(true, caInfo(oidCAECDHAES128, 2, 1), pkInfo(lds.OIDPKECDH, spki, 1), pkInfo(lds.OIDPKDH, dhSPKI(), -1)))
	f.Add(buildDG14(false, caInfo(oidPACEECDHGM, 2, 13)))
	f.Fuzz(func(t *testing.T, b []byte) { _, _ = lds.ParseDG14(b) })
}

func FuzzParseDG15(f *testing.F) {
	k, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	spki, _ := x509.MarshalPKIXPublicKey(k.Public())
	f.Add(spki)
	f.Add(explicitP256(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		if k, err := lds.ParseDG15(b); err == nil && k.EC != nil && !k.EC.Params.OnCurve(k.EC.X, k.EC.Y) {
			t.Fatal("a parsed EC key is off its curve")
		}
		_, _ = lds.ParseECParameters(b)
	})
}

func FuzzDecodeTLV(f *testing.F) {
	f.Add([]byte{0x75, 0x0a, 0x7F, 0x61, 0x07, 0x02, 0x01, 0x01, 0x5F, 0x2E, 0x00, 0x00})
	f.Add([]byte{0x5F, 0x1F, 0x02, 'P', '<'})
	f.Fuzz(func(t *testing.T, b []byte) {
		tl, err := lds.Decode(b, lds.Limits{MaxDepth: 8, MaxNodes: 256})
		if err == nil && len(tl.Raw) != len(b) {
			t.Fatal("decoded TLV does not span the input")
		}
	})
}
