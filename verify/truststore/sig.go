package truststore

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	encasn1 "encoding/asn1"
	"errors"
	"fmt"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	"github.com/kayle-id/orgs-api/verify/lds"
)

// ErrSignature: a signature does not verify.
var ErrSignature = errors.New("truststore: signature does not verify")

// ErrUnsupportedAlgorithm: a signature or key algorithm the importer does not check.
var ErrUnsupportedAlgorithm = errors.New("truststore: unsupported algorithm")

// Signature algorithm identifiers: RFC 8017 §A.2 (RSA), RFC 5758 §3.2 and
// RFC 3279 §2.2.3 (ECDSA).
var (
	oidRSASSAPSS = encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}
	sigHashes    = []struct {
		oid  encasn1.ObjectIdentifier
		rsa  bool
		hash crypto.Hash
	}{
		{encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 5}, true, crypto.SHA1},
		{encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 14}, true, crypto.SHA224},
		{encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}, true, crypto.SHA256},
		{encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}, true, crypto.SHA384},
		{encasn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 13}, true, crypto.SHA512},
		{encasn1.ObjectIdentifier{1, 2, 840, 10045, 4, 1}, false, crypto.SHA1},
		{encasn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 1}, false, crypto.SHA224},
		{encasn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}, false, crypto.SHA256},
		{encasn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}, false, crypto.SHA384},
		{encasn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}, false, crypto.SHA512},
	}
)

// verifySignature checks sig over msg with the key of spki under the
// signature algorithm alg. digest is the
// hash to use when sigAlg names only the key type (CMS signers may say
// rsaEncryption or id-ecPublicKey and put the hash in digestAlgorithm).
func verifySignature(spki []byte, alg lds.AlgorithmIdentifier, digest crypto.Hash, msg, sig []byte) error {
	oid, params := alg.Algorithm, cryptobyte.String(alg.Parameters)
	hash, isRSA, pss := digest, false, false
	switch {
	case oid.Equal(lds.OIDRSAEncryption):
		isRSA = true
	case oid.Equal(lds.OIDECPublicKey):
	case oid.Equal(oidRSASSAPSS):
		isRSA, pss = true, true
		h, err := pssHash(params)
		if err != nil {
			return err
		}
		hash = h
	default:
		found := false
		for _, e := range sigHashes {
			if e.oid.Equal(oid) {
				hash, isRSA, found = e.hash, e.rsa, true
			}
		}
		if !found {
			return fmt.Errorf("%w: signature algorithm %v", ErrUnsupportedAlgorithm, oid)
		}
	}
	if hash == 0 || !hash.Available() {
		return fmt.Errorf("%w: no usable hash for %v", ErrUnsupportedAlgorithm, oid)
	}
	h := hash.New()
	h.Write(msg)
	sum := h.Sum(nil)
	key, err := lds.ParsePublicKey(spki)
	if err != nil {
		return fmt.Errorf("%w: public key: %v", ErrCertificate, err)
	}
	switch {
	case isRSA && key.RSA != nil:
		pub, err := key.RSA.PublicKey()
		if err != nil {
			return err
		}
		if pss {
			err = rsa.VerifyPSS(pub, hash, sum, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto})
		} else {
			err = rsa.VerifyPKCS1v15(pub, hash, sum, sig)
		}
		if err != nil {
			return fmt.Errorf("%w: %v", ErrSignature, err)
		}
		return nil
	case !isRSA && key.EC != nil:
		return verifyECDSA(spki, key.EC, sum, sig)
	}
	return fmt.Errorf("%w: key %v with signature algorithm %v", ErrUnsupportedAlgorithm, key.Algorithm, oid)
}

// pssHash reads RSASSA-PSS-params' hashAlgorithm (RFC 8017 §A.2.3; SHA-1
// when absent). The salt length is taken from the signature (Auto).
func pssHash(params cryptobyte.String) (crypto.Hash, error) {
	var p, h cryptobyte.String
	var has bool
	if !params.ReadASN1(&p, asn1.SEQUENCE) || !p.ReadOptionalASN1(&h, &has, asn1.Tag(0).Constructed().ContextSpecific()) {
		return 0, fmt.Errorf("%w: RSASSA-PSS parameters", ErrCertificate)
	}
	if !has {
		return crypto.SHA1, nil
	}
	var alg cryptobyte.String
	var oid encasn1.ObjectIdentifier
	if !h.ReadASN1(&alg, asn1.SEQUENCE) || !alg.ReadASN1ObjectIdentifier(&oid) {
		return 0, fmt.Errorf("%w: RSASSA-PSS hashAlgorithm", ErrCertificate)
	}
	if hh := lds.HashForOID(oid); hh != 0 {
		return hh, nil
	}
	return 0, fmt.Errorf("%w: RSASSA-PSS hash %v", ErrUnsupportedAlgorithm, oid)
}

// verifyECDSA checks an X9.62 Ecdsa-Sig-Value. NIST curves go to
// crypto/ecdsa; the brainpool curves (and explicit parameters equal to a
// known curve) to verifyECDSAGeneric, since the standard library has no
// brainpool.
func verifyECDSA(spki []byte, key *lds.ECPublicKey, sum, sig []byte) error {
	if key.Params.NamedCurveOID == nil {
		return fmt.Errorf("%w: explicit curve parameters of no known curve", ErrUnsupportedAlgorithm)
	}
	if !key.Params.Explicit {
		if pub, err := x509.ParsePKIXPublicKey(spki); err == nil {
			if ec, ok := pub.(*ecdsa.PublicKey); ok {
				if !ecdsa.VerifyASN1(ec, sum, sig) {
					return ErrSignature
				}
				return nil
			}
		}
	}
	var r, s big.Int
	in := cryptobyte.String(sig)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, asn1.SEQUENCE) || !in.Empty() || !seq.ReadASN1Integer(&r) || !seq.ReadASN1Integer(&s) || !seq.Empty() {
		return fmt.Errorf("%w: Ecdsa-Sig-Value", ErrSignature)
	}
	if !verifyECDSAGeneric(key.Params, key.X, key.Y, sum, &r, &s) {
		return ErrSignature
	}
	return nil
}

// verifyECDSAGeneric is ECDSA verification (SEC 1 §4.1.4) in affine
// coordinates with math/big. Everything it handles is public, so the
// timing of big.Int does not matter; it is slow, and only the importer
// (master-list signers on brainpool curves) uses it.
func verifyECDSAGeneric(c *lds.ECParameters, qx, qy *big.Int, sum []byte, r, s *big.Int) bool {
	n := c.N
	if r.Sign() <= 0 || s.Sign() <= 0 || r.Cmp(n) >= 0 || s.Cmp(n) >= 0 || !c.OnCurve(qx, qy) {
		return false
	}
	e := new(big.Int).SetBytes(sum)
	if excess := len(sum)*8 - n.BitLen(); excess > 0 {
		e.Rsh(e, uint(excess))
	}
	w := new(big.Int).ModInverse(s, n)
	u1 := new(big.Int).Mul(e, w)
	u1.Mod(u1, n)
	u2 := new(big.Int).Mul(r, w)
	u2.Mod(u2, n)
	x1, y1 := ecMul(c, c.Gx, c.Gy, u1)
	x2, y2 := ecMul(c, qx, qy, u2)
	x, _ := ecAdd(c, x1, y1, x2, y2)
	if x == nil {
		return false
	}
	x.Mod(x, n)
	return x.Cmp(r) == 0
}

// ecAdd adds two affine points; nil stands for the point at infinity.
func ecAdd(c *lds.ECParameters, x1, y1, x2, y2 *big.Int) (*big.Int, *big.Int) {
	if x1 == nil {
		return x2, y2
	}
	if x2 == nil {
		return x1, y1
	}
	p := c.P
	var l *big.Int
	if x1.Cmp(x2) == 0 {
		if new(big.Int).Add(y1, y2).Mod(new(big.Int).Add(y1, y2), p).Sign() == 0 {
			return nil, nil
		}
		// λ = (3x² + a) / 2y
		num := new(big.Int).Mul(x1, x1)
		num.Mul(num, big.NewInt(3)).Add(num, c.A)
		den := new(big.Int).Lsh(y1, 1)
		l = num.Mul(num, den.ModInverse(den.Mod(den, p), p))
	} else {
		num := new(big.Int).Sub(y2, y1)
		den := new(big.Int).Sub(x2, x1)
		l = num.Mul(num, den.ModInverse(den.Mod(den, p), p))
	}
	l.Mod(l, p)
	x3 := new(big.Int).Mul(l, l)
	x3.Sub(x3, x1).Sub(x3, x2).Mod(x3, p)
	y3 := new(big.Int).Sub(x1, x3)
	y3.Mul(y3, l).Sub(y3, y1).Mod(y3, p)
	return x3, y3
}

func ecMul(c *lds.ECParameters, x, y, k *big.Int) (*big.Int, *big.Int) {
	var rx, ry *big.Int
	for i := k.BitLen() - 1; i >= 0; i-- {
		rx, ry = ecAdd(c, rx, ry, rx, ry)
		if k.Bit(i) == 1 {
			rx, ry = ecAdd(c, rx, ry, x, y)
		}
	}
	return rx, ry
}

// parseAlgorithm reads an AlgorithmIdentifier's DER.
func parseAlgorithm(der []byte) (lds.AlgorithmIdentifier, error) {
	var a lds.AlgorithmIdentifier
	s := cryptobyte.String(der)
	var seq cryptobyte.String
	if !s.ReadASN1(&seq, asn1.SEQUENCE) || !seq.ReadASN1ObjectIdentifier(&a.Algorithm) {
		return a, fmt.Errorf("%w: AlgorithmIdentifier", ErrCertificate)
	}
	if !seq.Empty() {
		a.Parameters = seq
	}
	return a, nil
}
