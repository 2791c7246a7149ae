package passiveauth

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"sort"
	"time"

	_ "crypto/sha1" // the hashes SODs name (lds.HashForOID)
	_ "crypto/sha256"
	_ "crypto/sha512"

	"github.com/kayle-id/orgs-api/verify/lds"
)

// RevocationPolicy says whether an unknown revocation status passes.
type RevocationPolicy int

const (
	// RequireRevocationStatus (the default, the zero value): a DSC passes
	// only when a current CRL signed by its CSCA does not list it.
	RequireRevocationStatus RevocationPolicy = iota
	// AllowUnknownRevocation: no current CRL still passes, reported as
	// revocation_unknown (the reference's behaviour in every environment).
	// For development and test deployments, or while the PKD CRLs are
	// being refreshed; a listed DSC still fails.
	AllowUnknownRevocation
)

// Options configure a check.
type Options struct {
	// IssuingState is DG1's issuing state (verify/mrz MRZ.IssuingState:
	// "UTO", "D", …). Required: the CSCA's and DSC's country must match it.
	IssuingState string
	// Time is when validity and CRL freshness are judged; zero means now.
	Time time.Time
	// Revocation is the revocation policy; the zero value refuses unknown.
	Revocation RevocationPolicy
}

// Result describes a passing check.
type Result struct {
	// DigestAlgorithm is the SOD's data-group hash.
	DigestAlgorithm string `json:"digest_algorithm"`
	// DataGroups are the numbers of the supplied groups whose hash matched.
	DataGroups []int `json:"data_groups"`
	// DeclaredDataGroups are every data group the SOD lists.
	DeclaredDataGroups []int `json:"declared_data_groups"`
	DeclaresDG14       bool  `json:"declares_dg14"`
	DeclaresDG15       bool  `json:"declares_dg15"`
	SignedAttributes   bool  `json:"signed_attributes"`
	// SignerIdentifier is "issuer_and_serial" or "subject_key_identifier".
	SignerIdentifier string `json:"signer_identifier"`
	// SignerSource is "sod" (embedded) or "trust_store".
	SignerSource string `json:"signer_source"`
	// SignatureAlgorithm names the SOD signature's scheme, hash and key.
	SignatureAlgorithm    string         `json:"signature_algorithm"`
	DSCSignatureAlgorithm string         `json:"dsc_signature_algorithm"`
	Country               string         `json:"country"`
	Revocation            RevocationInfo `json:"revocation"`
	DSC                   *Certificate   `json:"-"`
	CSCA                  *Certificate   `json:"-"`
}

// Limits on the work one check may do with what the trust store returns.
const (
	maxCandidates = 16
	maxCRLs       = 16
)

// Verify runs passive authentication (ICAO 9303-11 §5.1, the PKI of
// 9303-12): sod is EF.SOD as read (77 wrapper or bare ContentInfo),
// dataGroups the data groups as read (tags included), keyed by number.
//
// Order: inputs, SOD parse, every data group's hash (cheap, and a
// mismatch is the likeliest failure), then the signer, its signature, its
// CSCA, countries and revocation. The first failing check is returned as
// an *Error; on success the Result says what was proven.
func Verify(ctx context.Context, sod []byte, dataGroups map[int][]byte, ts TrustStore, opts Options) (*Result, error) {
	now := opts.Time
	if now.IsZero() {
		now = time.Now()
	}
	if len(sod) == 0 || len(dataGroups[1]) == 0 || len(dataGroups[2]) == 0 {
		return nil, fail(CheckInput, ErrMissingArtifact, "DG1, DG2 and the SOD are required")
	}
	country, ok := issuingStateAlpha2(opts.IssuingState)
	if !ok {
		return nil, fail(CheckInput, ErrMissingArtifact, "issuing state %q is not a country code", opts.IssuingState)
	}
	parsed, err := lds.ParseSOD(sod)
	if err != nil {
		return nil, &Error{Check: CheckParse, Reason: ErrParse, Detail: err.Error()}
	}
	sd, ldso := parsed.SignedData, parsed.LDS
	if len(sd.SignerInfos) == 0 {
		return nil, fail(CheckParse, ErrParse, "no signerInfos")
	}
	res := &Result{}
	if err := checkDataGroups(ldso, dataGroups, res); err != nil {
		return nil, err
	}

	// ICAO 9303-10 §4.6.2.2 recommends one SignerInfo; only the first is
	// checked (it alone decides, as in the reference).
	si := &sd.SignerInfos[0]
	res.SignedAttributes = si.SignedAttrs != nil
	res.SignerIdentifier = "issuer_and_serial"
	if si.SID.IsSubjectKeyIdentifier() {
		res.SignerIdentifier = "subject_key_identifier"
	}
	cands, err := signerCandidates(ctx, sd, si, ts)
	if err != nil {
		return nil, err
	}
	var first *Error
	for _, c := range cands {
		e := checkCandidate(ctx, sd, si, c, ts, country, now, opts, res)
		if e == nil {
			res.SignerSource = c.source
			return res, nil
		}
		if first == nil {
			first = e
		}
	}
	return nil, first
}

func checkDataGroups(l *lds.LDSSecurityObject, dgs map[int][]byte, res *Result) error {
	h := l.HashFunc()
	if h == 0 || !h.Available() {
		return fail(CheckDigest, ErrUnsupportedDigest, "%v", l.HashAlgorithm.Algorithm)
	}
	res.DigestAlgorithm = hashName(h)
	for _, d := range l.DataGroupHashes {
		res.DeclaredDataGroups = append(res.DeclaredDataGroups, d.DataGroupNumber)
	}
	sort.Ints(res.DeclaredDataGroups)
	for _, n := range []int{1, 2} {
		if _, ok := l.Hash(n); !ok {
			return fail(CheckDataGroups, ErrRequiredHashMissing, "DG%d", n)
		}
	}
	_, res.DeclaresDG14 = l.Hash(14)
	_, res.DeclaresDG15 = l.Hash(15)
	// DG14 and DG15 carry the keys chip and active authentication use, so
	// a declared one must be supplied; other declared groups (DG3, DG11, …)
	// may be unread.
	for _, n := range []int{14, 15} {
		if _, ok := l.Hash(n); ok && len(dgs[n]) == 0 {
			return fail(CheckDataGroups, ErrDeclaredDGMissing, "DG%d", n)
		}
	}
	nums := make([]int, 0, len(dgs))
	for n, b := range dgs {
		if len(b) > 0 {
			nums = append(nums, n)
		}
	}
	sort.Ints(nums)
	for _, n := range nums {
		want, ok := l.Hash(n)
		if !ok {
			return fail(CheckDataGroups, ErrUndeclaredDGSupplied, "DG%d", n)
		}
		if subtle.ConstantTimeCompare(digest(h, dgs[n]), want) != 1 {
			return fail(CheckDataGroups, ErrDGHashMismatch, "DG%d", n)
		}
		res.DataGroups = append(res.DataGroups, n)
	}
	return nil
}

type candidate struct {
	cert   *Certificate
	source string
}

// signerCandidates lists the certificates that match the signer
// identifier (RFC 5652 §5.3): embedded ones first, then the trust store's
// by issuer and serial or by subject key identifier; de-duplicated by DER.
func signerCandidates(ctx context.Context, sd *lds.SignedData, si *lds.SignerInfo, ts TrustStore) ([]candidate, error) {
	var out []candidate
	seen := map[string]bool{}
	add := func(der []byte, source string) {
		if seen[string(der)] || len(out) == maxCandidates {
			return
		}
		c, err := ParseCertificate(der)
		if err != nil || !matchesSID(c, si.SID) {
			return
		}
		seen[string(der)] = true
		out = append(out, candidate{c, source})
	}
	for _, der := range sd.Certificates {
		add(der, "sod")
	}
	var fromStore [][]byte
	var err error
	if si.SID.IsSubjectKeyIdentifier() {
		fromStore, err = ts.DSCsBySKI(ctx, si.SID.SubjectKeyIdentifier)
	} else {
		fromStore, err = ts.DSCsByIssuerSerial(ctx, si.SID.Issuer, si.SID.SerialBytes)
	}
	if err != nil {
		return nil, &Error{Check: CheckTrustStore, Reason: ErrTrustStore, Detail: err.Error()}
	}
	for _, der := range fromStore {
		add(der, "trust_store")
	}
	if len(out) == 0 {
		return nil, fail(CheckSigner, ErrSignerNotFound, "%d embedded certificates, %d from the trust store", len(sd.Certificates), len(fromStore))
	}
	return out, nil
}

func matchesSID(c *Certificate, sid lds.SignerIdentifier) bool {
	if sid.IsSubjectKeyIdentifier() {
		// A certificate without the extension never matches.
		return c.SubjectKeyID != nil && bytes.Equal(c.SubjectKeyID, sid.SubjectKeyIdentifier)
	}
	return bytes.Equal(c.RawIssuer, sid.Issuer) && bytes.Equal(c.SerialBytes, sid.SerialBytes)
}

func checkValidity(c *Certificate, role Check, now time.Time) *Error {
	if now.Before(c.NotBefore) {
		return fail(role, ErrNotYetValid, "notBefore %s", c.NotBefore.Format(time.RFC3339))
	}
	if now.After(c.NotAfter) {
		return fail(role, ErrExpired, "notAfter %s", c.NotAfter.Format(time.RFC3339))
	}
	return nil
}

func checkCandidate(ctx context.Context, sd *lds.SignedData, si *lds.SignerInfo, c candidate, ts TrustStore,
	country string, now time.Time, opts Options, res *Result) *Error {
	dsc := c.cert
	if e := checkValidity(dsc, CheckDSCValidity, now); e != nil {
		return e
	}
	// ICAO 9303-12 §7.1.1: a DSC's key usage is digitalSignature, and it
	// is no CA.
	if !dsc.hasUsage(kuDigitalSignature) || dsc.IsCA || len(dsc.criticalUnknown) > 0 {
		return fail(CheckDSCProfile, ErrCertProfile, "DSC needs keyUsage digitalSignature, no cA, no unknown critical extension")
	}
	alg, err := verifyCMS(sd, si, dsc)
	if err != nil {
		return &Error{Check: CheckCMSSignature, Reason: ErrCMSSignature, Detail: err.Error()}
	}
	csca, dscAlg, e := findIssuer(ctx, dsc, ts, now)
	if e != nil {
		return e
	}
	// ICAO 9303-12 §7.1.1: C in the subject of both is the issuing
	// state's; a CSCA of one country must not vouch for another's documents.
	if csca.SubjectCountry != country || dsc.SubjectCountry != country {
		return fail(CheckCountry, ErrCountryMismatch, "issuing state %s, CSCA C=%q, DSC C=%q", country, csca.SubjectCountry, dsc.SubjectCountry)
	}
	crls, err := ts.CRLsByIssuer(ctx, csca.RawSubject)
	if err != nil {
		return &Error{Check: CheckTrustStore, Reason: ErrTrustStore, Detail: err.Error()}
	}
	if len(crls) > maxCRLs {
		crls = crls[:maxCRLs]
	}
	rev := revocation(crls, csca, dsc, now)
	switch {
	case rev.Status == Revoked:
		return fail(CheckRevocation, ErrRevoked, "serial %x", dsc.SerialBytes)
	case rev.Status == RevocationUnknown && opts.Revocation != AllowUnknownRevocation:
		return fail(CheckRevocation, ErrRevocationUnknown, "%d stale, %d unverifiable CRLs", rev.Stale, rev.Unverifiable)
	}
	res.SignatureAlgorithm, res.DSCSignatureAlgorithm = alg, dscAlg
	res.Country, res.Revocation, res.DSC, res.CSCA = country, rev, dsc, csca
	return nil
}

// verifyCMS checks the SignerInfo's signature (RFC 5652 §5.4, §5.6). With
// signed attributes the message-digest must be the eContent's digest under
// digestAlgorithm (content-type presence and equality with eContentType
// are enforced by lds.ParseSOD) and the signature covers the attributes'
// DER as a SET OF; without them it covers the eContent.
func verifyCMS(sd *lds.SignedData, si *lds.SignerInfo, dsc *Certificate) (string, error) {
	h := lds.HashForOID(si.DigestAlgorithm.Algorithm)
	if h == 0 {
		return "", fmt.Errorf("digestAlgorithm %v", si.DigestAlgorithm.Algorithm)
	}
	msg := sd.EContent
	if si.SignedAttrs != nil {
		if si.MessageDigest == nil || si.ContentType == nil || !si.ContentType.Equal(sd.EContentType) {
			return "", errors.New("signed attributes lack content-type or message-digest")
		}
		if subtle.ConstantTimeCompare(digest(h, sd.EContent), si.MessageDigest) != 1 {
			return "", errors.New("message-digest differs from the eContent's digest")
		}
		msg = si.SignedAttrsDER()
	}
	return VerifySignature(dsc.SPKI, si.SignatureAlgorithm, h, msg, si.Signature)
}

// findIssuer finds the CSCA that signed the DSC: trust-store CSCAs whose
// subject is the DSC's issuer, then those whose key identifier is the
// DSC's authority key identifier (encodings of one name differ in the
// wild); either must also carry the DSC's issuer name, compared as RFC
// 5280 §7.1 allows. One level: link certificates are stored as CSCAs.
func findIssuer(ctx context.Context, dsc *Certificate, ts TrustStore, now time.Time) (*Certificate, string, *Error) {
	ders, err := ts.CSCAsBySubject(ctx, dsc.RawIssuer)
	if err == nil && dsc.AuthorityKeyID != nil {
		var bySKI [][]byte
		bySKI, err = ts.CSCAsBySKI(ctx, dsc.AuthorityKeyID)
		ders = append(ders, bySKI...)
	}
	if err != nil {
		return nil, "", &Error{Check: CheckTrustStore, Reason: ErrTrustStore, Detail: err.Error()}
	}
	var cands []*Certificate
	seen := map[string]bool{}
	for _, der := range ders {
		if seen[string(der)] || len(cands) == maxCandidates {
			continue
		}
		seen[string(der)] = true
		c, err := ParseCertificate(der)
		if err != nil || !sameName(c.RawSubject, dsc.RawIssuer) {
			continue
		}
		cands = append(cands, c)
	}
	if len(cands) == 0 {
		return nil, "", fail(CheckChain, ErrChainUntrusted, "issuer %q", nameString(dsc.RawIssuer))
	}
	var first *Error
	for _, c := range cands {
		alg, err := VerifySignature(c.SPKI, dsc.SignatureAlg, 0, dsc.RawTBS, dsc.Signature)
		if err != nil {
			if first == nil {
				first = &Error{Check: CheckDSCSignature, Reason: ErrDSCSignature, Detail: err.Error()}
			}
			continue
		}
		// The profile and validity are checked on the CSCA whose key
		// signed, so a failure names the real issuer's fault.
		if e := checkValidity(c, CheckCSCAValidity, now); e != nil {
			return nil, "", e
		}
		// RFC 5280 §4.2.1.9 and ICAO 9303-12 §7.1.1: cA and keyCertSign.
		if !c.HasBasicConstr || !c.IsCA || !c.hasUsage(kuKeyCertSign) || len(c.criticalUnknown) > 0 {
			return nil, "", fail(CheckCSCAProfile, ErrCertProfile, "CSCA needs basicConstraints cA, keyUsage keyCertSign, no unknown critical extension")
		}
		return c, alg, nil
	}
	return nil, "", first
}
