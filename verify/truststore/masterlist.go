package truststore

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	"github.com/kayle-id/orgs-api/verify/lds"
)

// ErrMasterList: a CSCA master list that is malformed or whose signature
// does not hold (ICAO 9303-12 §9).
var ErrMasterList = errors.New("truststore: master list refused")

// maxMasterListCerts bounds the CscaMasterList's SET (the largest real
// lists hold a few hundred).
const maxMasterListCerts = 10000

// verifyMasterList parses a CSCA master list (ICAO 9303-12 §9: a CMS
// SignedData, eContentType id-icao-cscaMasterList, over CscaMasterList ::=
// SEQUENCE { version INTEGER, certList SET OF Certificate }), checks its
// signature with the signer certificate the SignedData carries and that
// certificate's signature by a CSCA in the same list, and returns the
// list's certificates.
//
// What this proves: the list is as its signer made it (nothing added,
// removed or changed since), and the signer holds a certificate from a
// CSCA the list itself names. It does not prove who the signer is: the
// anchor is inside the list, so a forger with their own CSCA and signer
// can make a list that passes. The PKD download's own integrity (TLS from
// ICAO, or the published hash) is what stands behind that.
func verifyMasterList(der []byte) ([]*certFields, error) {
	sd, err := lds.ParseContentInfoUpTo(der, lds.MaxMasterListSize)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMasterList, err)
	}
	if !sd.EContentType.Equal(lds.OIDCSCAMasterList) {
		return nil, fmt.Errorf("%w: eContentType %v is not id-icao-cscaMasterList", ErrMasterList, sd.EContentType)
	}
	if sd.EContent == nil {
		return nil, fmt.Errorf("%w: no encapsulated content", ErrMasterList)
	}
	cscas, err := parseCscaMasterList(sd.EContent)
	if err != nil {
		return nil, err
	}
	if len(sd.SignerInfos) != 1 {
		return nil, fmt.Errorf("%w: %d signers (one expected)", ErrMasterList, len(sd.SignerInfos))
	}
	si := &sd.SignerInfos[0]
	signer, err := findSigner(sd.Certificates, si.SID)
	if err != nil {
		return nil, err
	}
	hash := lds.HashForOID(si.DigestAlgorithm.Algorithm)
	if hash == 0 {
		return nil, fmt.Errorf("%w: digest algorithm %v", ErrMasterList, si.DigestAlgorithm.Algorithm)
	}
	signed := sd.EContent
	if si.SignedAttrs != nil {
		// RFC 5652 §5.4, §11.1, §11.2: the attributes are what is signed;
		// they must name the content type and carry its digest.
		if !si.ContentType.Equal(sd.EContentType) {
			return nil, fmt.Errorf("%w: the signed content-type attribute is not the eContentType", ErrMasterList)
		}
		h := hash.New()
		h.Write(sd.EContent)
		if subtle.ConstantTimeCompare(h.Sum(nil), si.MessageDigest) != 1 {
			return nil, fmt.Errorf("%w: message-digest attribute does not match the content", ErrMasterList)
		}
		signed = si.SignedAttrsDER()
	}
	if err := verifySignature(signer.spki, si.SignatureAlgorithm, hash, signed, si.Signature); err != nil {
		return nil, fmt.Errorf("%w: master list signature: %w", ErrMasterList, err)
	}
	// ICAO 9303-12 §9: the Master List Signer is certified by the issuing
	// State's CSCA, which the list contains.
	var chainErr error = fmt.Errorf("%w: no CSCA in the list issued the signer certificate", ErrMasterList)
	for _, c := range cscas {
		if !bytes.Equal(c.subject, signer.issuer) {
			continue
		}
		if signer.aki != nil && c.ski != nil && !bytes.Equal(signer.aki, c.ski) {
			continue
		}
		if err := verifySignature(c.spki, signer.sigAlg, 0, signer.tbs, signer.signature); err != nil {
			chainErr = fmt.Errorf("%w: signer certificate: %w", ErrMasterList, err)
			continue
		}
		return cscas, nil
	}
	return nil, chainErr
}

func parseCscaMasterList(b []byte) ([]*certFields, error) {
	s := cryptobyte.String(b)
	var seq, set cryptobyte.String
	var version int64
	if !s.ReadASN1(&seq, asn1.SEQUENCE) || !s.Empty() || !seq.ReadASN1Integer(&version) ||
		!seq.ReadASN1(&set, asn1.SET) || !seq.Empty() {
		return nil, fmt.Errorf("%w: CscaMasterList structure", ErrMasterList)
	}
	if version != 0 {
		return nil, fmt.Errorf("%w: CscaMasterList version %d", ErrMasterList, version)
	}
	var out []*certFields
	for !set.Empty() {
		if len(out) == maxMasterListCerts {
			return nil, fmt.Errorf("%w: more than %d certificates", ErrMasterList, maxMasterListCerts)
		}
		var el cryptobyte.String
		if !set.ReadASN1Element(&el, asn1.SEQUENCE) {
			return nil, fmt.Errorf("%w: certList entry", ErrMasterList)
		}
		c, err := parseCert(bytes.Clone(el))
		if err != nil {
			return nil, fmt.Errorf("%w: certList entry %d: %w", ErrMasterList, len(out), err)
		}
		out = append(out, c)
	}
	return out, nil
}

// findSigner returns the SignedData certificate the signer identifier names.
func findSigner(certs [][]byte, sid lds.SignerIdentifier) (*certFields, error) {
	for _, der := range certs {
		c, err := parseCert(der)
		if err != nil {
			continue
		}
		if sid.IsSubjectKeyIdentifier() {
			if c.ski != nil && bytes.Equal(c.ski, sid.SubjectKeyIdentifier) {
				return c, nil
			}
		} else if bytes.Equal(c.issuer, sid.Issuer) && bytes.Equal(c.serial, sid.SerialBytes) {
			return c, nil
		}
	}
	return nil, fmt.Errorf("%w: the signer's certificate is not in the SignedData", ErrMasterList)
}
