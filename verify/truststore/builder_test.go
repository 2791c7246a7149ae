package truststore_test

import (
	"bytes"
	"context"
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
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	"github.com/kayle-id/orgs-api/internal/testdb"
	"github.com/kayle-id/orgs-api/store"
	"github.com/kayle-id/orgs-api/verify/truststore"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testdb.Shutdown()
	os.Exit(code)
}

// openStore migrates a fresh database of the kind and returns its trust store.
func openStore(t testing.TB, kind testdb.Kind, opts truststore.Options) *truststore.Store {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, testdb.URL(t, kind), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return truststore.New(st.DB(), truststore.Dialect(st.Dialect()), opts)
}

type keyCert struct {
	key  *ecdsa.PrivateKey
	cert *x509.Certificate
	der  []byte
}

var testNow = time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)

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

// newCSCA makes a self-signed CSCA of the country, subject a multi-valued
// RDN (C + CN) as upstream's test chain has.
func newCSCA(t testing.TB, country, cn string, serial int64) keyCert {
	t.Helper()
	k := mustKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{ExtraNames: nil}, RawSubject: multiRDN(t, country, cn),
		NotBefore: testNow.AddDate(-2, 0, 0), NotAfter: testNow.AddDate(20, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		SubjectKeyId: ski(k),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return keyCert{k, c, der}
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

// issue makes a certificate under ca (a DSC or a master-list signer).
func issue(t testing.TB, ca keyCert, country, cn string, serial *big.Int) keyCert {
	t.Helper()
	k := mustKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{Country: []string{country}, CommonName: cn},
		NotBefore: testNow.AddDate(-1, 0, 0), NotAfter: testNow.AddDate(10, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, SubjectKeyId: ski(k),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, k.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return keyCert{k, c, der}
}

func newCRL(t testing.TB, ca keyCert, number int64, this time.Time, revoked ...*big.Int) []byte {
	t.Helper()
	var entries []x509.RevocationListEntry
	for _, s := range revoked {
		entries = append(entries, x509.RevocationListEntry{SerialNumber: s, RevocationTime: this})
	}
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
		Number: big.NewInt(number), ThisUpdate: this, NextUpdate: this.AddDate(0, 3, 0), RevokedCertificateEntries: entries,
	}, ca.cert, ca.key)
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

// cscaMasterList is CscaMasterList ::= SEQUENCE { version 0, SET OF Certificate }
// (ICAO 9303-12 §9), the certificates in DER SET order.
func cscaMasterList(certs ...[]byte) []byte {
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

// signMasterList is a minimal CMS SignedData builder (RFC 5652 §5): one
// signer by IssuerAndSerialNumber, signed attributes content-type and
// message-digest, ECDSA with SHA-256, the signer's certificate embedded.
// mutate, when set, changes the content after it was signed.
func signMasterList(t testing.TB, signer keyCert, content []byte, mutate func([]byte) []byte) []byte {
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
	sig, err := signer.key.Sign(rand.Reader, h[:], crypto.SHA256)
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
				b.AddASN1(asn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes(signer.der) })
				b.AddASN1(asn1.SET, func(b *cryptobyte.Builder) {
					b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1Int64(1)
						b.AddASN1(asn1.SEQUENCE, func(b *cryptobyte.Builder) {
							b.AddBytes(signer.cert.RawIssuer)
							b.AddASN1BigInt(signer.cert.SerialNumber)
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

// ldifEntry is one record for writeLDIF: the DN and attribute lines.
type ldifEntry struct {
	dn    string
	attrs []ldifAttr
}

type ldifAttr struct {
	name  string
	value []byte
	form  string // "b64" (attr:: base64), "plain" (attr: value)
}

// writeLDIF writes RFC 2849 LDIF: a version line, a comment, values folded
// at 76 columns (continuations start with one space), newline as given.
func writeLDIF(nl string, entries []ldifEntry) []byte {
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
		fold("dn: " + e.dn)
		for _, a := range e.attrs {
			if a.form == "plain" {
				fold(a.name + ": " + string(a.value))
				continue
			}
			fold(a.name + ":: " + base64.StdEncoding.EncodeToString(a.value))
		}
		b.WriteString(nl)
	}
	return []byte(b.String())
}

// pkd is a synthetic PKD download pair with its parts.
type pkd struct {
	cscaUT, cscaXX keyCert
	signer         keyCert
	dscs           []keyCert
	revokedSerial  *big.Int
	crl            []byte
	mlDER          []byte
	objects        []ldifEntry
	masterLists    []ldifEntry
}

func newPKD(t testing.TB, nDSC int) *pkd {
	t.Helper()
	p := &pkd{}
	p.cscaUT = newCSCA(t, "UT", "Kayle Test CSCA", 1001)
	p.cscaXX = newCSCA(t, "XX", "Other CSCA", 77)
	p.signer = issue(t, p.cscaUT, "UT", "Master List Signer", big.NewInt(5))
	p.mlDER = signMasterList(t, p.signer, cscaMasterList(p.cscaUT.der, p.cscaXX.der), nil)
	for i := range nDSC {
		// Serials with the top bit set, so the INTEGER carries a leading 00.
		p.dscs = append(p.dscs, issue(t, p.cscaUT, "UT", fmt.Sprintf("DSC %d", i), new(big.Int).SetUint64(0x87d10000+uint64(i))))
	}
	p.revokedSerial = p.dscs[0].cert.SerialNumber
	p.crl = newCRL(t, p.cscaUT, 1, testNow.AddDate(0, -1, 0), p.revokedSerial)
	p.objects = []ldifEntry{{dn: "dc=data,dc=download,dc=pkd,dc=icao,dc=int", attrs: []ldifAttr{{"objectClass", []byte("domain"), "plain"}}}}
	for i, d := range p.dscs {
		p.objects = append(p.objects, ldifEntry{dn: fmt.Sprintf("cn=DSC %d+sn=%x,o=dsc,c=UT,dc=data,dc=download,dc=pkd,dc=icao,dc=int", i, d.cert.SerialNumber),
			attrs: []ldifAttr{{"objectClass", []byte("inetOrgPerson"), "plain"}, {"userCertificate;binary", d.der, "b64"}, {"sn", []byte("1"), "plain"}}})
	}
	p.objects = append(p.objects,
		ldifEntry{dn: "cn=CN\\=Kayle Test CSCA\\,C\\=UT,o=crl,c=UT,dc=data,dc=download,dc=pkd,dc=icao,dc=int",
			attrs: []ldifAttr{{"objectClass", []byte("cRLDistributionPoint"), "plain"}, {"certificateRevocationList;binary", p.crl, "b64"}}},
		ldifEntry{dn: "cn=barcode,o=bcsc,c=UT,dc=data,dc=download,dc=pkd,dc=icao,dc=int",
			attrs: []ldifAttr{{"userCertificate;binary", p.dscs[0].der, "b64"}}},
	)
	p.masterLists = []ldifEntry{{dn: "cn=CN\\=Master List Signer\\,C\\=UT,o=ml,c=UT,dc=data,dc=download,dc=pkd,dc=icao,dc=int",
		attrs: []ldifAttr{{"objectClass", []byte("pkdMasterList"), "plain"}, {"pkdMasterListContent", p.mlDER, "b64"}}}}
	return p
}
