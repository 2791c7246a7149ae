package appattest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/asn1"
)

const fmtAppleAppAttest = "apple-appattest"

// oidAppleNonce is the leaf extension carrying SHA-256(authData ‖ clientDataHash).
var oidAppleNonce = asn1.ObjectIdentifier{1, 2, 840, 113635, 100, 8, 2}

// VerifyAttestation checks an attestation object made by
// DCAppAttestService.attestKey for keyID (the decoded key identifier) over
// clientDataHash, following Apple's nine steps plus the checks Apple leaves
// implicit: the authData flags, the nonce extension's ASN.1 shape, and that
// the COSE key in authData is the certificate's key.
func (c Config) VerifyAttestation(keyID, attestation []byte, clientDataHash [32]byte) (Key, error) {
	if err := c.check(); err != nil {
		return Key{}, err
	}
	if len(attestation) > MaxAttestationSize {
		return Key{}, fail(ErrTooLarge, "attestation of %d bytes", len(attestation))
	}
	var obj attestationObject
	if err := decMode.Unmarshal(attestation, &obj); err != nil {
		return Key{}, fail(ErrMalformed, "attestation object: %v", err)
	}
	if obj.Fmt != fmtAppleAppAttest {
		return Key{}, fail(ErrFormat, "fmt %q", obj.Fmt)
	}
	if len(obj.AttStmt.X5C) == 0 || len(obj.AttStmt.X5C) > maxChain {
		return Key{}, fail(ErrChain, "x5c has %d certificates", len(obj.AttStmt.X5C))
	}
	if len(obj.AttStmt.Receipt) == 0 {
		return Key{}, ErrReceipt
	}

	// Step 1: the chain, leaf first, to the configured root, valid now.
	leaf, err := c.verifyChain(obj.AttStmt.X5C)
	if err != nil {
		return Key{}, err
	}

	ad, err := parseAttestedAuthData(obj.AuthData)
	if err != nil {
		return Key{}, err
	}

	// Steps 2–4: nonce = SHA-256(authData ‖ clientDataHash) is the value of
	// the leaf's 1.2.840.113635.100.8.2 extension.
	nonce := sha256.Sum256(concat(obj.AuthData, clientDataHash[:]))
	got, err := leafNonce(leaf)
	if err != nil {
		return Key{}, err
	}
	if subtle.ConstantTimeCompare(got, nonce[:]) != 1 {
		return Key{}, fail(ErrNonce, "extension nonce differs from SHA-256(authData ‖ clientDataHash)")
	}

	// Step 5: SHA-256 of the leaf's public key (the uncompressed point) is
	// the key identifier.
	leafPub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || leafPub.Curve != elliptic.P256() {
		return Key{}, fail(ErrChain, "leaf key is not ECDSA P-256")
	}
	leafPoint, err := leafPub.Bytes()
	if err != nil {
		return Key{}, fail(ErrChain, "leaf key: %v", err)
	}
	leafKeyID := sha256.Sum256(leafPoint)
	if !bytes.Equal(leafKeyID[:], keyID) {
		return Key{}, fail(ErrKeyID, "SHA-256 of the leaf key is not the key id")
	}

	// Step 6: rpIdHash.
	want := c.rpIDHash()
	if !bytes.Equal(ad.rpIDHash, want[:]) {
		return Key{}, fail(ErrRPID, "attestation rpIdHash")
	}
	// Step 7: a fresh key has signed nothing.
	if ad.counter != 0 {
		return Key{}, fail(ErrAttestCount, "counter %d", ad.counter)
	}
	// Step 8: AAGUID for the configured environment.
	aaguid, _ := c.Environment.aaguid()
	if !bytes.Equal(ad.aaguid, aaguid) {
		return Key{}, fail(ErrAAGUID, "AAGUID %q in %s", ad.aaguid, c.Environment)
	}
	// Step 9: the credential id is the key identifier.
	if !bytes.Equal(ad.credentialID, keyID) {
		return Key{}, fail(ErrKeyID, "credential id is not the key id")
	}

	// Beyond Apple's list: the COSE key later assertions are checked with
	// must be the key the certificate vouches for.
	cosePub, err := parseCOSEKey(ad.coseKey)
	if err != nil {
		return Key{}, err
	}
	cosePoint, _ := cosePub.Bytes()
	if !bytes.Equal(cosePoint, leafPoint) {
		return Key{}, fail(ErrCOSEKey, "COSE key is not the leaf certificate's key")
	}

	return Key{
		KeyID:         bytes.Clone(keyID),
		PublicKeyCOSE: bytes.Clone(ad.coseKey),
		Receipt:       bytes.Clone(obj.AttStmt.Receipt),
	}, nil
}

func (c Config) verifyChain(x5c [][]byte) (*x509.Certificate, error) {
	leaf, err := x509.ParseCertificate(x5c[0])
	if err != nil {
		return nil, fail(ErrChain, "leaf: %v", err)
	}
	inter := x509.NewCertPool()
	for i, der := range x5c[1:] {
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fail(ErrChain, "x5c[%d]: %v", i+1, err)
		}
		inter.AddCert(cert)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots:         c.Roots,
		Intermediates: inter,
		CurrentTime:   c.now(),
		// Apple's certificates carry no extended key usage for this purpose.
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}); err != nil {
		return nil, fail(ErrChain, "%v", err)
	}
	return leaf, nil
}

// leafNonce reads the nonce extension, which Apple's documentation shows as
// SEQUENCE { [1] EXPLICIT OCTET STRING (SIZE 32) }.
func leafNonce(leaf *x509.Certificate) ([]byte, error) {
	var found []byte
	n := 0
	for _, ext := range leaf.Extensions {
		if ext.Id.Equal(oidAppleNonce) {
			found = ext.Value
			n++
		}
	}
	if n != 1 {
		return nil, fail(ErrNonce, "%d nonce extensions", n)
	}
	var v struct {
		Nonce []byte `asn1:"tag:1,explicit"`
	}
	rest, err := asn1.Unmarshal(found, &v)
	if err != nil {
		return nil, fail(ErrNonce, "extension: %v", err)
	}
	if len(rest) != 0 {
		return nil, fail(ErrNonce, "trailing bytes after the extension")
	}
	if len(v.Nonce) != sha256.Size {
		return nil, fail(ErrNonce, "nonce of %d bytes", len(v.Nonce))
	}
	return v.Nonce, nil
}
