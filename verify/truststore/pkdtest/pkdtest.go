// Package pkdtest builds synthetic ICAO PKD material for tests: CSCAs,
// DSCs, CRLs, CMS-signed CSCA master lists and the two LDIF downloads.
package pkdtest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	encasn1 "encoding/asn1"
	"encoding/base64"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// KeyCert is a certificate with its key.
type KeyCert struct {
	Key  *ecdsa.PrivateKey
	Cert *x509.Certificate
	DER  []byte
}

// Now is the material's reference time.
var Now = time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)

func mustKey(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func ski(k *ecdsa.PrivateKey) []byte {
	b, _ := k.PublicKey.Bytes()
	h := sha256.Sum256(b)
	return h[:20]
}

// NewCSCA makes a self-signed CSCA of the country, subject a multi-valued
// RDN (C + CN) as upstream's test chain has.
func NewCSCA(t testing.TB, country, cn string, serial int64) KeyCert {
	t.Helper()
	k := mustKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{ExtraNames: nil}, RawSubject: multiRDN(t, country, cn),
		NotBefore: Now.AddDate(-2, 0, 0), NotAfter: Now.AddDate(20, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		SubjectKeyId: ski(k),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return KeyCert{k, c, der}
}

func multiRDN(t testing.TB, country, cn string) []byte {
	rdn := pkix.RDNSequence{{
		{Type: encasn1.ObjectIdentifier{2, 5, 4, 6}, Value: country},
		{Type: encasn1.ObjectIdentifier{2, 5, 4, 3}, Value: cn},
	}}
	b, err := encasn1.Marshal(rdn)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Issue makes a certificate under ca (a DSC or a master-list signer).
func Issue(t testing.TB, ca KeyCert, country, cn string, serial *big.Int) KeyCert {
	t.Helper()
	k := mustKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{Country: []string{country}, CommonName: cn},
		NotBefore: Now.AddDate(-1, 0, 0), NotAfter: Now.AddDate(10, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, SubjectKeyId: ski(k),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, k.Public(), ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return KeyCert{k, c, der}
}

func NewCRL(t testing.TB, ca KeyCert, number int64, this time.Time, revoked ...*big.Int) []byte {
	t.Helper()
	var entries []x509.RevocationListEntry
	for _, s := range revoked {
		entries = append(entries, x509.RevocationListEntry{SerialNumber: s, RevocationTime: this})
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(number), ThisUpdate: this, NextUpdate: this.AddDate(0, 3, 0), RevokedCertificateEntries: entries,
	}, ca.Cert, ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

var (
	oidSignedData      = encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidMasterList      = encasn1.ObjectIdentifier{2, 23, 136, 1, 1, 2}
	oidSHA256          = encasn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidECDSAWithSHA256 = encasn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidContentType     = encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidMessageDigest   = encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
)

// CscaMasterList is CscaMasterList ::= SEQUENCE { version 0, SET OF Certificate }
// (ICAO 9303-12 §9), the certificates in DER SET order.
func CscaMasterList(certs ...[]byte) []byte {
	sorted := append([][]byte(nil), certs...)
	for i := range sorted { // insertion sort: DER orders SET OF by encoding
		for j := i; j > 0 && bytes.Compare(sorted[j], sorted[j-1]) < 0; j-- {
			sorted[j], sorted[j-1] = sorted[j-1], sorted[j]
		}
	}
	var b cryptobyte.Builder
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(0)
		b.AddASN1(asn1.SET, func(b *cryptobyte.Builder) {
			for _, c := range sorted {
				b.AddBytes(c)
			}
		})
	})
	return b.BytesOrPanic()
}

// SignMasterList is a minimal CMS SignedData builder (RFC 5652 §5): one
// signer by IssuerAndSerialNumber, signed attributes content-type and
// message-digest, ECDSA with SHA-256, the signer's certificate embedded.
// mutate, when set, changes the content after it was signed.
func SignMasterList(t testing.TB, signer KeyCert, content []byte, mutate func([]byte) []byte) []byte {
	t.Helper()
	digest := sha256.Sum256(content)
	attrs := func(b *cryptobyte.Builder) {
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oidContentType)
			b.AddASN1(asn1.SET, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oidMasterList) })
		})
		b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oidMessageDigest)
			b.AddASN1(asn1.SET, func(b *cryptobyte.Builder) { b.AddASN1OctetString(digest[:]) })
		})
	}
	var sa cryptobyte.Builder
	sa.AddASN1(asn1.SET, attrs)
	saDER := sa.BytesOrPanic()
	h := sha256.Sum256(saDER)
	sig, err := signer.Key.Sign(rand.Reader, h[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		content = mutate(bytes.Clone(content))
	}
	var b cryptobyte.Builder
	b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oidSignedData)
		b.AddASN1(asn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1Int64(1)
				b.AddASN1(asn1.SET, func(b *cryptobyte.Builder) {
					b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oidSHA256) })
				})
				b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1ObjectIdentifier(oidMasterList)
					b.AddASN1(asn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) { b.AddASN1OctetString(content) })
				})
				b.AddASN1(asn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes(signer.DER) })
				b.AddASN1(asn1.SET, func(b *cryptobyte.Builder) {
					b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1Int64(1)
						b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
							b.AddBytes(signer.Cert.RawIssuer)
							b.AddASN1BigInt(signer.Cert.SerialNumber)
						})
						b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oidSHA256) })
						b.AddASN1(asn1.Tag(0).Constructed().ContextSpecific(), attrs)
						b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(oidECDSAWithSHA256) })
						b.AddASN1OctetString(sig)
					})
				})
			})
		})
	})
	return b.BytesOrPanic()
}

// Entry is one record for WriteLDIF: the DN and attribute lines.
type Entry struct {
	DN    string
	Attrs []Attr
}

type Attr struct {
	Name  string
	Value []byte
	Form  string // "b64" (attr:: base64), "plain" (attr: value)
}

// WriteLDIF writes RFC 2849 LDIF: a version line, a comment, values folded
// at 76 columns (continuations start with one space), newline as given.
func WriteLDIF(nl string, entries []Entry) []byte {
	var b strings.Builder
	b.WriteString("version: 1" + nl)
	b.WriteString("# synthetic ICAO PKD download, made by the test;" + nl + "  this comment is folded" + nl + nl)
	fold := func(line string) {
		for len(line) > 76 {
			b.WriteString(line[:76] + nl + " ")
			line = line[76:]
		}
		b.WriteString(line + nl)
	}
	for _, e := range entries {
		fold("DN: " + e.DN)
		for _, a := range e.Attrs {
			if a.Form == "plain" {
				fold(a.Name + ": " + string(a.Value))
				continue
			}
			fold(a.Name + ":: " + base64.StdEncoding.EncodeToString(a.Value))
		}
		b.WriteString(nl)
	}
	return []byte(b.String())
}

// PKD is a synthetic PKD download pair with its parts.
type PKD struct {
	CSCAUT, CSCAXX KeyCert // CSCAs of UT and XX, both in the master list
	Signer         KeyCert // the master list's signer, under CSCAUT
	DSCs           []KeyCert
	RevokedSerial  *big.Int // DSCs[0]'s, listed in CRL
	CRL            []byte
	MasterList     []byte // the signed CMS
	Objects        []Entry
	MasterLists    []Entry
}

func New(t testing.TB, nDSC int) *PKD {
	t.Helper()
	p := &PKD{}
	p.CSCAUT = NewCSCA(t, "UT", "Kayle Test CSCA", 1001)
	p.CSCAXX = NewCSCA(t, "XX", "Other CSCA", 77)
	p.Signer = Issue(t, p.CSCAUT, "UT", "Master List Signer", big.NewInt(5))
	p.MasterList = SignMasterList(t, p.Signer, CscaMasterList(p.CSCAUT.DER, p.CSCAXX.DER), nil)
	for i := range nDSC {
		// Serials with the top bit set, so the INTEGER carries a leading 00.
		p.DSCs = append(p.DSCs, Issue(t, p.CSCAUT, "UT", fmt.Sprintf("DSC %d", i), new(big.Int).SetUint64(0x87d10000+uint64(i))))
	}
	p.RevokedSerial = p.DSCs[0].Cert.SerialNumber
	p.CRL = NewCRL(t, p.CSCAUT, 1, Now.AddDate(0, -1, 0), p.RevokedSerial)
	p.Objects = []Entry{{DN: "dc=data,dc=download,dc=PKD,dc=icao,dc=int", Attrs: []Attr{Plain("objectClass", "domain")}}}
	for i, d := range p.DSCs {
		p.Objects = append(p.Objects, Entry{DN: fmt.Sprintf("cn=DSC %d+sn=%x,o=dsc,c=UT,dc=data,dc=download,dc=PKD,dc=icao,dc=int", i, d.Cert.SerialNumber),
			Attrs: []Attr{Plain("objectClass", "inetOrgPerson"), B64("userCertificate;binary", d.DER), Plain("sn", "1")}})
	}
	p.Objects = append(p.Objects,
		Entry{DN: "cn=CN\\=Kayle Test CSCA\\,C\\=UT,o=crl,c=UT,dc=data,dc=download,dc=PKD,dc=icao,dc=int",
			Attrs: []Attr{Plain("objectClass", "cRLDistributionPoint"), B64("certificateRevocationList;binary", p.CRL)}},
		Entry{DN: "cn=barcode,o=bcsc,c=UT,dc=data,dc=download,dc=PKD,dc=icao,dc=int",
			Attrs: []Attr{B64("userCertificate;binary", p.DSCs[0].DER)}},
	)
	p.MasterLists = []Entry{{DN: "cn=CN\\=Master List Signer\\,C\\=UT,o=ml,c=UT,dc=data,dc=download,dc=PKD,dc=icao,dc=int",
		Attrs: []Attr{Plain("objectClass", "pkdMasterList"), B64("pkdMasterListContent", p.MasterList)}}}
	return p
}

// B64 is an attribute written attr:: base64.
func B64(name string, v []byte) Attr { return Attr{Name: name, Value: v, Form: "b64"} }

// Plain is an attribute written attr: value.
func Plain(name, v string) Attr { return Attr{Name: name, Value: []byte(v), Form: "plain"} }
