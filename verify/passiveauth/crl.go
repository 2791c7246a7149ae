package passiveauth

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"math/big"
	"time"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	"github.com/kayle-id/orgs-api/verify/lds"
)

// RevocationStatus is the DSC's revocation outcome.
type RevocationStatus string

const (
	// A current CRL signed by the CSCA does not list the DSC.
	VerifiedNotRevoked RevocationStatus = "verified_not_revoked"
	// A CRL signed by the CSCA lists the DSC.
	Revoked RevocationStatus = "revoked"
	// No CRL signed by the CSCA is current: none at all, only stale ones,
	// or only ones whose signature does not verify.
	RevocationUnknown RevocationStatus = "revocation_unknown"
)

type crl struct {
	*x509.RevocationList
	sigAlg lds.AlgorithmIdentifier
}

const maxCRLSize = 8 << 20 // the largest national CRLs in the PKD hold a few thousand entries

// parseCRL parses a CRL with crypto/x509 (which needs no issuer key to
// parse) and keeps the raw signature AlgorithmIdentifier, whose RSA-PSS
// parameters the x509 enum drops.
func parseCRL(der []byte) (*crl, error) {
	if len(der) > maxCRLSize {
		return nil, fmt.Errorf("CRL of %d bytes", len(der))
	}
	rl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, err
	}
	s := cryptobyte.String(der)
	var seq cryptobyte.String
	if !s.ReadASN1(&seq, asn1.SEQUENCE) || !seq.SkipASN1(asn1.SEQUENCE) {
		return nil, errCert
	}
	alg, err := readAlg(&seq)
	if err != nil {
		return nil, err
	}
	return &crl{RevocationList: rl, sigAlg: alg}, nil
}

// RevocationInfo reports how the status was reached.
type RevocationInfo struct {
	Status RevocationStatus `json:"status"`
	// Counts of the CRLs the store held for the CSCA, by what became of them.
	Current      int `json:"current"`
	Stale        int `json:"stale"`
	Unverifiable int `json:"unverifiable"` // signature, issuer, parse or thisUpdate in the future
	// NextUpdate of the freshest current CRL, zero when there is none.
	NextUpdate time.Time `json:"next_update,omitzero"`
}

// revocation decides the DSC's status from the CRLs issued by csca (RFC
// 5280 §6.3, simplified to ICAO's one full CRL per CSCA, 9303-12 §7.1.4):
//   - a CRL counts only when its issuer is the CSCA's subject, its
//     signature verifies under the CSCA, the CSCA has cRLSign, and its
//     thisUpdate is not in the future;
//   - a counted CRL that lists the DSC's serial makes it revoked, even a
//     stale one: revocation is permanent (the reference ignored stale ones);
//   - otherwise one current CRL (nextUpdate present and not passed) makes
//     it verified_not_revoked; a CRL without nextUpdate is treated as stale,
//     since RFC 5280 §5.1.2.5 and ICAO require the field;
//   - otherwise the status is unknown.
func revocation(crls [][]byte, csca, dsc *Certificate, now time.Time) RevocationInfo {
	info := RevocationInfo{Status: RevocationUnknown}
	serial := new(big.Int).SetBytes(dsc.SerialBytes)
	if len(dsc.SerialBytes) > 0 && dsc.SerialBytes[0]&0x80 != 0 {
		// A negative serial (non-conforming, but seen); two's complement.
		serial.Sub(serial, new(big.Int).Lsh(big.NewInt(1), uint(8*len(dsc.SerialBytes))))
	}
	listed := false
	for _, der := range crls {
		c, err := parseCRL(der)
		if err != nil || !bytes.Equal(c.RawIssuer, csca.RawSubject) || !csca.hasUsage(kuCRLSign) ||
			c.ThisUpdate.After(now) {
			info.Unverifiable++
			continue
		}
		if _, err := VerifySignature(csca.SPKI, c.sigAlg, 0, c.RawTBSRevocationList, c.Signature); err != nil {
			info.Unverifiable++
			continue
		}
		for _, e := range c.RevokedCertificateEntries {
			if e.SerialNumber.Cmp(serial) == 0 {
				listed = true
			}
		}
		if c.NextUpdate.IsZero() || c.NextUpdate.Before(now) {
			info.Stale++
			continue
		}
		info.Current++
		if c.NextUpdate.After(info.NextUpdate) {
			info.NextUpdate = c.NextUpdate
		}
	}
	switch {
	case listed:
		info.Status = Revoked
	case info.Current > 0:
		info.Status = VerifiedNotRevoked
	}
	return info
}
