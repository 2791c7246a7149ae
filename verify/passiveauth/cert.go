package passiveauth

import (
	"bytes"
	encasn1 "encoding/asn1"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	"github.com/kayle-id/orgs-api/verify/lds"
)

// Certificate is the part of an X.509 certificate (RFC 5280 §4.1) passive
// authentication reads. It has its own parser because crypto/x509 refuses
// certificates whose key is on a brainpool curve or has explicit
// parameters, which many European CSCAs and DSCs use.
type Certificate struct {
	Raw, RawTBS     []byte
	SerialBytes     []byte // the serial INTEGER's content octets, as encoded
	RawIssuer       []byte
	RawSubject      []byte
	NotBefore       time.Time
	NotAfter        time.Time
	SPKI            []byte
	SignatureAlg    lds.AlgorithmIdentifier
	Signature       []byte
	SubjectKeyID    []byte
	AuthorityKeyID  []byte
	HasKeyUsage     bool
	KeyUsage        uint16 // bit 0 = digitalSignature … bit 8 = decipherOnly (RFC 5280 §4.2.1.3)
	HasBasicConstr  bool
	IsCA            bool
	SubjectCountry  string // the C attribute of the subject, "" when absent
	IssuerCountry   string
	criticalUnknown []encasn1.ObjectIdentifier
}

// Key usage bits (RFC 5280 §4.2.1.3), numbered as the BIT STRING numbers them.
const (
	kuDigitalSignature = 0
	kuKeyCertSign      = 5
	kuCRLSign          = 6
)

func (c *Certificate) hasUsage(bit int) bool { return c.HasKeyUsage && c.KeyUsage&(1<<bit) != 0 }

const maxCertificateSize = 64 << 10 // a CSCA is 1–2 kB; the largest RSA-4096 ones stay far below

var (
	oidExtSKI              = encasn1.ObjectIdentifier{2, 5, 29, 14}
	oidExtKeyUsage         = encasn1.ObjectIdentifier{2, 5, 29, 15}
	oidExtBasicConstraints = encasn1.ObjectIdentifier{2, 5, 29, 19}
	oidExtAKI              = encasn1.ObjectIdentifier{2, 5, 29, 35}
	oidCountryName         = encasn1.ObjectIdentifier{2, 5, 4, 6}
	// Extensions a CSCA or DSC may mark critical that this check does not
	// need to understand to decide (ICAO 9303-12 §7.1.1 profiles).
	oidExtPrivateKeyUsage = encasn1.ObjectIdentifier{2, 5, 29, 16}
	oidExtCertPolicies    = encasn1.ObjectIdentifier{2, 5, 29, 32}
	oidExtExtKeyUsage     = encasn1.ObjectIdentifier{2, 5, 29, 37}
	oidExtNameChange      = encasn1.ObjectIdentifier{2, 23, 136, 1, 1, 6, 1}
	oidExtDocType         = encasn1.ObjectIdentifier{2, 23, 136, 1, 1, 6, 2}
)

var errCert = errors.New("malformed certificate")

// ParseCertificate parses a DER certificate. Only DER is accepted
// (cryptobyte refuses non-minimal lengths).
func ParseCertificate(der []byte) (*Certificate, error) {
	if len(der) > maxCertificateSize {
		return nil, fmt.Errorf("%w: %d bytes", errCert, len(der))
	}
	c := &Certificate{Raw: der}
	s := cryptobyte.String(der)
	var cert, tbs cryptobyte.String
	if !s.ReadASN1(&cert, asn1.SEQUENCE) || !s.Empty() {
		return nil, fmt.Errorf("%w: not one SEQUENCE", errCert)
	}
	if !cert.ReadASN1Element(&tbs, asn1.SEQUENCE) {
		return nil, fmt.Errorf("%w: tbsCertificate", errCert)
	}
	c.RawTBS = tbs
	var err error
	if c.SignatureAlg, err = readAlg(&cert); err != nil {
		return nil, err
	}
	if c.Signature, err = readBitString(&cert); err != nil || !cert.Empty() {
		return nil, fmt.Errorf("%w: signatureValue", errCert)
	}
	if !tbs.ReadASN1(&tbs, asn1.SEQUENCE) {
		return nil, fmt.Errorf("%w: tbsCertificate", errCert)
	}
	var version int64
	if tbs.PeekASN1Tag(asn1.Tag(0).ContextSpecific().Constructed()) {
		var v cryptobyte.String
		if !tbs.ReadASN1(&v, asn1.Tag(0).ContextSpecific().Constructed()) || !v.ReadASN1Integer(&version) || !v.Empty() {
			return nil, fmt.Errorf("%w: version", errCert)
		}
	}
	var serial, validity cryptobyte.String
	if !tbs.ReadASN1(&serial, asn1.INTEGER) || len(serial) == 0 {
		return nil, fmt.Errorf("%w: serialNumber", errCert)
	}
	c.SerialBytes = serial
	inner, err := readAlg(&tbs)
	if err != nil {
		return nil, err
	}
	// RFC 5280 §4.1.1.2: the inner and outer algorithms must be the same.
	if !inner.Algorithm.Equal(c.SignatureAlg.Algorithm) || !bytes.Equal(inner.Parameters, c.SignatureAlg.Parameters) {
		return nil, fmt.Errorf("%w: signature algorithms differ", errCert)
	}
	var issuer, subject, spki cryptobyte.String
	if !tbs.ReadASN1Element(&issuer, asn1.SEQUENCE) {
		return nil, fmt.Errorf("%w: issuer", errCert)
	}
	if !tbs.ReadASN1(&validity, asn1.SEQUENCE) {
		return nil, fmt.Errorf("%w: validity", errCert)
	}
	if c.NotBefore, err = readTime(&validity); err != nil {
		return nil, err
	}
	if c.NotAfter, err = readTime(&validity); err != nil || !validity.Empty() {
		return nil, fmt.Errorf("%w: validity", errCert)
	}
	if !tbs.ReadASN1Element(&subject, asn1.SEQUENCE) || !tbs.ReadASN1Element(&spki, asn1.SEQUENCE) {
		return nil, fmt.Errorf("%w: subject or subjectPublicKeyInfo", errCert)
	}
	c.RawIssuer, c.RawSubject, c.SPKI = issuer, subject, spki
	if c.IssuerCountry, err = countryOf(issuer); err != nil {
		return nil, err
	}
	if c.SubjectCountry, err = countryOf(subject); err != nil {
		return nil, err
	}
	// issuerUniqueID [1], subjectUniqueID [2]: skipped.
	for _, tag := range []asn1.Tag{asn1.Tag(1).ContextSpecific(), asn1.Tag(2).ContextSpecific()} {
		if tbs.PeekASN1Tag(tag) && !tbs.SkipASN1(tag) {
			return nil, fmt.Errorf("%w: unique id", errCert)
		}
	}
	if tbs.PeekASN1Tag(asn1.Tag(3).ContextSpecific().Constructed()) {
		var exts cryptobyte.String
		if !tbs.ReadASN1(&exts, asn1.Tag(3).ContextSpecific().Constructed()) || !exts.ReadASN1(&exts, asn1.SEQUENCE) {
			return nil, fmt.Errorf("%w: extensions", errCert)
		}
		if err := c.readExtensions(exts); err != nil {
			return nil, err
		}
	}
	if !tbs.Empty() {
		return nil, fmt.Errorf("%w: bytes after extensions", errCert)
	}
	return c, nil
}

func (c *Certificate) readExtensions(exts cryptobyte.String) error {
	seen := map[string]bool{}
	for n := 0; !exts.Empty(); n++ {
		if n == 64 {
			return fmt.Errorf("%w: too many extensions", errCert)
		}
		var ext, val cryptobyte.String
		var oid encasn1.ObjectIdentifier
		critical := false
		if !exts.ReadASN1(&ext, asn1.SEQUENCE) || !ext.ReadASN1ObjectIdentifier(&oid) ||
			!readOptionalBool(&ext, &critical) ||
			!ext.ReadASN1(&val, asn1.OCTET_STRING) || !ext.Empty() {
			return fmt.Errorf("%w: extension", errCert)
		}
		// RFC 5280 §4.2: at most one instance of an extension.
		if seen[oid.String()] {
			return fmt.Errorf("%w: extension %v twice", errCert, oid)
		}
		seen[oid.String()] = true
		ok := true
		switch {
		case oid.Equal(oidExtSKI):
			ok = val.ReadASN1Bytes(&c.SubjectKeyID, asn1.OCTET_STRING) && val.Empty()
		case oid.Equal(oidExtAKI):
			var aki cryptobyte.String
			ok = val.ReadASN1(&aki, asn1.SEQUENCE) && val.Empty()
			if ok && aki.PeekASN1Tag(asn1.Tag(0).ContextSpecific()) {
				ok = aki.ReadASN1Bytes(&c.AuthorityKeyID, asn1.Tag(0).ContextSpecific())
			}
		case oid.Equal(oidExtKeyUsage):
			var bits encasn1.BitString
			ok = val.ReadASN1BitString(&bits) && val.Empty()
			if ok {
				c.HasKeyUsage = true
				for i := 0; i < bits.BitLength && i < 16; i++ {
					if bits.At(i) == 1 {
						c.KeyUsage |= 1 << i
					}
				}
			}
		case oid.Equal(oidExtBasicConstraints):
			var bc cryptobyte.String
			ok = val.ReadASN1(&bc, asn1.SEQUENCE) && val.Empty() &&
				readOptionalBool(&bc, &c.IsCA)
			c.HasBasicConstr = ok
		default:
			known := oid.Equal(oidExtPrivateKeyUsage) || oid.Equal(oidExtCertPolicies) ||
				oid.Equal(oidExtExtKeyUsage) || oid.Equal(oidExtNameChange) || oid.Equal(oidExtDocType)
			if critical && !known {
				c.criticalUnknown = append(c.criticalUnknown, oid)
			}
		}
		if !ok {
			return fmt.Errorf("%w: extension %v", errCert, oid)
		}
	}
	return nil
}

func readAlg(s *cryptobyte.String) (lds.AlgorithmIdentifier, error) {
	var seq cryptobyte.String
	var a lds.AlgorithmIdentifier
	if !s.ReadASN1(&seq, asn1.SEQUENCE) || !seq.ReadASN1ObjectIdentifier(&a.Algorithm) {
		return a, fmt.Errorf("%w: AlgorithmIdentifier", errCert)
	}
	if !seq.Empty() {
		var p cryptobyte.String
		if !seq.ReadAnyASN1Element(&p, nil) || !seq.Empty() {
			return a, fmt.Errorf("%w: AlgorithmIdentifier parameters", errCert)
		}
		a.Parameters = p
	}
	return a, nil
}

func readBitString(s *cryptobyte.String) ([]byte, error) {
	var bs encasn1.BitString
	if !s.ReadASN1BitString(&bs) || bs.BitLength%8 != 0 {
		return nil, errCert
	}
	return bs.Bytes, nil
}

func readTime(s *cryptobyte.String) (time.Time, error) {
	var t time.Time
	switch {
	case s.PeekASN1Tag(asn1.UTCTime):
		if !s.ReadASN1UTCTime(&t) {
			return t, fmt.Errorf("%w: UTCTime", errCert)
		}
	case s.PeekASN1Tag(asn1.GeneralizedTime):
		if !s.ReadASN1GeneralizedTime(&t) {
			return t, fmt.Errorf("%w: GeneralizedTime", errCert)
		}
	default:
		return t, fmt.Errorf("%w: time", errCert)
	}
	return t, nil
}

// countryOf returns the countryName attribute of a Name (in any RDN,
// multi-valued ones included, as upstream's test CSCA `C=UT + CN=…` has).
// Two different countries in one name are refused.
func countryOf(name []byte) (string, error) {
	s := cryptobyte.String(name)
	var rdns cryptobyte.String
	if !s.ReadASN1(&rdns, asn1.SEQUENCE) {
		return "", fmt.Errorf("%w: Name", errCert)
	}
	country := ""
	for n := 0; !rdns.Empty(); n++ {
		var set cryptobyte.String
		if n == 64 || !rdns.ReadASN1(&set, asn1.SET) {
			return "", fmt.Errorf("%w: RelativeDistinguishedName", errCert)
		}
		for !set.Empty() {
			var atv, val cryptobyte.String
			var oid encasn1.ObjectIdentifier
			var tag asn1.Tag
			if !set.ReadASN1(&atv, asn1.SEQUENCE) || !atv.ReadASN1ObjectIdentifier(&oid) ||
				!atv.ReadAnyASN1(&val, &tag) || !atv.Empty() {
				return "", fmt.Errorf("%w: AttributeTypeAndValue", errCert)
			}
			if !oid.Equal(oidCountryName) {
				continue
			}
			c := strings.ToUpper(strings.TrimSpace(string(val)))
			if country != "" && c != country {
				return "", fmt.Errorf("%w: two countries %q and %q in one name", errCert, country, c)
			}
			country = c
		}
	}
	return country, nil
}

// readOptionalBool reads a BOOLEAN DEFAULT FALSE (DER omits a FALSE one,
// X.690 §11.5, but some encoders write it; both are read).
func readOptionalBool(s *cryptobyte.String, out *bool) bool {
	*out = false
	if !s.PeekASN1Tag(asn1.BOOLEAN) {
		return true
	}
	return s.ReadASN1Boolean(out)
}
