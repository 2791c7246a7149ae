package lds

import (
	"bytes"
	encasn1 "encoding/asn1"
	"fmt"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"
)

// CMS SignedData as RFC 5652 §5 defines it, parsed without verifying
// anything. The importer of CSCA master lists (ICAO 9303-12 §9) reads the
// same structure, so the parser is not tied to the SOD.

// Bounds on the counts a SignedData may hold; real SODs have one signer,
// one or two digest algorithms and at most a few certificates.
const (
	maxDigestAlgorithms = 8
	maxCertificates     = 64
	maxSignerInfos      = 8
	maxAttributes       = 32
	maxAttributeValues  = 8
	maxOctetStringDepth = 4
)

// SignedData is RFC 5652 §5.1's SignedData.
type SignedData struct {
	Version          int64
	DigestAlgorithms []AlgorithmIdentifier
	EContentType     encasn1.ObjectIdentifier
	// EContent is the encapsulated content's octets (for an SOD, the
	// LDSSecurityObject's DER). A constructed OCTET STRING is joined.
	EContent     []byte
	Certificates [][]byte // each certificate's DER, as embedded
	CRLs         [][]byte // each RevocationInfoChoice's DER, as embedded
	SignerInfos  []SignerInfo
}

// SignerIdentifier is RFC 5652 §5.3's CHOICE: exactly one of the two forms.
type SignerIdentifier struct {
	// issuerAndSerialNumber
	Issuer       []byte   // the issuer Name's DER
	SerialNumber *big.Int // nil for the subjectKeyIdentifier form
	SerialBytes  []byte   // the serial INTEGER's content octets, as encoded
	// subjectKeyIdentifier [0]
	SubjectKeyIdentifier []byte
}

// IsSubjectKeyIdentifier reports which form the identifier takes.
func (id SignerIdentifier) IsSubjectKeyIdentifier() bool { return id.SerialNumber == nil }

// Attribute is RFC 5652 §5.3's Attribute, values kept as DER.
type Attribute struct {
	Type   encasn1.ObjectIdentifier
	Values [][]byte
}

// SignerInfo is RFC 5652 §5.3's SignerInfo.
type SignerInfo struct {
	Version         int64
	SID             SignerIdentifier
	DigestAlgorithm AlgorithmIdentifier
	// SignedAttrs is the [0] IMPLICIT SET as received (first byte A0), nil
	// when there are none. The signature covers it with the first byte
	// changed to 31 (RFC 5652 §5.4): see SignedAttrsDER.
	SignedAttrs   []byte
	Attributes    []Attribute
	ContentType   encasn1.ObjectIdentifier // the content-type attribute (§11.1)
	MessageDigest []byte                   // the message-digest attribute (§11.2)

	SignatureAlgorithm AlgorithmIdentifier
	Signature          []byte
	UnsignedAttrs      []byte // the [1] IMPLICIT SET as received, nil when absent
}

// SignedAttrsDER returns the signed attributes as the signature covers
// them: the received encoding with its IMPLICIT [0] tag replaced by the
// SET OF tag (RFC 5652 §5.4). Nil when there are no signed attributes.
func (si *SignerInfo) SignedAttrsDER() []byte {
	if si.SignedAttrs == nil {
		return nil
	}
	b := bytes.Clone(si.SignedAttrs)
	b[0] = 0x31
	return b
}

// MaxMasterListSize caps a CSCA master list (ParseContentInfoUpTo): the
// ICAO's holds every participating state's CSCAs, megabytes of them.
const MaxMasterListSize = 32 << 20

// ParseContentInfo parses a DER ContentInfo (RFC 5652 §3) holding a
// SignedData and returns the SignedData, at most MaxObjectSize bytes (a
// document's SOD is a few kilobytes).
func ParseContentInfo(der []byte) (*SignedData, error) {
	return ParseContentInfoUpTo(der, MaxObjectSize)
}

// ParseContentInfoUpTo is ParseContentInfo for objects of up to max bytes
// (MaxMasterListSize for master lists); the counts inside stay bounded.
func ParseContentInfoUpTo(der []byte, max int) (*SignedData, error) {
	if len(der) > max {
		return nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(der))
	}
	s := cryptobyte.String(der)
	var ci, content cryptobyte.String
	var ct encasn1.ObjectIdentifier
	if !s.ReadASN1(&ci, asn1.SEQUENCE) || !s.Empty() {
		return nil, fmt.Errorf("%w: ContentInfo is not one SEQUENCE", ErrMalformed)
	}
	if !ci.ReadASN1ObjectIdentifier(&ct) {
		return nil, fmt.Errorf("%w: ContentInfo contentType", ErrMalformed)
	}
	if !ct.Equal(OIDSignedData) {
		return nil, fmt.Errorf("%w: content type %v is not SignedData", ErrMalformed, ct)
	}
	if !ci.ReadASN1(&content, asn1.Tag(0).ContextSpecific().Constructed()) || !ci.Empty() {
		return nil, fmt.Errorf("%w: ContentInfo content", ErrMalformed)
	}
	sd, err := parseSignedData(content)
	if err != nil {
		return nil, err
	}
	return sd, nil
}

func parseSignedData(b cryptobyte.String) (*SignedData, error) {
	var sd SignedData
	var seq, algs, eci cryptobyte.String
	if !b.ReadASN1(&seq, asn1.SEQUENCE) || !b.Empty() {
		return nil, fmt.Errorf("%w: SignedData is not one SEQUENCE", ErrMalformed)
	}
	if !seq.ReadASN1Integer(&sd.Version) {
		return nil, fmt.Errorf("%w: SignedData version", ErrMalformed)
	}
	if !seq.ReadASN1(&algs, asn1.SET) {
		return nil, fmt.Errorf("%w: digestAlgorithms", ErrMalformed)
	}
	for !algs.Empty() {
		if len(sd.DigestAlgorithms) == maxDigestAlgorithms {
			return nil, fmt.Errorf("%w: more than %d digest algorithms", ErrTooLarge, maxDigestAlgorithms)
		}
		a, err := readAlgorithmIdentifier(&algs)
		if err != nil {
			return nil, fmt.Errorf("digestAlgorithms: %w", err)
		}
		sd.DigestAlgorithms = append(sd.DigestAlgorithms, a)
	}
	// EncapsulatedContentInfo ::= SEQUENCE { eContentType, eContent [0] EXPLICIT OCTET STRING OPTIONAL }
	if !seq.ReadASN1(&eci, asn1.SEQUENCE) || !eci.ReadASN1ObjectIdentifier(&sd.EContentType) {
		return nil, fmt.Errorf("%w: encapContentInfo", ErrMalformed)
	}
	if !eci.Empty() {
		var explicit cryptobyte.String
		if !eci.ReadASN1(&explicit, asn1.Tag(0).ContextSpecific().Constructed()) || !eci.Empty() {
			return nil, fmt.Errorf("%w: eContent", ErrMalformed)
		}
		c, err := readOctetString(&explicit, 1)
		if err != nil {
			return nil, fmt.Errorf("eContent: %w", err)
		}
		if !explicit.Empty() {
			return nil, fmt.Errorf("%w: bytes after eContent", ErrMalformed)
		}
		sd.EContent = c
	}
	var err error
	if sd.Certificates, err = readImplicitSet(&seq, 0, maxCertificates, true); err != nil {
		return nil, fmt.Errorf("certificates: %w", err)
	}
	if sd.CRLs, err = readImplicitSet(&seq, 1, maxCertificates, false); err != nil {
		return nil, fmt.Errorf("crls: %w", err)
	}
	var infos cryptobyte.String
	if !seq.ReadASN1(&infos, asn1.SET) || !seq.Empty() {
		return nil, fmt.Errorf("%w: signerInfos", ErrMalformed)
	}
	for !infos.Empty() {
		if len(sd.SignerInfos) == maxSignerInfos {
			return nil, fmt.Errorf("%w: more than %d signer infos", ErrTooLarge, maxSignerInfos)
		}
		si, err := readSignerInfo(&infos)
		if err != nil {
			return nil, fmt.Errorf("signerInfos[%d]: %w", len(sd.SignerInfos), err)
		}
		// RFC 5652 §11.1: the signed content-type must be the eContentType.
		if si.ContentType != nil && !si.ContentType.Equal(sd.EContentType) {
			return nil, fmt.Errorf("%w: signed content-type %v differs from eContentType %v",
				ErrMalformed, si.ContentType, sd.EContentType)
		}
		sd.SignerInfos = append(sd.SignerInfos, si)
	}
	return &sd, nil
}

// readOctetString reads an OCTET STRING, joining the segments of a
// constructed one (X.690 §8.7.3, which BER encoders emit for eContent)
// down to a small depth.
func readOctetString(s *cryptobyte.String, depth int) ([]byte, error) {
	var v cryptobyte.String
	switch {
	case s.PeekASN1Tag(asn1.OCTET_STRING):
		if !s.ReadASN1(&v, asn1.OCTET_STRING) {
			return nil, fmt.Errorf("%w: OCTET STRING", ErrMalformed)
		}
		return v, nil
	case s.PeekASN1Tag(asn1.OCTET_STRING.Constructed()):
		if depth > maxOctetStringDepth {
			return nil, fmt.Errorf("%w: constructed OCTET STRING nested deeper than %d", ErrTooLarge, maxOctetStringDepth)
		}
		if !s.ReadASN1(&v, asn1.OCTET_STRING.Constructed()) {
			return nil, fmt.Errorf("%w: constructed OCTET STRING", ErrMalformed)
		}
		var out []byte
		for !v.Empty() {
			seg, err := readOctetString(&v, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, seg...)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("%w: not an OCTET STRING", ErrMalformed)
	}
}

// readImplicitSet reads an optional [n] IMPLICIT SET and returns each
// element's DER. With onlySequences, elements that are not SEQUENCEs
// (RFC 5652 §10.2.2's other CertificateChoices) are skipped.
func readImplicitSet(s *cryptobyte.String, n uint8, max int, onlySequences bool) ([][]byte, error) {
	var set cryptobyte.String
	var present bool
	if !s.ReadOptionalASN1(&set, &present, asn1.Tag(n).ContextSpecific().Constructed()) {
		return nil, fmt.Errorf("%w: [%d] SET", ErrMalformed, n)
	}
	var out [][]byte
	for !set.Empty() {
		var el cryptobyte.String
		var tag asn1.Tag
		if !set.ReadAnyASN1Element(&el, &tag) {
			return nil, fmt.Errorf("%w: [%d] element", ErrMalformed, n)
		}
		if onlySequences && tag != asn1.SEQUENCE {
			continue
		}
		if len(out) == max {
			return nil, fmt.Errorf("%w: more than %d elements", ErrTooLarge, max)
		}
		out = append(out, el)
	}
	return out, nil
}

func readSignerInfo(s *cryptobyte.String) (SignerInfo, error) {
	var si SignerInfo
	var seq cryptobyte.String
	if !s.ReadASN1(&seq, asn1.SEQUENCE) || !seq.ReadASN1Integer(&si.Version) {
		return si, fmt.Errorf("%w: SignerInfo", ErrMalformed)
	}
	switch {
	case seq.PeekASN1Tag(asn1.SEQUENCE):
		// IssuerAndSerialNumber ::= SEQUENCE { issuer Name, serialNumber INTEGER }
		var ias, issuer, serial cryptobyte.String
		var tag asn1.Tag
		if !seq.ReadASN1(&ias, asn1.SEQUENCE) || !ias.ReadASN1Element(&issuer, asn1.SEQUENCE) {
			return si, fmt.Errorf("%w: issuerAndSerialNumber", ErrMalformed)
		}
		// Read the serial raw first: its content octets are what CRLs and
		// certificates are matched on, and ReadASN1Integer checks minimality.
		rawSerial := ias
		if !rawSerial.ReadAnyASN1(&serial, &tag) || tag != asn1.INTEGER {
			return si, fmt.Errorf("%w: serialNumber", ErrMalformed)
		}
		si.SID.SerialNumber = new(big.Int)
		if !ias.ReadASN1Integer(si.SID.SerialNumber) || !ias.Empty() {
			return si, fmt.Errorf("%w: serialNumber", ErrMalformed)
		}
		si.SID.Issuer, si.SID.SerialBytes = issuer, serial
	case seq.PeekASN1Tag(asn1.Tag(0).ContextSpecific()):
		var ski cryptobyte.String
		if !seq.ReadASN1(&ski, asn1.Tag(0).ContextSpecific()) || len(ski) == 0 {
			return si, fmt.Errorf("%w: subjectKeyIdentifier", ErrMalformed)
		}
		si.SID.SubjectKeyIdentifier = ski
	default:
		return si, fmt.Errorf("%w: SignerIdentifier", ErrMalformed)
	}
	var err error
	if si.DigestAlgorithm, err = readAlgorithmIdentifier(&seq); err != nil {
		return si, fmt.Errorf("digestAlgorithm: %w", err)
	}
	if seq.PeekASN1Tag(asn1.Tag(0).ContextSpecific().Constructed()) {
		var el cryptobyte.String
		if !seq.ReadASN1Element(&el, asn1.Tag(0).ContextSpecific().Constructed()) {
			return si, fmt.Errorf("%w: signedAttrs", ErrMalformed)
		}
		si.SignedAttrs = el
		if err := si.readSignedAttrs(); err != nil {
			return si, err
		}
	}
	if si.SignatureAlgorithm, err = readAlgorithmIdentifier(&seq); err != nil {
		return si, fmt.Errorf("signatureAlgorithm: %w", err)
	}
	var sig cryptobyte.String
	if !seq.ReadASN1(&sig, asn1.OCTET_STRING) || len(sig) == 0 {
		return si, fmt.Errorf("%w: signature", ErrMalformed)
	}
	si.Signature = sig
	if seq.PeekASN1Tag(asn1.Tag(1).ContextSpecific().Constructed()) {
		var el cryptobyte.String
		if !seq.ReadASN1Element(&el, asn1.Tag(1).ContextSpecific().Constructed()) {
			return si, fmt.Errorf("%w: unsignedAttrs", ErrMalformed)
		}
		si.UnsignedAttrs = el
	}
	if !seq.Empty() {
		return si, fmt.Errorf("%w: bytes after SignerInfo", ErrMalformed)
	}
	return si, nil
}

// readSignedAttrs decodes the attributes and pulls out content-type and
// message-digest, which RFC 5652 §5.3 requires when signed attributes are
// present, each once with a single value (§11.1, §11.2).
func (si *SignerInfo) readSignedAttrs() error {
	s := cryptobyte.String(si.SignedAttrs)
	var set cryptobyte.String
	if !s.ReadASN1(&set, asn1.Tag(0).ContextSpecific().Constructed()) || set.Empty() {
		return fmt.Errorf("%w: signedAttrs empty", ErrMalformed)
	}
	for !set.Empty() {
		if len(si.Attributes) == maxAttributes {
			return fmt.Errorf("%w: more than %d signed attributes", ErrTooLarge, maxAttributes)
		}
		var attr, vals cryptobyte.String
		var a Attribute
		if !set.ReadASN1(&attr, asn1.SEQUENCE) || !attr.ReadASN1ObjectIdentifier(&a.Type) ||
			!attr.ReadASN1(&vals, asn1.SET) || !attr.Empty() {
			return fmt.Errorf("%w: signed attribute", ErrMalformed)
		}
		for !vals.Empty() {
			if len(a.Values) == maxAttributeValues {
				return fmt.Errorf("%w: attribute with more than %d values", ErrTooLarge, maxAttributeValues)
			}
			var v cryptobyte.String
			var tag asn1.Tag
			if !vals.ReadAnyASN1Element(&v, &tag) {
				return fmt.Errorf("%w: attribute value", ErrMalformed)
			}
			a.Values = append(a.Values, v)
		}
		for _, prev := range si.Attributes {
			if prev.Type.Equal(a.Type) {
				return fmt.Errorf("%w: signed attribute %v twice", ErrMalformed, a.Type)
			}
		}
		si.Attributes = append(si.Attributes, a)
		switch {
		case a.Type.Equal(OIDContentType):
			if len(a.Values) != 1 {
				return fmt.Errorf("%w: content-type must have one value", ErrMalformed)
			}
			v := cryptobyte.String(a.Values[0])
			if !v.ReadASN1ObjectIdentifier(&si.ContentType) || !v.Empty() {
				return fmt.Errorf("%w: content-type value", ErrMalformed)
			}
		case a.Type.Equal(OIDMessageDigest):
			if len(a.Values) != 1 {
				return fmt.Errorf("%w: message-digest must have one value", ErrMalformed)
			}
			v := cryptobyte.String(a.Values[0])
			var d cryptobyte.String
			if !v.ReadASN1(&d, asn1.OCTET_STRING) || !v.Empty() || len(d) == 0 {
				return fmt.Errorf("%w: message-digest value", ErrMalformed)
			}
			si.MessageDigest = d
		}
	}
	if si.ContentType == nil || si.MessageDigest == nil {
		return fmt.Errorf("%w: signed attributes without content-type and message-digest", ErrMalformed)
	}
	return nil
}
