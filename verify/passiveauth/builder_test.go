package passiveauth_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	encasn1 "encoding/asn1"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/kayle-id/orgs-api/verify/document/doctest"
	pa "github.com/kayle-id/orgs-api/verify/passiveauth"
)

// Test PKI and SOD builders (RFC 5280 via crypto/x509, CMS by hand as
// RFC 5652 §5 lays it out). OpenSSL checks what they make in
// openssl_test.go.

var (
	// The check time of every test: inside upstream's 2024–2049 validity.
	checkTime = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	notBefore = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	notAfter  = time.Date(2049, 12, 31, 23, 59, 59, 0, time.UTC)
)

// Keys are slow to make (RSA); each kind is made once per test binary.
var (
	keyMu    sync.Mutex
	keyCache = map[string]crypto.Signer{}
)

func testKey(t testing.TB, kind string) crypto.Signer {
	t.Helper()
	keyMu.Lock()
	defer keyMu.Unlock()
	if k, ok := keyCache[kind]; ok {
		return k
	}
	var k crypto.Signer
	var err error
	switch kind {
	case "p256", "p256b", "p256c":
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "p384":
		k, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "p521":
		k, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	case "rsa2048", "rsa2048b":
		k, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		t.Fatalf("unknown key kind %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	keyCache[kind] = k
	return k
}

// multiRDN is upstream's test-chain subject: one multi-valued RDN
// `C=UT + CN=<cn>` (behaviour-verify.md §9).
func multiRDN(t testing.TB, country, cn string) []byte {
	t.Helper()
	der, err := encasn1.Marshal(pkix.RDNSequence{{
		{Type: encasn1.ObjectIdentifier{2, 5, 4, 6}, Value: country},
		{Type: encasn1.ObjectIdentifier{2, 5, 4, 3}, Value: cn},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return der
}

type pki struct {
	key  crypto.Signer
	cert *x509.Certificate
}

type certSpec struct {
	rawSubject []byte
	subject    pkix.Name
	serial     int64
	notBefore  time.Time
	notAfter   time.Time
	isCA       bool
	noBC       bool // no basicConstraints extension
	keyUsage   x509.KeyUsage
	ski        []byte
	sigAlg     x509.SignatureAlgorithm
}

func makeCert(t testing.TB, spec certSpec, pub crypto.PublicKey, parent *pki, selfKey crypto.Signer) *x509.Certificate {
	t.Helper()
	if spec.notBefore.IsZero() {
		spec.notBefore = notBefore
	}
	if spec.notAfter.IsZero() {
		spec.notAfter = notAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(spec.serial), Subject: spec.subject, RawSubject: spec.rawSubject,
		NotBefore: spec.notBefore, NotAfter: spec.notAfter,
		IsCA: spec.isCA, BasicConstraintsValid: !spec.noBC, KeyUsage: spec.keyUsage,
		SubjectKeyId: spec.ski, SignatureAlgorithm: spec.sigAlg,
	}
	if spec.isCA {
		tmpl.MaxPathLenZero = true
	}
	issuer, signKey := tmpl, selfKey
	if parent != nil {
		issuer, signKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, pub, signKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// newCSCA makes a self-signed CSCA profiled as ICAO 9303-12 §7.1.1 asks.
func newCSCA(t testing.TB, keyKind, country, cn string, mod func(*certSpec)) *pki {
	key := testKey(t, keyKind)
	spec := certSpec{rawSubject: multiRDN(t, country, cn), serial: 1001, isCA: true,
		keyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	if mod != nil {
		mod(&spec)
	}
	return &pki{key: key, cert: makeCert(t, spec, key.Public(), nil, key)}
}

// newDSC makes a document signer under ca.
func newDSC(t testing.TB, ca *pki, keyKind, country string, mod func(*certSpec)) *pki {
	key := testKey(t, keyKind)
	spec := certSpec{rawSubject: multiRDN(t, country, "Test DSC "+keyKind), serial: 2001, noBC: true,
		keyUsage: x509.KeyUsageDigitalSignature, ski: []byte(keyKind + "-ski-0123456789")[:20]}
	if mod != nil {
		mod(&spec)
	}
	return &pki{key: key, cert: makeCert(t, spec, key.Public(), ca, nil)}
}

func newCRL(t testing.TB, ca *pki, this, next time.Time, revoked ...*big.Int) []byte {
	t.Helper()
	tmpl := &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: this, NextUpdate: next}
	for _, s := range revoked {
		tmpl.RevokedCertificateEntries = append(tmpl.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: s, RevocationTime: this})
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.cert, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// Synthetic data groups (ICAO 9303-10 §4.7): DG1 a TD3 MRZ in 61/5F1F,
// DG2 a stand-in biometric template, DG14 and DG15 tagged blobs (their
// content is other packages' business; only their hashes matter here).
func dataGroups() map[int][]byte {
	mrz := "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<" + "L898902C36UTO7408122F1204159ZE184226B<<<<<10"
	dg1 := append([]byte{0x61, 0x5b, 0x5f, 0x1f, 0x58}, mrz...)
	return map[int][]byte{
		1:  dg1,
		2:  append([]byte{0x75, 0x82, 0x01, 0x2c}, bytes.Repeat([]byte{0x7f}, 300)...),
		14: {0x6e, 0x03, 0x31, 0x01, 0x00},
		15: {0x6f, 0x03, 0x30, 0x01, 0x00},
	}
}

// The SOD builder is doctest's, shared with verify/lds and verify/document.
type sodSpec = doctest.SODSpec

// buildSOD signs an EF.SOD (ICAO 9303-10 §4.6.2) over dgs with dsc.
func buildSOD(t testing.TB, dsc *x509.Certificate, key crypto.Signer, dgs map[int][]byte, spec sodSpec) []byte {
	t.Helper()
	return doctest.BuildSOD(t, doctest.SignerOf(dsc, key), dgs, spec)
}

// buildSODRaw signs with spec.Sign for a DSC crypto/x509 cannot parse
// (brainpool); spec.SigAlg names the algorithm.
func buildSODRaw(t testing.TB, dscDER []byte, dgs map[int][]byte, spec sodSpec) []byte {
	t.Helper()
	c, err := pa.ParseCertificate(dscDER)
	if err != nil {
		t.Fatal(err)
	}
	return doctest.BuildSOD(t, doctest.Signer{Raw: c.Raw, Issuer: c.RawIssuer, SKI: c.SubjectKeyID,
		Serial: new(big.Int).SetBytes(c.SerialBytes)}, dgs, spec)
}
