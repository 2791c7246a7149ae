// Package doctest builds synthetic travel-document chip data for tests:
// an EF.SOD signed by a DSC (CMS by hand, RFC 5652 §5; RSA PKCS #1 v1.5,
// RSA-PSS, ECDSA in DER or plain form), DG14 with chip and active
// authentication infos, DG15, an active-authentication signature and a chip
// authentication transcript computed with crypto/ecdh.
package doctest

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	encasn1 "encoding/asn1"
	"math/big"
	"sort"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	"github.com/kayle-id/orgs-api/verify/chipauth"
	"github.com/kayle-id/orgs-api/verify/mrz"
)

var (
	oidLDS           = encasn1.ObjectIdentifier{2, 23, 136, 1, 1, 1}
	oidSignedData    = encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidContentType   = encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidMessageDigest = encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidAA            = encasn1.ObjectIdentifier{2, 23, 136, 1, 1, 5}
	// OIDECDSAPlainSHA256 is ecdsa-plain-SHA256 (BSI TR-03111).
	OIDECDSAPlainSHA256 = encasn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 1, 1, 4, 1, 3}
	// OIDCAECDHAES128 is id-CA-ECDH-AES-CBC-CMAC-128.
	OIDCAECDHAES128 = encasn1.ObjectIdentifier{0, 4, 0, 127, 0, 7, 2, 2, 3, 2, 2}
)

// TD3 is ICAO 9303-4's specimen passport MRZ (Utopia, check digits valid).
const TD3 = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<" + "L898902C36UTO7408122F1204159ZE184226B<<<<<10"

func sum256(b []byte) []byte { h := sha256.Sum256(b); return h[:] }

func addAlg(b *cryptobyte.Builder, oid encasn1.ObjectIdentifier) {
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oid) })
}

// Wrap puts v in a constructed application tag (one byte: 0x61 DG1,
// 0x6E DG14, 0x6F DG15, 0x75 DG2, 0x77 SOD).
func Wrap(tag byte, v []byte) []byte {
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(asn1.Tag(tag), func(b *cryptobyte.Builder) { b.AddBytes(v) })
	return b.BytesOrPanic()
}

// SOD signs an EF.SOD over dgs as a document does: SHA-256 hashes, signed
// attributes, the DSC embedded, issuerAndSerialNumber; PKCS #1 v1.5 for an
// RSA DSC, ECDSA for an EC one (BuildSOD for the other forms).
func SOD(t testing.TB, dsc *x509.Certificate, key crypto.Signer, dgs map[int][]byte) []byte {
	t.Helper()
	return BuildSOD(t, SignerOf(dsc, key), dgs, SODSpec{SignedAttrs: true, Embed: true})
}

// DG14 holds a ChipAuthenticationInfo (version 2, id-CA-ECDH-AES-128, no key
// id), the chip's key as a ChipAuthenticationPublicKeyInfo (id-PK-ECDH) and,
// when aaAlg is not nil, an ActiveAuthenticationInfo naming it.
func DG14(t testing.TB, chipSPKI []byte, aaAlg encasn1.ObjectIdentifier) []byte {
	t.Helper()
	var infos [][]byte
	add := func(f func(b *cryptobyte.Builder)) {
		b := cryptobyte.NewBuilder(nil)
		b.AddASN1(asn1.SEQUENCE, f)
		infos = append(infos, b.BytesOrPanic())
	}
	add(func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(OIDCAECDHAES128)
		b.AddASN1Int64(2)
	})
	add(func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(chipauth.OIDPKECDH)
		b.AddBytes(chipSPKI)
	})
	if aaAlg != nil {
		add(func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oidAA)
			b.AddASN1Int64(1)
			b.AddASN1ObjectIdentifier(aaAlg)
		})
	}
	sort.Slice(infos, func(i, j int) bool { return bytes.Compare(infos[i], infos[j]) < 0 })
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(asn1.SET, func(b *cryptobyte.Builder) { b.AddBytes(bytes.Join(infos, nil)) })
	return Wrap(0x6E, b.BytesOrPanic())
}

// AASignP256 is the chip's active-authentication answer: ECDSA with SHA-256
// over the challenge, plain r‖s (BSI TR-03111 §5.2.1).
func AASignP256(t testing.TB, key *ecdsa.PrivateKey, challenge []byte) []byte {
	t.Helper()
	r, s, err := ecdsa.Sign(rand.Reader, key, sum256(challenge))
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, 64)
	r.FillBytes(out[:32])
	s.FillBytes(out[32:])
	return out
}

// CATranscript records a chip authentication (id-CA-ECDH-AES-128) the way a
// chip with private key chip answers it: an ephemeral P-256 terminal key,
// K = ECDH, K_MAC = KDF(K, nonce, 2), the token over the terminal key.
func CATranscript(t testing.TB, chip *ecdh.PrivateKey) []byte {
	t.Helper()
	term, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := chip.ECDH(term.PublicKey()) // the chip's side of the agreement
	if err != nil {
		t.Fatal(err)
	}
	nonce := make([]byte, 8)
	rand.Read(nonce)
	kMAC := chipauth.KDF(k, nonce, chipauth.CounterMAC, chipauth.AES128)
	pk := term.PublicKey().Bytes()
	tok, err := chipauth.Token(chipauth.AES128, kMAC, chipauth.TokenInput(OIDCAECDHAES128, false, pk))
	if err != nil {
		t.Fatal(err)
	}
	tr := &chipauth.Transcript{OID: OIDCAECDHAES128, TerminalPrivate: term.Bytes(), TerminalPublic: pk, Nonce: nonce, Token: tok}
	out, err := tr.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// AASignRSA is an RSA chip's active-authentication answer: ISO/IEC 9796-2
// scheme 1 with partial recovery and SHA-1 (trailer BC), J = 6A ‖ M1 ‖
// SHA-1(M1 ‖ challenge) ‖ BC, s = J^d mod n (ICAO 9303-11 §6.1).
func AASignRSA(t testing.TB, k *rsa.PrivateKey, challenge []byte) []byte {
	t.Helper()
	n := k.Size()
	m1 := make([]byte, n-2-sha1.Size)
	rand.Read(m1)
	h := sha1.Sum(append(append([]byte{}, m1...), challenge...))
	j := append(append(append([]byte{0x6A}, m1...), h[:]...), 0xBC)
	s := new(big.Int).Exp(new(big.Int).SetBytes(j), k.D, k.N)
	return s.FillBytes(make([]byte, n))
}

// Document is a whole synthetic document: DG1 of TD3, a DG2 stand-in,
// DG14 with the chip key (P-256) and an AA info (ecdsa-plain-SHA256), DG15
// with the AA key, the SOD signed by DSC over all four, and the AA and CA
// records.
type Document struct {
	DG1, DG2, DG14, DG15, SOD []byte
	AAChallenge, AASignature  []byte
	CATranscript              []byte
	// AAKey is DG15's key: *ecdsa.PrivateKey (P-256) or *rsa.PrivateKey.
	AAKey   crypto.Signer
	ChipKey *ecdh.PrivateKey
	DSC     *x509.Certificate
	DSCKey  crypto.Signer
	// Spec is how Sign builds the SOD (SignedAttrs and Embed by default).
	Spec SODSpec
}

// New builds a Document signed by dsc (RSA or EC) with a P-256 AA key.
func New(t testing.TB, dsc *x509.Certificate, dscKey crypto.Signer) *Document {
	t.Helper()
	aa, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return NewWithAAKey(t, dsc, dscKey, aa)
}

// NewWithAAKey builds a Document whose DG15 holds aaKey's public key (a
// P-256 *ecdsa.PrivateKey or an *rsa.PrivateKey) and whose AA signature
// is aaKey's answer: plain ECDSA or ISO/IEC 9796-2.
func NewWithAAKey(t testing.TB, dsc *x509.Certificate, dscKey, aaKey crypto.Signer) *Document {
	t.Helper()
	d := &Document{DSC: dsc, DSCKey: dscKey, AAKey: aaKey, Spec: SODSpec{SignedAttrs: true, Embed: true}}
	var err error
	if d.ChipKey, err = ecdh.P256().GenerateKey(rand.Reader); err != nil {
		t.Fatal(err)
	}
	aaSPKI, err := x509.MarshalPKIXPublicKey(aaKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	chipSPKI, err := x509.MarshalPKIXPublicKey(d.ChipKey.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	d.DG1 = mrz.EncodeDG1(TD3)
	d.DG2 = Wrap(0x75, []byte("a DG2 stand-in: no portrait is read by these checks"))
	d.DG15 = Wrap(0x6F, aaSPKI)
	d.AAChallenge = []byte{1, 2, 3, 4, 5, 6, 7, 8}
	switch k := aaKey.(type) {
	case *ecdsa.PrivateKey:
		d.DG14 = DG14(t, chipSPKI, OIDECDSAPlainSHA256)
		d.AASignature = AASignP256(t, k, d.AAChallenge)
	case *rsa.PrivateKey:
		d.DG14 = DG14(t, chipSPKI, nil) // RSA AA names its hash in the trailer
		d.AASignature = AASignRSA(t, k, d.AAChallenge)
	default:
		t.Fatalf("AA key %T", aaKey)
	}
	d.CATranscript = CATranscript(t, d.ChipKey)
	d.Sign(t)
	return d
}

// Sign (re)signs the SOD over the current data groups.
func (d *Document) Sign(t testing.TB) {
	t.Helper()
	d.SOD = BuildSOD(t, SignerOf(d.DSC, d.DSCKey), map[int][]byte{1: d.DG1, 2: d.DG2, 14: d.DG14, 15: d.DG15}, d.Spec)
}

// Chain is a CSCA, a DSC under it and the CSCA's current CRL (no entries),
// for keys pkdtest does not make (RSA): ICAO 9303-12 §7.1 profiles, the
// CSCA's subject the multi-valued RDN of upstream's test chain.
type Chain struct {
	CSCA, DSC       *x509.Certificate
	CSCAKey, DSCKey crypto.Signer
	CRL             []byte
}

// NewChain issues a chain of country UT valid around at, signed with the
// keys given; the CRL's thisUpdate is a month before at, nextUpdate two
// months after.
func NewChain(t testing.TB, cscaKey, dscKey crypto.Signer, at time.Time) *Chain {
	t.Helper()
	subject, err := encasn1.Marshal(pkix.RDNSequence{{
		{Type: encasn1.ObjectIdentifier{2, 5, 4, 6}, Value: "UT"},
		{Type: encasn1.ObjectIdentifier{2, 5, 4, 3}, Value: "Kayle Test CSCA"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	ski := func(k crypto.Signer) []byte {
		der, err := x509.MarshalPKIXPublicKey(k.Public())
		if err != nil {
			t.Fatal(err)
		}
		return HashOf(crypto.SHA1, der)
	}
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1001), RawSubject: subject,
		NotBefore: at.AddDate(-2, 0, 0), NotAfter: at.AddDate(20, 0, 0),
		IsCA: true, BasicConstraintsValid: true, MaxPathLenZero: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, SubjectKeyId: ski(cscaKey),
	}
	c := &Chain{CSCAKey: cscaKey, DSCKey: dscKey}
	parse := func(der []byte, err error) *x509.Certificate {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return cert
	}
	c.CSCA = parse(x509.CreateCertificate(rand.Reader, ca, ca, cscaKey.Public(), cscaKey))
	c.DSC = parse(x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: new(big.Int).SetUint64(0x87d12001), Subject: pkix.Name{Country: []string{"UT"}, CommonName: "Kayle Test DSC"},
		NotBefore: at.AddDate(-1, 0, 0), NotAfter: at.AddDate(10, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, SubjectKeyId: ski(dscKey),
	}, c.CSCA, dscKey.Public(), cscaKey))
	if c.CRL, err = x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(1), ThisUpdate: at.AddDate(0, -1, 0), NextUpdate: at.AddDate(0, 2, 0),
	}, c.CSCA, cscaKey); err != nil {
		t.Fatal(err)
	}
	return c
}
