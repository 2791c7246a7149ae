package truststore

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"testing"
	"time"
)

// No input makes the LDIF reader panic or exceed its limits.
func FuzzLDIF(f *testing.F) {
	for _, s := range []string{
		"version: 1\ndn: cn=a\nx: 1\n",
		"dn:: Y249YQ==\r\nuserCertificate;binary:: AAEC\r\n \r\n\r\n",
		"# c\n f\ndn: cn=a\nchangetype: add\nx:< file:///x\n",
		"dn: cn=a\nx: " + string(bytes.Repeat([]byte("a\n "), 50)) + "\n",
		"dn: cn=a\ncontrol: 1.2.3 true\nchangetype: modify\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewLDIFReader(bytes.NewReader(b), Limits{MaxLine: 512, MaxRecord: 1024, MaxAttrs: 16})
		for range 1000 {
			rec, err := r.Next()
			if err != nil {
				if err != io.EOF && rec != nil {
					t.Fatal("a record with an error")
				}
				return
			}
			if len(rec.Attrs) > 16 {
				t.Fatalf("%d attributes past the limit", len(rec.Attrs))
			}
		}
	})
}

// No input makes certificate, CRL or master-list parsing panic.
func FuzzMasterList(f *testing.F) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{Country: []string{"UT"}, CommonName: "CSCA"},
		NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<31, 0), IsCA: true, BasicConstraintsValid: true, SubjectKeyId: []byte{1}}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	cert, _ := x509.ParseCertificate(der)
	crl, _ := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: time.Unix(0, 0), NextUpdate: time.Unix(1<<31, 0),
		RevokedCertificateEntries: []x509.RevocationListEntry{{SerialNumber: big.NewInt(-5), RevocationTime: time.Unix(0, 0)}}}, cert, k)
	f.Add(der)
	f.Add(crl)
	f.Add([]byte{0x30, 0x80, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = parseCert(b)
		_, _ = parseCRL(b)
		_, _ = verifyMasterList(b)
		_, _ = parseCscaMasterList(b)
	})
}

// intContent is the INTEGER content octets DER gives (two's complement,
// minimal), held to encoding/asn1's encoder.
func TestIntContent(t *testing.T) {
	for _, n := range []int64{0, 1, 127, 128, 255, 256, 0x87d1, -1, -128, -129, -256, -32768, 1 << 40} {
		want, _ := asn1Int(big.NewInt(n))
		if got := intContent(big.NewInt(n)); !bytes.Equal(got, want) {
			t.Errorf("%d: %x, want %x", n, got, want)
		}
	}
}
