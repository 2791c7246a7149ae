package appattest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/binary"
)

// authData flag bits (WebAuthn §6.1).
const (
	flagAT = 0x40 // attested credential data included
	flagED = 0x80 // extension data included
)

type authData struct {
	rpIDHash     []byte
	flags        byte
	counter      uint32
	aaguid       []byte
	credentialID []byte
	coseKey      []byte
}

// parseAuthData reads the 37 bytes every authenticator data starts with.
func parseAuthData(b []byte) (authData, error) {
	if len(b) < 37 {
		return authData{}, fail(ErrMalformed, "authenticator data of %d bytes", len(b))
	}
	return authData{
		rpIDHash: b[:32],
		flags:    b[32],
		counter:  binary.BigEndian.Uint32(b[33:37]),
	}, nil
}

// parseAttestedAuthData reads an attestation's authenticator data, which
// must carry attested credential data (AT set) and nothing after the
// COSE key (ED clear): Apple sends no extensions.
func parseAttestedAuthData(b []byte) (authData, error) {
	ad, err := parseAuthData(b)
	if err != nil {
		return ad, err
	}
	if ad.flags&flagAT == 0 {
		return ad, fail(ErrFlags, "attested credential data flag not set (flags %#02x)", ad.flags)
	}
	if ad.flags&flagED != 0 {
		return ad, fail(ErrFlags, "extension data flag set (flags %#02x)", ad.flags)
	}
	if len(b) < 55 {
		return ad, fail(ErrMalformed, "attested credential data truncated")
	}
	ad.aaguid = b[37:53]
	n := int(binary.BigEndian.Uint16(b[53:55]))
	if len(b) < 55+n {
		return ad, fail(ErrMalformed, "credential id of %d bytes overruns authData", n)
	}
	ad.credentialID = b[55 : 55+n]
	ad.coseKey = b[55+n:]
	if len(ad.coseKey) == 0 {
		return ad, fail(ErrCOSEKey, "no credential public key")
	}
	return ad, nil
}

// parseCOSEKey accepts exactly one EC2 / ES256 / P-256 COSE_Key whose x and
// y are 32 bytes each and name a point on the curve.
func parseCOSEKey(b []byte) (*ecdsa.PublicKey, error) {
	var k coseKey
	if err := decMode.Unmarshal(b, &k); err != nil {
		return nil, fail(ErrCOSEKey, "%v", err)
	}
	if k.Kty != coseKtyEC2 || k.Alg != coseAlgES256 || k.Crv != coseCrvP256 {
		return nil, fail(ErrCOSEKey, "kty %d alg %d crv %d, want EC2/ES256/P-256", k.Kty, k.Alg, k.Crv)
	}
	if len(k.X) != 32 || len(k.Y) != 32 {
		return nil, fail(ErrCOSEKey, "coordinates of %d and %d bytes", len(k.X), len(k.Y))
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), concat([]byte{4}, k.X, k.Y))
	if err != nil {
		return nil, fail(ErrCOSEKey, "%v", err)
	}
	return pub, nil
}
