// Package document runs every check of a travel document's chip data, in
// the order the verify flow does (behaviour notes §5.8, §6.1–§6.5), and
// reports each one: the MRZ of DG1 (verify/mrz), passive authentication
// (verify/passiveauth), active authentication (verify/activeauth), chip
// authentication (verify/chipauth) and the claims the MRZ yields.
//
// It only composes those packages: what each check proves and does not
// prove is in their documentation. Passive authentication is what ties DG15
// and DG14 to the issuing state; an active or chip authentication that passes
// while passive authentication fails proves nothing, and the verdict fails.
// Active and chip authentication are skipped, and the report says so, when
// their inputs are not given: a document passing with them skipped is not
// shown to be anything but a copy of the data groups. Options.RequireActiveAuth
// and Options.RequireChipAuth turn that into a failure for documents whose
// SOD declares DG15 (active authentication) or DG14 with a version 2 chip
// authentication (the flow's rule, behaviour notes §5.8), so a relayed copy
// of a chip's data groups cannot pass by leaving the answers out.
//
// Check reads nothing but its arguments: no file, network or clock beyond
// Options.Now (TestNoFileOrNetworkAccess holds the package and the verify
// packages it uses to that); the trust store is the caller's.
package document

import (
	"context"
	"crypto"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"

	"github.com/kayle-id/orgs-api/sessions"
	"github.com/kayle-id/orgs-api/verify/activeauth"
	"github.com/kayle-id/orgs-api/verify/chipauth"
	"github.com/kayle-id/orgs-api/verify/ecc"
	"github.com/kayle-id/orgs-api/verify/lds"
	"github.com/kayle-id/orgs-api/verify/mrz"
	"github.com/kayle-id/orgs-api/verify/passiveauth"
)

// Inputs are the document's artefacts as the phone read them (data groups
// with their tags, EF.SOD with or without its 77 wrapper) and the records of
// the active and chip authentication exchanges. Nil means not given.
type Inputs struct {
	DG1, SOD, DG2, DG14, DG15 []byte
	// AAChallenge is the challenge the server chose; AASignature the chip's
	// answer (ISO/IEC 9796-2 for RSA, plain r‖s for EC).
	AAChallenge, AASignature []byte
	// CATranscript is the chip-authentication transcript
	// (chipauth.ParseTranscript's layout).
	CATranscript []byte
}

// Options configure a check.
type Options struct {
	// Now is when certificates, CRLs and dates are judged; zero means now.
	Now time.Time
	// Revocation is passive authentication's revocation policy; the zero
	// value refuses an unknown status.
	Revocation passiveauth.RevocationPolicy
	// Secret and OrgID are what kayle_document_id is keyed with.
	Secret, OrgID string
	// ChipAuth is passed to chipauth.Verify.
	ChipAuth chipauth.Options
	// RequireActiveAuth fails active authentication, instead of skipping
	// it, when the SOD declares DG15 and no challenge and signature are
	// given (or the SOD cannot be read to tell).
	RequireActiveAuth bool
	// RequireChipAuth fails chip authentication, instead of skipping it,
	// when the SOD declares DG14, DG14 declares chip authentication version
	// 2 or later and no transcript is given (or DG14 or the SOD cannot be
	// read to tell).
	RequireChipAuth bool
}

// Status is a check's outcome.
type Status string

const (
	Passed  Status = "passed"
	Failed  Status = "failed"
	Skipped Status = "skipped"
)

// Name names a check in the report.
type Name string

const (
	CheckMRZ         Name = "mrz"
	CheckPassiveAuth Name = "passive_authentication"
	CheckActiveAuth  Name = "active_authentication"
	CheckChipAuth    Name = "chip_authentication"
	CheckClaims      Name = "claims"
)

// Checks is the order they run in.
var Checks = []Name{CheckMRZ, CheckPassiveAuth, CheckActiveAuth, CheckChipAuth, CheckClaims}

// Result is one check's outcome. Reason is short and stable (a failed
// passive-authentication step's name, "inputs_absent", …); Detail says more:
// an error's text, or what a passing check established.
type Result struct {
	Status Status `json:"status"`
	Reason string `json:"reason,omitempty"`
	Detail any    `json:"detail,omitempty"`
}

// MRZFields are DG1's fields as written (dates YYMMDD), fillers removed.
type MRZFields struct {
	Format         string `json:"format"`
	DocumentCode   string `json:"document_code"`
	IssuingState   string `json:"issuing_state"`
	Surname        string `json:"surname"`
	GivenNames     string `json:"given_names"`
	DocumentNumber string `json:"document_number"`
	Nationality    string `json:"nationality"`
	DateOfBirth    string `json:"date_of_birth"`
	Sex            string `json:"sex"`
	DateOfExpiry   string `json:"date_of_expiry"`
	OptionalData   string `json:"optional_data"`
}

// Report is the whole check. Verdict is "passed" when no check failed
// (skipped ones do not fail it); FailedChecks lists those that did, in order.
type Report struct {
	Verdict      Status          `json:"verdict"`
	FailedChecks []Name          `json:"failed_checks"`
	Checks       map[Name]Result `json:"checks"`
	MRZ          *MRZFields      `json:"mrz,omitempty"`
	Claims       map[string]any  `json:"claims,omitempty"`
}

// Passed reports whether the document passed.
func (r *Report) Passed() bool { return r.Verdict == Passed }

// Code is one of upstream's failure codes for the document checks
// (behaviour notes §5.10).
type Code string

const (
	CodeAuthenticity       Code = "document_authenticity_failed"
	CodeChipAuthentication Code = "document_chip_authentication_failed"
	CodeActiveAuth         Code = "document_active_authentication_failed"
	// CodeDataInvalid is upstream's code for a DG1 it cannot use; here it
	// is a document whose checks passed but whose claims could not be
	// built (an MRZ that does not parse already fails passive
	// authentication, which needs its issuing state).
	CodeDataInvalid Code = "document_data_invalid"
)

// FailureCode is the failure code the verify flow records for the report:
// the first failed check in the flow's order (passive authentication,
// chip authentication, active authentication; §5.8), "" when it passed.
// An MRZ that does not parse fails passive authentication too, so it is
// document_authenticity_failed.
func (r *Report) FailureCode() Code {
	for _, c := range []struct {
		name Name
		code Code
	}{
		{CheckMRZ, CodeAuthenticity}, {CheckPassiveAuth, CodeAuthenticity},
		{CheckChipAuth, CodeChipAuthentication}, {CheckActiveAuth, CodeActiveAuth}, {CheckClaims, CodeDataInvalid},
	} {
		if r.Checks[c.name].Status == Failed {
			return c.code
		}
	}
	if r.Verdict == Failed { // not reached: every failing check is listed above
		return CodeAuthenticity
	}
	return ""
}

func failed(reason string, err error) Result {
	r := Result{Status: Failed, Reason: reason}
	if err != nil {
		r.Detail = err.Error()
	}
	return r
}

// Check runs every check on f against the trust store ts. It never stops
// early: a failing check is reported and the later ones still run on what
// they can, so the report shows every problem (the verdict fails either way).
func Check(ctx context.Context, f Inputs, ts passiveauth.TrustStore, opts Options) Report {
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	rep := Report{Checks: make(map[Name]Result, len(Checks))}

	// 1. DG1 and its MRZ: everything after needs the issuing state.
	var m *mrz.MRZ
	if f.DG1 == nil {
		rep.Checks[CheckMRZ] = failed("dg1_absent", nil)
	} else if parsed, err := mrz.ParseDG1(f.DG1); err != nil {
		rep.Checks[CheckMRZ] = failed("mrz_invalid", err)
	} else {
		m = parsed
		rep.Checks[CheckMRZ] = Result{Status: Passed}
		rep.MRZ = &MRZFields{Format: m.Format.String(), DocumentCode: m.DocumentCode, IssuingState: m.IssuingState,
			Surname: m.Surname, GivenNames: m.GivenNames, DocumentNumber: m.DocumentNumber, Nationality: m.Nationality,
			DateOfBirth: m.DateOfBirth, Sex: m.Sex, DateOfExpiry: m.DateOfExpiry, OptionalData: m.OptionalData}
	}

	// 2. Passive authentication.
	if m == nil {
		rep.Checks[CheckPassiveAuth] = Result{Status: Failed, Reason: "mrz_invalid", Detail: "the issuing state comes from DG1's MRZ, which did not parse"}
	} else {
		dgs := map[int][]byte{1: f.DG1, 2: f.DG2}
		if f.DG14 != nil {
			dgs[14] = f.DG14
		}
		if f.DG15 != nil {
			dgs[15] = f.DG15
		}
		res, err := passiveauth.Verify(ctx, f.SOD, dgs, ts, passiveauth.Options{IssuingState: m.IssuingState, Time: now, Revocation: opts.Revocation})
		var pe *passiveauth.Error
		switch {
		case errors.As(err, &pe):
			rep.Checks[CheckPassiveAuth] = failed(string(pe.Check), err)
		case err != nil:
			rep.Checks[CheckPassiveAuth] = failed("error", err)
		default:
			rep.Checks[CheckPassiveAuth] = Result{Status: Passed, Detail: res}
		}
	}

	// 3. Active authentication.
	rep.Checks[CheckActiveAuth] = activeAuth(f, opts.RequireActiveAuth)

	// 4. Chip authentication.
	rep.Checks[CheckChipAuth] = chipAuth(f, opts.ChipAuth, opts.RequireChipAuth)

	// 5. The claims.
	if m == nil {
		rep.Checks[CheckClaims] = Result{Status: Failed, Reason: "mrz_invalid"}
	} else if c, err := m.Claims(sessions.ClaimKeys(), mrz.ClaimContext{Secret: opts.Secret, OrgID: opts.OrgID, Now: now}); err != nil {
		rep.Checks[CheckClaims] = failed("claim_invalid", err)
	} else {
		rep.Checks[CheckClaims] = Result{Status: Passed}
		rep.Claims = c
	}

	rep.Verdict, rep.FailedChecks = Passed, []Name{}
	for _, c := range Checks {
		if rep.Checks[c].Status == Failed {
			rep.Verdict = Failed
			rep.FailedChecks = append(rep.FailedChecks, c)
		}
	}
	return rep
}

// sodDeclares reports whether the SOD holds a hash of data group n; ok is
// false when the SOD does not parse. It is read here rather than taken
// from passive authentication's result, so the "required" rules hold when
// passive authentication fails too.
func sodDeclares(sod []byte, n int) (declared, ok bool) {
	s, err := lds.ParseSOD(sod)
	if err != nil {
		return false, false
	}
	_, declared = s.LDS.Hash(n)
	return declared, true
}

func activeAuth(f Inputs, required bool) Result {
	switch {
	case f.DG15 == nil && f.AAChallenge == nil && f.AASignature == nil:
		if required {
			declared, ok := sodDeclares(f.SOD, 15)
			switch {
			case !ok:
				return Result{Status: Failed, Reason: "required_inputs_absent", Detail: "active authentication is required and the SOD cannot be read to tell whether it declares DG15"}
			case declared:
				return Result{Status: Failed, Reason: "required_inputs_absent", Detail: "the SOD declares DG15: active authentication is required and no DG15, challenge or signature was given"}
			}
			return Result{Status: Skipped, Reason: "not_declared", Detail: "the SOD declares no DG15: the document has no active authentication"}
		}
		return Result{Status: Skipped, Reason: "inputs_absent", Detail: "no DG15, challenge or signature given: the chip is not shown to hold DG15's key"}
	case f.DG15 == nil || f.AAChallenge == nil || f.AASignature == nil:
		return Result{Status: Failed, Reason: "inputs_incomplete", Detail: "active authentication needs DG15, the challenge and the signature together"}
	}
	pub, err := lds.ParseDG15(f.DG15)
	if err != nil {
		return failed("dg15_parse_failed", err)
	}
	switch {
	case pub.RSA != nil:
		k, err := pub.RSA.PublicKey()
		if err != nil {
			return failed("public_key_invalid", err)
		}
		if err := activeauth.VerifyRSA(k, f.AAChallenge, f.AASignature); err != nil {
			return failed("signature_invalid", err)
		}
		return Result{Status: Passed, Detail: fmt.Sprintf("RSA-%d ISO/IEC 9796-2", k.N.BitLen())}
	case pub.EC != nil:
		var h crypto.Hash // 0: activeauth tries the reference's list
		if f.DG14 != nil {
			si, err := lds.ParseDG14(f.DG14)
			if err != nil {
				return failed("dg14_parse_failed", err)
			}
			if len(si.ActiveAuthentication) > 0 {
				if h, err = activeauth.HashForSignatureAlgorithm(si.ActiveAuthentication[0].SignatureAlgorithm); err != nil {
					return failed("algorithm_unsupported", err)
				}
			}
		}
		k, err := ecc.ParseSubjectPublicKeyInfo(pub.Raw)
		if err != nil {
			return failed("public_key_invalid", err)
		}
		if err := activeauth.VerifyECDSA(k, f.AAChallenge, f.AASignature, h); err != nil {
			return failed("signature_invalid", err)
		}
		d := "ECDSA " + k.Curve.Name
		if h != 0 {
			d += " " + h.String()
		}
		return Result{Status: Passed, Detail: d}
	}
	return failed("public_key_invalid", errors.New("DG15 key is neither RSA nor EC"))
}

// caInfos are DG14's ChipAuthenticationInfos as chipauth takes them.
func caInfos(si *lds.SecurityInfos) []chipauth.Info {
	infos := make([]chipauth.Info, 0, len(si.ChipAuthentication))
	for _, i := range si.ChipAuthentication {
		infos = append(infos, chipauth.Info{OID: i.Protocol, Version: int(i.Version), KeyID: i.KeyID})
	}
	return infos
}

// chipAuthRequired is the flow's rule for a document without a
// transcript: a failure when the SOD declares DG14 and DG14 declares chip
// authentication version 2 or later; what cannot be read fails too.
func chipAuthRequired(f Inputs) Result {
	declared, ok := sodDeclares(f.SOD, 14)
	switch {
	case !ok:
		return Result{Status: Failed, Reason: "chip_auth_artifacts_missing", Detail: "chip authentication is required and the SOD cannot be read to tell whether it declares DG14"}
	case !declared:
		return Result{Status: Skipped, Reason: "not_declared", Detail: "the SOD declares no DG14: the document has no chip authentication"}
	case f.DG14 == nil:
		return Result{Status: Failed, Reason: "chip_auth_artifacts_missing", Detail: "the SOD declares DG14 and none was given"}
	}
	si, err := lds.ParseDG14(f.DG14)
	if err != nil {
		return failed("dg14_parse_failed", err)
	}
	if chipauth.RequirementOf(caInfos(si)) == chipauth.Skipped {
		return Result{Status: Skipped, Reason: "version_1_or_none", Detail: "DG14 has no ChipAuthenticationInfo of version 2 or later: nothing to check after the fact"}
	}
	return Result{Status: Failed, Reason: "chip_auth_artifacts_missing", Detail: "DG14 declares chip authentication version 2: it is required and no transcript was given"}
}

func chipAuth(f Inputs, opts chipauth.Options, required bool) Result {
	if f.CATranscript == nil && required {
		return chipAuthRequired(f)
	}
	if f.CATranscript == nil {
		d := "no transcript given"
		if f.DG14 != nil {
			d += ": DG14's chip key is not shown to be used"
		}
		return Result{Status: Skipped, Reason: "inputs_absent", Detail: d}
	}
	if f.DG14 == nil {
		return failed("chip_auth_artifacts_missing", errors.New("a transcript needs DG14"))
	}
	t, err := chipauth.ParseTranscript(f.CATranscript)
	if err != nil {
		return failed("transcript_invalid", err)
	}
	si, err := lds.ParseDG14(f.DG14)
	if err != nil {
		return failed("dg14_parse_failed", err)
	}
	infos := caInfos(si)
	if chipauth.RequirementOf(infos) == chipauth.Skipped {
		return Result{Status: Skipped, Reason: "version_1_or_none", Detail: "DG14 has no ChipAuthenticationInfo of version 2 or later: nothing to check after the fact"}
	}
	keys := make([]chipauth.PublicKey, 0, len(si.ChipAuthenticationPublicKey))
	var unsupported error
	for _, k := range si.ChipAuthenticationPublicKey {
		pk, err := chipKey(k)
		if err != nil {
			// A key this package cannot read only matters if it is the one
			// the transcript used; Select then finds none and says so.
			unsupported = err
			continue
		}
		keys = append(keys, pk)
	}
	info, key, err := chipauth.Select(infos, keys, t)
	if err != nil {
		if errors.Is(err, chipauth.ErrChipKeyNotFound) && unsupported != nil {
			return failed("chip_key_unsupported", fmt.Errorf("%w (%v)", err, unsupported))
		}
		return failed("selection_failed", err)
	}
	if info.Version < 2 {
		return Result{Status: Skipped, Reason: "version_1", Detail: "the transcript's ChipAuthenticationInfo is version 1: nothing to check after the fact"}
	}
	if err := chipauth.Verify(t, key, opts); err != nil {
		return failed("verification_failed", err)
	}
	return Result{Status: Passed, Detail: t.OID.String()}
}

// OIDs of the DH key types a DG14 may carry.
var (
	oidX942DH  = asn1.ObjectIdentifier{1, 2, 840, 10046, 2, 1}
	oidPKCS3DH = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 3, 1}
)

// chipKey converts a DG14 key: EC through ecc (any curve it knows, named or
// explicit); DH when its parameters are plain X9.42 (p, g, q, …) or PKCS #3
// (p, g, [l]) and the key an INTEGER.
func chipKey(k lds.ChipAuthenticationPublicKeyInfo) (chipauth.PublicKey, error) {
	pk := k.PublicKey
	if pk == nil {
		return chipauth.PublicKey{}, errors.New("DG14 key absent")
	}
	if pk.EC != nil {
		ek, err := ecc.ParseSubjectPublicKeyInfo(pk.Raw)
		if err != nil {
			return chipauth.PublicKey{}, err
		}
		return chipauth.PublicKey{KeyID: k.KeyID, EC: ek}, nil
	}
	x942 := pk.Algorithm.Equal(oidX942DH)
	if !x942 && !pk.Algorithm.Equal(oidPKCS3DH) {
		return chipauth.PublicKey{}, fmt.Errorf("%w: key algorithm %v", chipauth.ErrAlgorithmUnsupported, pk.Algorithm)
	}
	var p, g, q, y big.Int
	params := cryptobyte.String(pk.Parameters)
	var seq cryptobyte.String
	if !params.ReadASN1(&seq, cbasn1.SEQUENCE) || !params.Empty() || !seq.ReadASN1Integer(&p) || !seq.ReadASN1Integer(&g) {
		return chipauth.PublicKey{}, fmt.Errorf("%w: DH parameters", chipauth.ErrAlgorithmUnsupported)
	}
	dh := &chipauth.DHPublicKey{P: &p, G: &g}
	if x942 {
		if !seq.ReadASN1Integer(&q) {
			return chipauth.PublicKey{}, fmt.Errorf("%w: X9.42 parameters without q", chipauth.ErrAlgorithmUnsupported)
		}
		dh.Q = &q
	}
	ys := cryptobyte.String(pk.KeyBytes)
	if !ys.ReadASN1Integer(&y) || !ys.Empty() || y.Sign() <= 0 {
		return chipauth.PublicKey{}, fmt.Errorf("%w: DH public value", chipauth.ErrAlgorithmUnsupported)
	}
	dh.Y = &y
	return chipauth.PublicKey{KeyID: k.KeyID, DH: dh}, nil
}
