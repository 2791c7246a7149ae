package passiveauth

import (
	"errors"
	"fmt"
)

// Check names one step of passive authentication. An *Error carries the
// step that failed; Result lists the outcome of each step that ran.
type Check string

const (
	CheckInput        Check = "input"         // DG1, DG2 and the SOD are present
	CheckParse        Check = "parse"         // the SOD is a SignedData over an LDSSecurityObject
	CheckDigest       Check = "digest"        // the data-group hash algorithm is supported
	CheckDataGroups   Check = "data_groups"   // every data group's hash against the SOD
	CheckSigner       Check = "signer"        // a DSC for the signer identifier exists
	CheckDSCValidity  Check = "dsc_validity"  // the DSC is valid at the check time
	CheckDSCProfile   Check = "dsc_profile"   // the DSC's key usage allows signing
	CheckCMSSignature Check = "cms_signature" // the SignerInfo's signature under the DSC
	CheckChain        Check = "chain"         // a trusted CSCA issued the DSC
	CheckCSCAValidity Check = "csca_validity" // the CSCA is valid at the check time
	CheckCSCAProfile  Check = "csca_profile"  // the CSCA is a CA with keyCertSign
	CheckDSCSignature Check = "dsc_signature" // the DSC's signature under the CSCA
	CheckCountry      Check = "country"       // CSCA and DSC countries equal DG1's issuing state
	CheckRevocation   Check = "revocation"    // the CSCA's CRL does not list the DSC
	CheckTrustStore   Check = "trust_store"   // the trust store answered
)

// Sentinel reasons; an *Error wraps exactly one, so callers use errors.Is.
var (
	ErrMissingArtifact      = errors.New("required data group or SOD missing")
	ErrParse                = errors.New("SOD does not parse")
	ErrUnsupportedDigest    = errors.New("unsupported data-group hash algorithm")
	ErrRequiredHashMissing  = errors.New("SOD has no hash for a required data group")
	ErrDeclaredDGMissing    = errors.New("SOD declares a data group that was not supplied")
	ErrUndeclaredDGSupplied = errors.New("a supplied data group is not in the SOD")
	ErrDGHashMismatch       = errors.New("data group hash differs from the SOD")
	ErrSignerNotFound       = errors.New("no certificate matches the signer identifier")
	ErrNotYetValid          = errors.New("certificate not yet valid")
	ErrExpired              = errors.New("certificate expired")
	ErrCertProfile          = errors.New("certificate profile not allowed for its role")
	ErrCMSSignature         = errors.New("CMS signature invalid")
	ErrChainUntrusted       = errors.New("no trusted CSCA for the DSC's issuer")
	ErrDSCSignature         = errors.New("DSC signature invalid under every candidate CSCA")
	ErrCountryMismatch      = errors.New("certificate country differs from the issuing state")
	ErrRevoked              = errors.New("DSC revoked")
	ErrRevocationUnknown    = errors.New("DSC revocation status unknown")
	ErrTrustStore           = errors.New("trust store lookup failed")
)

// Error says which check failed and why. Err wraps one of the sentinel
// reasons above (and, where there is one, the underlying cause).
type Error struct {
	Check  Check
	Reason error
	Detail string
}

func (e *Error) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("passiveauth: %s: %v", e.Check, e.Reason)
	}
	return fmt.Sprintf("passiveauth: %s: %v: %s", e.Check, e.Reason, e.Detail)
}

func (e *Error) Unwrap() error { return e.Reason }

func fail(c Check, reason error, format string, args ...any) *Error {
	return &Error{Check: c, Reason: reason, Detail: fmt.Sprintf(format, args...)}
}
