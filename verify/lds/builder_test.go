package lds_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	encasn1 "encoding/asn1"
	"math/big"
	"testing"
	"time"

	"github.com/kayle-id/orgs-api/verify/document/doctest"
)

// The tests' signers and SOD scenarios; the CMS SignedData (RFC 5652 §5)
// is doctest's builder, held to OpenSSL in openssl_test.go: `openssl cms
// -verify` accepts what it signs.

type signer struct {
	key  crypto.Signer
	cert *x509.Certificate
}

// newSigner makes a self-signed CA and a document signer under it with the
// given key; the signer carries a subject key identifier.
func newSigner(t testing.TB, key crypto.Signer) signer {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1001), Subject: pkix.Name{Country: []string{"UT"}, CommonName: "Test CSCA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	dscTmpl := &x509.Certificate{
		// A serial whose top bit is set, so its DER INTEGER needs a leading zero.
		SerialNumber: new(big.Int).SetBytes([]byte{0x87, 0xd1, 0x22}),
		Subject:      pkix.Name{Country: []string{"UT"}, CommonName: "Test DSC"},
		NotBefore:    now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, SubjectKeyId: []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20},
	}
	der, err := x509.CreateCertificate(rand.Reader, dscTmpl, ca, key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return signer{key: key, cert: cert}
}

type sodSpec struct {
	ldsHash     crypto.Hash
	ldsVersion  int64
	dataGroups  map[int][]byte
	signedAttrs bool
	ski         bool // subjectKeyIdentifier sid instead of issuerAndSerialNumber
	sigHash     crypto.Hash
	embedCert   bool
	wrap        bool // the 77 wrapper
	// contentTypeAttr overrides the signed content-type attribute.
	contentTypeAttr encasn1.ObjectIdentifier
}

// buildSOD signs an SOD with doctest's builder (shared with
// verify/passiveauth and verify/document) and returns it with the
// LDSSecurityObject it holds.
func buildSOD(t testing.TB, s signer, spec sodSpec) (sod, ldsDER []byte) {
	t.Helper()
	sod = doctest.BuildSOD(t, doctest.SignerOf(s.cert, s.key), spec.dataGroups, doctest.SODSpec{
		Hash: spec.sigHash, LDSHash: spec.ldsHash, LDSVersion: spec.ldsVersion, SignedAttrs: spec.signedAttrs,
		ContentTypeAttr: spec.contentTypeAttr, SKI: spec.ski, Embed: spec.embedCert, Bare: !spec.wrap,
	})
	return sod, doctest.LDSSecurityObject(spec.ldsVersion, spec.ldsHash, spec.dataGroups)
}

var hashOf = doctest.HashOf

func syntheticDataGroups() map[int][]byte {
	return map[int][]byte{
		1:  []byte("\x61\x5b\x5f\x1f\x58P<UTOERIKSSON<<ANNA<MARIA"),
		2:  bytes.Repeat([]byte{0x7f}, 300),
		14: []byte{0x6e, 0x00},
		15: []byte{0x6f, 0x00},
	}
}
