package truststore

import (
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	encasn1 "encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/kayle-id/orgs-api/verify/lds"
	"github.com/kayle-id/orgs-api/verify/passiveauth"
)

// ErrCertificate: a certificate or CRL the importer cannot read.
var ErrCertificate = errors.New("truststore: malformed certificate or CRL")

// maxObject caps one certificate or CRL (a country's CRL with thousands of
// entries stays well below it).
const maxObject = 4 << 20

var (
	oidCountry = encasn1.ObjectIdentifier{2, 5, 4, 6}
)

// certFields are what the store keeps of a certificate, read by passive
// authentication's own parser (crypto/x509 refuses the brainpool and
// explicit-parameter keys many CSCAs and DSCs carry), so that the store
// holds only what a document check can use, keyed as it will look it up.
type certFields struct {
	der                 []byte
	fingerprint         string // SHA-256 of the DER, hex
	tbs                 []byte
	sigAlg              lds.AlgorithmIdentifier
	signature           []byte
	issuer, subject     []byte // Name DER
	serial              []byte // INTEGER content octets as encoded
	notBefore, notAfter time.Time
	spki                []byte
	ski, aki            []byte
}

func parseCert(der []byte) (*certFields, error) {
	c, err := passiveauth.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCertificate, err)
	}
	return &certFields{der: der, fingerprint: fingerprint(der), tbs: c.RawTBS, sigAlg: c.SignatureAlg, signature: c.Signature,
		issuer: c.RawIssuer, subject: c.RawSubject, serial: c.SerialBytes, notBefore: c.NotBefore, notAfter: c.NotAfter,
		spki: c.SPKI, ski: c.SubjectKeyID, aki: c.AuthorityKeyID}, nil
}

// crlFields are what the store keeps of a CRL. crypto/x509 reads CRLs
// whatever the issuer's key (it holds none); the signature is checked by
// passive authentication against the CSCA.
type crlFields struct {
	der                    []byte
	fingerprint            string
	issuer                 []byte
	aki                    []byte
	thisUpdate, nextUpdate time.Time
	revoked                [][]byte // serials as INTEGER content octets
}

func parseCRL(der []byte) (*crlFields, error) {
	if len(der) > maxObject {
		return nil, fmt.Errorf("%w: CRL of %d bytes", ErrCertificate, len(der))
	}
	rl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCertificate, err)
	}
	c := &crlFields{der: der, fingerprint: fingerprint(der), issuer: rl.RawIssuer, aki: rl.AuthorityKeyId,
		thisUpdate: rl.ThisUpdate.UTC(), nextUpdate: rl.NextUpdate.UTC()}
	for _, e := range rl.RevokedCertificateEntries {
		c.revoked = append(c.revoked, intContent(e.SerialNumber))
	}
	return c, nil
}

// intContent is the DER INTEGER content octets of n (two's complement,
// minimal): what a SignerInfo's serial carries, so lookups match bytes.
func intContent(n *big.Int) []byte {
	if n.Sign() >= 0 {
		b := n.Bytes()
		if len(b) == 0 || b[0]&0x80 != 0 {
			b = append([]byte{0}, b...)
		}
		return b
	}
	// Negative (non-conforming but seen): 2^(8k) + n in k bytes.
	k := (new(big.Int).Not(n).BitLen() + 8) / 8
	m := new(big.Int).Lsh(big.NewInt(1), uint(8*k))
	b := m.Add(m, n).Bytes()
	for len(b) < k {
		b = append([]byte{0xff}, b...)
	}
	return b
}

func fingerprint(der []byte) string {
	h := sha256.Sum256(der)
	return hex.EncodeToString(h[:])
}

// hexOrNil is the lookup form of a key identifier: lowercase hex, nil
// (SQL NULL) when absent.
func hexOrNil(b []byte) any {
	if b == nil {
		return nil
	}
	return hex.EncodeToString(b)
}

// nameInfo returns a Name's display form (RFC 2253 order, as crypto/x509
// prints it) and its country (the last C= attribute, upper case).
func nameInfo(der []byte) (display, country string) {
	var rdns pkix.RDNSequence
	if rest, err := encasn1.Unmarshal(der, &rdns); err != nil || len(rest) > 0 {
		return "", ""
	}
	for _, rdn := range rdns {
		for _, atv := range rdn {
			if atv.Type.Equal(oidCountry) {
				if s, ok := atv.Value.(string); ok {
					country = strings.ToUpper(s)
				}
			}
		}
	}
	return rdns.String(), country
}
