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

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// ErrCertificate: a certificate or CRL the importer cannot read.
var ErrCertificate = errors.New("truststore: malformed certificate or CRL")

// maxObject caps one certificate or CRL (a country's CRL with thousands of
// entries stays well below it).
const maxObject = 4 << 20

var (
	oidSKI     = encasn1.ObjectIdentifier{2, 5, 29, 14}
	oidAKI     = encasn1.ObjectIdentifier{2, 5, 29, 35}
	oidCountry = encasn1.ObjectIdentifier{2, 5, 4, 6}
)

// certFields are what the store keeps of a certificate, read from the DER
// with cryptobyte rather than crypto/x509, which refuses the brainpool and
// explicit-parameter keys many CSCAs and DSCs carry (the key is not needed
// to index the certificate; passive authentication parses it).
type certFields struct {
	der                 []byte
	fingerprint         string // SHA-256 of the DER, hex
	tbs                 []byte
	sigAlg              []byte // the outer AlgorithmIdentifier's DER
	signature           []byte
	issuer, subject     []byte // Name DER
	serial              []byte // INTEGER content octets as encoded
	notBefore, notAfter time.Time
	spki                []byte
	ski, aki            []byte
}

func parseCert(der []byte) (*certFields, error) {
	if len(der) > maxObject {
		return nil, fmt.Errorf("%w: certificate of %d bytes", ErrCertificate, len(der))
	}
	c := &certFields{der: der, fingerprint: fingerprint(der)}
	s := cryptobyte.String(der)
	var cert, tbs cryptobyte.String
	var sigAlg cryptobyte.String
	var sig encasn1.BitString
	if !s.ReadASN1(&cert, asn1.SEQUENCE) || !s.Empty() ||
		!cert.ReadASN1Element(&tbs, asn1.SEQUENCE) ||
		!cert.ReadASN1Element(&sigAlg, asn1.SEQUENCE) ||
		!cert.ReadASN1BitString(&sig) || !cert.Empty() {
		return nil, fmt.Errorf("%w: Certificate structure", ErrCertificate)
	}
	c.tbs, c.sigAlg, c.signature = tbs, sigAlg, sig.RightAlign()
	var body cryptobyte.String
	tbs.ReadASN1(&body, asn1.SEQUENCE)
	var version, alg, issuer, validity, subject, spki cryptobyte.String
	var serial cryptobyte.String
	if !body.SkipOptionalASN1(asn1.Tag(0).Constructed().ContextSpecific()) ||
		!body.ReadASN1(&serial, asn1.INTEGER) ||
		!body.ReadASN1(&alg, asn1.SEQUENCE) ||
		!body.ReadASN1Element(&issuer, asn1.SEQUENCE) ||
		!body.ReadASN1(&validity, asn1.SEQUENCE) ||
		!body.ReadASN1Element(&subject, asn1.SEQUENCE) ||
		!body.ReadASN1Element(&spki, asn1.SEQUENCE) {
		return nil, fmt.Errorf("%w: TBSCertificate fields", ErrCertificate)
	}
	_ = version
	if len(serial) == 0 {
		return nil, fmt.Errorf("%w: empty serial number", ErrCertificate)
	}
	c.serial, c.issuer, c.subject, c.spki = serial, issuer, subject, spki
	var err error
	if c.notBefore, err = readTime(&validity); err != nil {
		return nil, err
	}
	if c.notAfter, err = readTime(&validity); err != nil {
		return nil, err
	}
	if !body.SkipOptionalASN1(asn1.Tag(1).ContextSpecific()) || !body.SkipOptionalASN1(asn1.Tag(2).ContextSpecific()) {
		return nil, fmt.Errorf("%w: unique identifiers", ErrCertificate)
	}
	var exts cryptobyte.String
	var has bool
	if !body.ReadOptionalASN1(&exts, &has, asn1.Tag(3).Constructed().ContextSpecific()) || !body.Empty() {
		return nil, fmt.Errorf("%w: extensions", ErrCertificate)
	}
	if has {
		var list cryptobyte.String
		if !exts.ReadASN1(&list, asn1.SEQUENCE) {
			return nil, fmt.Errorf("%w: extensions", ErrCertificate)
		}
		for !list.Empty() {
			var ext, val cryptobyte.String
			var oid encasn1.ObjectIdentifier
			if !list.ReadASN1(&ext, asn1.SEQUENCE) || !ext.ReadASN1ObjectIdentifier(&oid) ||
				!ext.SkipOptionalASN1(asn1.BOOLEAN) || !ext.ReadASN1(&val, asn1.OCTET_STRING) {
				return nil, fmt.Errorf("%w: extension", ErrCertificate)
			}
			switch {
			case oid.Equal(oidSKI):
				var id cryptobyte.String
				if !val.ReadASN1(&id, asn1.OCTET_STRING) {
					return nil, fmt.Errorf("%w: subjectKeyIdentifier", ErrCertificate)
				}
				c.ski = id
			case oid.Equal(oidAKI):
				if c.aki, err = readAKI(val); err != nil {
					return nil, err
				}
			}
		}
	}
	return c, nil
}

// readAKI returns AuthorityKeyIdentifier's keyIdentifier [0] (RFC 5280
// §4.2.1.1), nil when absent.
func readAKI(val cryptobyte.String) ([]byte, error) {
	var seq, id cryptobyte.String
	var has bool
	if !val.ReadASN1(&seq, asn1.SEQUENCE) || !seq.ReadOptionalASN1(&id, &has, asn1.Tag(0).ContextSpecific()) {
		return nil, fmt.Errorf("%w: authorityKeyIdentifier", ErrCertificate)
	}
	if !has {
		return nil, nil
	}
	return id, nil
}

func readTime(s *cryptobyte.String) (time.Time, error) {
	var t time.Time
	switch {
	case s.PeekASN1Tag(asn1.UTCTime):
		if !s.ReadASN1UTCTime(&t) {
			return t, fmt.Errorf("%w: UTCTime", ErrCertificate)
		}
	case s.PeekASN1Tag(asn1.GeneralizedTime):
		if !s.ReadASN1GeneralizedTime(&t) {
			return t, fmt.Errorf("%w: GeneralizedTime", ErrCertificate)
		}
	default:
		return t, fmt.Errorf("%w: validity time", ErrCertificate)
	}
	return t.UTC(), nil
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
