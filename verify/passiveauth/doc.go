// Package passiveauth is passive authentication of an ICAO 9303 travel
// document (9303-11 §5.1, the PKI of 9303-12, CMS of RFC 5652, X.509 and
// CRLs of RFC 5280): it proves that the data groups read from a chip are
// the ones the issuing state's document signer signed, and that the signer
// chains to a CSCA in the trust store.
//
// Verify checks, in order, each failure an *Error naming its Check:
//   - DG1, DG2 and the SOD present; the SOD a SignedData over an
//     LDSSecurityObject (verify/lds parses it);
//   - every supplied data group's hash equals the SOD's; DG1 and DG2 must
//     be listed, DG14/DG15 when listed must be supplied, an unlisted
//     supplied group is refused, unread listed groups (DG3, …) are ignored;
//   - the first SignerInfo's certificate: embedded in the SOD, else from the
//     trust store, by issuerAndSerialNumber or subjectKeyIdentifier;
//   - the DSC valid at the check time, keyUsage digitalSignature, not a CA;
//   - the CMS signature, with signed attributes (content-type equal to the
//     eContentType, message-digest over the eContent) or without;
//   - a trust-store CSCA with the DSC's issuer name (found by subject or by
//     the DSC's authority key identifier) whose key verifies the DSC; that
//     CSCA valid at the check time, basicConstraints cA and keyCertSign;
//   - the CSCA's and the DSC's subject C equal DG1's issuing state;
//   - revocation from the CSCA's CRLs, under Options.Revocation, whose
//     zero value (the default) refuses revocation_unknown.
//
// Signatures: RSA PKCS#1 v1.5, RSASSA-PSS (MGF1 with the message hash),
// ECDSA in DER and BSI TR-03111 plain form on P-256/384/521, brainpool and
// explicit-parameter curves (verify/ecc). Certificates are parsed here,
// not by crypto/x509, which refuses brainpool and explicit parameters.
//
// It does not prove the chip is genuine (a copied chip passes: that is
// active or chip authentication), nor that the person holds the document.
// The chain is one level (link certificates are stored as CSCAs); only the
// first SignerInfo counts; delta CRLs and CRL distribution points are not
// read; a CRL is current only with a nextUpdate not yet passed.
package passiveauth
