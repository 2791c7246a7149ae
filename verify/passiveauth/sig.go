package passiveauth

import (
	"crypto"
	"crypto/rsa"
	encasn1 "encoding/asn1"
	"errors"
	"fmt"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	"github.com/kayle-id/orgs-api/verify/ecc"
	"github.com/kayle-id/orgs-api/verify/lds"
)

// Signature algorithms (RFC 8017 §A.2, RFC 4055, RFC 5758 §3.2, BSI
// TR-03111 §5.2.1 for the plain ECDSA forms German documents use).
var (
	oidRSAPSS      = encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}
	oidMGF1        = encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 8}
	rsaPKCS1Hashes = map[string]crypto.Hash{
		"1.2.840.113549.1.1.5":  crypto.SHA1,
		"1.2.840.113549.1.1.14": crypto.SHA224,
		"1.2.840.113549.1.1.11": crypto.SHA256,
		"1.2.840.113549.1.1.12": crypto.SHA384,
		"1.2.840.113549.1.1.13": crypto.SHA512,
	}
	ecdsaDERHashes = map[string]crypto.Hash{
		"1.2.840.10045.4.1":   crypto.SHA1,
		"1.2.840.10045.4.3.1": crypto.SHA224,
		"1.2.840.10045.4.3.2": crypto.SHA256,
		"1.2.840.10045.4.3.3": crypto.SHA384,
		"1.2.840.10045.4.3.4": crypto.SHA512,
	}
	ecdsaPlainHashes = map[string]crypto.Hash{
		"0.4.0.127.0.7.1.1.4.1.1": crypto.SHA1,
		"0.4.0.127.0.7.1.1.4.1.2": crypto.SHA224,
		"0.4.0.127.0.7.1.1.4.1.3": crypto.SHA256,
		"0.4.0.127.0.7.1.1.4.1.4": crypto.SHA384,
		"0.4.0.127.0.7.1.1.4.1.5": crypto.SHA512,
	}
)

var (
	errBadSignature   = errors.New("signature does not verify")
	errUnsupportedAlg = errors.New("unsupported signature algorithm")
)

// minRSABits refuses keys too small to mean anything; ICAO 9303-12 §5.1
// asks for at least 2048 (CSCA) and 1024-bit DSCs still exist in old
// documents, so 1024 is the floor.
const minRSABits = 1024

// verifySignature checks sig over msg with the key in spki under alg.
// fallback is the hash for algorithm identifiers that name only the key
// type (rsaEncryption, id-ecPublicKey), as CMS SignerInfos may (RFC 5652
// §5.3 takes the digest from digestAlgorithm then); 0 when there is none.
func VerifySignature(spki []byte, alg lds.AlgorithmIdentifier, fallback crypto.Hash, msg, sig []byte) (string, error) {
	key, err := lds.ParsePublicKey(spki)
	if err != nil {
		return "", fmt.Errorf("public key: %w", err)
	}
	oid := alg.Algorithm.String()
	switch {
	case key.RSA != nil:
		pub, err := key.RSA.PublicKey()
		if err != nil {
			return "", err
		}
		if pub.N.BitLen() < minRSABits {
			return "", fmt.Errorf("%w: RSA key of %d bits", errUnsupportedAlg, pub.N.BitLen())
		}
		if alg.Algorithm.Equal(oidRSAPSS) {
			h, salt, err := parsePSSParams(alg.Parameters)
			if err != nil {
				return "", err
			}
			if err := rsa.VerifyPSS(pub, h, digest(h, msg), sig, &rsa.PSSOptions{SaltLength: salt, Hash: h}); err != nil {
				return "", errBadSignature
			}
			return fmt.Sprintf("RSASSA-PSS-%s-%d", hashName(h), pub.N.BitLen()), nil
		}
		h, ok := rsaPKCS1Hashes[oid]
		if !ok && alg.Algorithm.Equal(lds.OIDRSAEncryption) {
			h, ok = fallback, fallback != 0
		}
		if !ok {
			return "", fmt.Errorf("%w: %v for an RSA key", errUnsupportedAlg, alg.Algorithm)
		}
		if err := rsa.VerifyPKCS1v15(pub, h, digest(h, msg), sig); err != nil {
			return "", errBadSignature
		}
		return fmt.Sprintf("RSA-PKCS1v15-%s-%d", hashName(h), pub.N.BitLen()), nil
	case key.EC != nil:
		pub, err := ecc.ParseSubjectPublicKeyInfo(spki)
		if err != nil {
			return "", fmt.Errorf("public key: %w", err)
		}
		h, plain := ecdsaPlainHashes[oid]
		if !plain {
			var ok bool
			h, ok = ecdsaDERHashes[oid]
			if !ok && alg.Algorithm.Equal(lds.OIDECPublicKey) {
				h, ok = fallback, fallback != 0
			}
			if !ok {
				return "", fmt.Errorf("%w: %v for an EC key", errUnsupportedAlg, alg.Algorithm)
			}
		}
		verify := ecc.VerifyDER
		if plain {
			verify = ecc.VerifyPlain
		}
		if err := verify(pub, digest(h, msg), sig); err != nil {
			return "", errBadSignature
		}
		return fmt.Sprintf("ECDSA-%s-%s", hashName(h), pub.Curve.Name), nil
	default:
		return "", fmt.Errorf("%w: key algorithm %v", errUnsupportedAlg, key.Algorithm)
	}
}

// parsePSSParams reads RSASSA-PSS-params (RFC 4055 §3.1): hash, MGF1 with
// the same hash (the only mask Go implements, and what ICAO 9303-12
// profiles), salt length, trailer 1. Absent fields take the RFC's
// defaults (SHA-1, MGF1-SHA-1, 20).
func parsePSSParams(der []byte) (crypto.Hash, int, error) {
	h, mgfHash, salt := crypto.SHA1, crypto.SHA1, int64(20)
	bad := fmt.Errorf("%w: RSASSA-PSS parameters", errUnsupportedAlg)
	if der == nil {
		return h, int(salt), nil
	}
	s := cryptobyte.String(der)
	var seq cryptobyte.String
	if !s.ReadASN1(&seq, asn1.SEQUENCE) || !s.Empty() {
		return 0, 0, bad
	}
	readHash := func(b cryptobyte.String) (crypto.Hash, bool) {
		a, err := readAlg(&b)
		if err != nil || !b.Empty() {
			return 0, false
		}
		hh := lds.HashForOID(a.Algorithm)
		return hh, hh != 0
	}
	var f cryptobyte.String
	var ok bool
	if seq.PeekASN1Tag(asn1.Tag(0).ContextSpecific().Constructed()) {
		if !seq.ReadASN1(&f, asn1.Tag(0).ContextSpecific().Constructed()) {
			return 0, 0, bad
		}
		if h, ok = readHash(f); !ok {
			return 0, 0, bad
		}
	}
	if seq.PeekASN1Tag(asn1.Tag(1).ContextSpecific().Constructed()) {
		if !seq.ReadASN1(&f, asn1.Tag(1).ContextSpecific().Constructed()) {
			return 0, 0, bad
		}
		mgf, err := readAlg(&f)
		if err != nil || !f.Empty() || !mgf.Algorithm.Equal(oidMGF1) {
			return 0, 0, bad
		}
		if mgfHash, ok = readHash(cryptobyte.String(mgf.Parameters)); !ok {
			return 0, 0, bad
		}
	}
	if seq.PeekASN1Tag(asn1.Tag(2).ContextSpecific().Constructed()) {
		if !seq.ReadASN1(&f, asn1.Tag(2).ContextSpecific().Constructed()) || !f.ReadASN1Integer(&salt) || !f.Empty() || salt < 0 || salt > 512 {
			return 0, 0, bad
		}
	}
	if seq.PeekASN1Tag(asn1.Tag(3).ContextSpecific().Constructed()) {
		var trailer int64
		if !seq.ReadASN1(&f, asn1.Tag(3).ContextSpecific().Constructed()) || !f.ReadASN1Integer(&trailer) || trailer != 1 {
			return 0, 0, bad
		}
	}
	if !seq.Empty() || mgfHash != h {
		return 0, 0, bad
	}
	return h, int(salt), nil
}

func digest(h crypto.Hash, b []byte) []byte {
	w := h.New()
	w.Write(b)
	return w.Sum(nil)
}

func hashName(h crypto.Hash) string {
	switch h {
	case crypto.SHA1:
		return "SHA1"
	case crypto.SHA224:
		return "SHA224"
	case crypto.SHA256:
		return "SHA256"
	case crypto.SHA384:
		return "SHA384"
	case crypto.SHA512:
		return "SHA512"
	}
	return h.String()
}
