package lds_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"testing"

	"github.com/kayle-id/orgs-api/verify/lds"
)

type keyCase struct {
	name string
	key  crypto.Signer
}

func testKeys(t testing.TB) []keyCase {
	t.Helper()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	return []keyCase{{"RSA-2048", rsaKey}, {"P-256", p256}, {"P-384", p384}}
}

// Every combination of key, hash, signed attributes and signer identifier
// parses back into the fields the builder wrote.
func TestParseSODFields(t *testing.T) {
	dgs := syntheticDataGroups()
	for _, kc := range testKeys(t) {
		s := newSigner(t, kc.key)
		for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256, crypto.SHA384, crypto.SHA512} {
			for _, attrs := range []bool{false, true} {
				for _, ski := range []bool{false, true} {
					spec := sodSpec{ldsHash: h, ldsVersion: int64(h) % 2, dataGroups: dgs, signedAttrs: attrs,
						ski: ski, sigHash: h, embedCert: !ski, wrap: attrs}
					name := fmt.Sprintf("%s/%v/attrs=%v/ski=%v", kc.name, h, attrs, ski)
					t.Run(name, func(t *testing.T) {
						der, ldsDER := buildSOD(t, s, spec)
						sod, err := lds.ParseSOD(der)
						if err != nil {
							t.Fatal(err)
						}
						checkSOD(t, sod, s, spec, ldsDER)
					})
				}
			}
		}
	}
}

func checkSOD(t *testing.T, sod *lds.SOD, s signer, spec sodSpec, ldsDER []byte) {
	t.Helper()
	sd := sod.SignedData
	if !sd.EContentType.Equal(lds.OIDLDSSecurityObject) || !bytes.Equal(sd.EContent, ldsDER) {
		t.Fatalf("eContent %v %x", sd.EContentType, sd.EContent)
	}
	if len(sd.DigestAlgorithms) != 1 || lds.HashForOID(sd.DigestAlgorithms[0].Algorithm) != spec.sigHash {
		t.Fatalf("digestAlgorithms %v", sd.DigestAlgorithms)
	}
	if spec.embedCert != (len(sd.Certificates) == 1) || spec.embedCert && !bytes.Equal(sd.Certificates[0], s.cert.Raw) {
		t.Fatalf("certificates: %d", len(sd.Certificates))
	}
	if len(sd.SignerInfos) != 1 {
		t.Fatalf("%d signer infos", len(sd.SignerInfos))
	}
	si := sd.SignerInfos[0]
	if spec.ski {
		if !si.SID.IsSubjectKeyIdentifier() || !bytes.Equal(si.SID.SubjectKeyIdentifier, s.cert.SubjectKeyId) || si.Version != 3 {
			t.Fatalf("sid %+v version %d", si.SID, si.Version)
		}
	} else {
		if si.SID.IsSubjectKeyIdentifier() || !bytes.Equal(si.SID.Issuer, s.cert.RawIssuer) ||
			si.SID.SerialNumber.Cmp(s.cert.SerialNumber) != 0 || !bytes.Equal(si.SID.SerialBytes, []byte{0x00, 0x87, 0xd1, 0x22}) {
			t.Fatalf("sid %+v", si.SID)
		}
	}
	if lds.HashForOID(si.DigestAlgorithm.Algorithm) != spec.sigHash || len(si.Signature) == 0 {
		t.Fatalf("digest %v", si.DigestAlgorithm)
	}
	// The signature verifies with Go's crypto over what the parser says it covers.
	signed := sd.EContent
	if spec.signedAttrs {
		if si.SignedAttrs[0] != 0xA0 || si.SignedAttrsDER()[0] != 0x31 || si.SignedAttrs[0] != 0xA0 {
			t.Fatal("signed attributes tag")
		}
		if !si.ContentType.Equal(lds.OIDLDSSecurityObject) || !bytes.Equal(si.MessageDigest, hashOf(spec.sigHash, ldsDER)) {
			t.Fatalf("content-type %v message-digest %x", si.ContentType, si.MessageDigest)
		}
		if len(si.Attributes) != 2 {
			t.Fatalf("%d attributes", len(si.Attributes))
		}
		signed = si.SignedAttrsDER()
	} else if si.SignedAttrs != nil || si.MessageDigest != nil || si.ContentType != nil {
		t.Fatal("signed attributes where none were written")
	}
	digest := hashOf(spec.sigHash, signed)
	switch pub := s.key.Public().(type) {
	case *rsa.PublicKey:
		if err := rsa.VerifyPKCS1v15(pub, spec.sigHash, digest, si.Signature); err != nil {
			t.Fatal(err)
		}
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(pub, digest, si.Signature) {
			t.Fatal("ECDSA signature does not verify over the parsed signed bytes")
		}
	}
	l := sod.LDS
	if l.Version != spec.ldsVersion || l.HashFunc() != spec.ldsHash || len(l.DataGroupHashes) != len(spec.dataGroups) {
		t.Fatalf("LDS %+v", l)
	}
	if (l.VersionInfo != nil) != (spec.ldsVersion == 1) ||
		l.VersionInfo != nil && (l.VersionInfo.LDSVersion != "0108" || l.VersionInfo.UnicodeVersion != "040000") {
		t.Fatalf("LDSVersionInfo %+v", l.VersionInfo)
	}
	for n, dg := range spec.dataGroups {
		h, ok := l.Hash(n)
		if !ok || !bytes.Equal(h, hashOf(spec.ldsHash, dg)) {
			t.Fatalf("DG%d hash %x", n, h)
		}
	}
	if _, ok := l.Hash(3); ok {
		t.Fatal("DG3 hash reported")
	}
}

func TestSODRefusals(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	s := newSigner(t, p256)
	base := sodSpec{ldsHash: crypto.SHA256, dataGroups: syntheticDataGroups(), signedAttrs: true, sigHash: crypto.SHA256, embedCert: true}

	// RFC 5652 §11.1: the signed content-type must equal eContentType.
	bad := base
	bad.contentTypeAttr = lds.OIDCSCAMasterList
	der, _ := buildSOD(t, s, bad)
	if _, err := lds.ParseSOD(der); !errors.Is(err, lds.ErrMalformed) {
		t.Fatalf("content-type mismatch: %v", err)
	}

	// A master list (another eContentType) is a SignedData but not an SOD.
	ml := buildMasterListLike(t, s)
	if _, err := lds.ParseContentInfo(ml); err != nil {
		t.Fatalf("generic SignedData: %v", err)
	}
	if _, err := lds.ParseSOD(ml); !errors.Is(err, lds.ErrMalformed) {
		t.Fatalf("master list as SOD: %v", err)
	}
}

// buildMasterListLike re-labels an SOD's content type, signed attributes off.
func buildMasterListLike(t *testing.T, s signer) []byte {
	spec := sodSpec{ldsHash: crypto.SHA256, dataGroups: syntheticDataGroups(), sigHash: crypto.SHA256}
	der, _ := buildSOD(t, s, spec)
	i := bytes.Index(der, []byte{0x06, 0x06, 0x67, 0x81, 0x08, 0x01, 0x01, 0x01})
	if i < 0 {
		t.Fatal("eContentType not found")
	}
	der = bytes.Clone(der)
	der[i+7] = 0x02
	return der
}
