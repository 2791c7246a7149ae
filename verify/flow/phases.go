package flow

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"

	"github.com/kayle-id/orgs-api/store"
	"github.com/kayle-id/orgs-api/verify/appattest"
	"github.com/kayle-id/orgs-api/verify/biometric"
	"github.com/kayle-id/orgs-api/verify/document"
	"github.com/kayle-id/orgs-api/verify/mrz"
	"github.com/kayle-id/orgs-api/verify/proto"
	"github.com/kayle-id/orgs-api/verify/tokens"
)

// verifiedMissing is NFC_REQUIRED_DATA_MISSING's message when the
// artefacts held differ from those that passed the document checks.
const verifiedMissing = `{"missing_artifacts":["dg1","dg2","sod"],"missing_chunks":[]}`

// artefacts are a document's chip data as one nfc_complete checked them.
type artefacts struct {
	DG1, DG2, SOD, DG14, DG15 []byte
	// AA is the active-authentication payload: the challenge the chip
	// signed, then its signature.
	AA, CA []byte
}

// digest identifies a set of artefacts: SHA-256 over each one's SHA-256,
// in a fixed order.
func (a *artefacts) digest() string {
	h := sha256.New()
	for _, b := range [][]byte{a.DG1, a.DG2, a.SOD, a.DG14, a.DG15, a.AA, a.CA} {
		h.Write(sha(b))
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (c *Conn) current() *artefacts {
	get := func(k proto.DataKind) []byte {
		b, _ := c.asm.Artefact(k)
		return b
	}
	return &artefacts{DG1: get(proto.KindDG1), DG2: get(proto.KindDG2), SOD: get(proto.KindSOD),
		DG14: get(proto.KindDG14), DG15: get(proto.KindDG15), AA: get(proto.KindActiveAuth), CA: get(proto.KindChipAuth)}
}

// onData is §5.7: the phase gate, then the assembler's rules.
func (c *Conn) onData(d proto.DataPayload) *replies {
	r := &replies{}
	// The server's share first: every socket's uploads together stay
	// within BufferBudget, whatever each connection's own 48 MiB allows.
	n := int64(len(d.Raw))
	if c.cfg.held.Add(n) > c.cfg.BufferBudget {
		c.cfg.held.Add(-n)
		return r.fail(proto.CodeTransferTooLarge)
	}
	before := c.asm.Received()
	ack, err := c.asm.Add(c.phase, d)
	// What the connection now holds to its count, which only grows until
	// it closes (Closed gives it back).
	c.cfg.held.Add(int64(c.asm.Received()-before) - n)
	if err != nil {
		return r.failWith(err)
	}
	return r.ack(ack)
}

// onPhase is §5.6.
func (c *Conn) onPhase(ctx context.Context, p proto.PhaseUpdate) *replies {
	r := &replies{}
	to, tracked := proto.ParsePhase(p.Phase)
	if !tracked {
		return r.ack(proto.AckPhaseOK)
	}
	// 1. The assertion nfc_complete carries is kept even if refused below.
	if to == proto.PhaseNFCComplete && len(p.AttestAssertion) > 0 {
		c.nfcAssertion = append([]byte(nil), p.AttestAssertion...)
	}
	// 2. The data the phase's checks need.
	switch to {
	case proto.PhaseNFCComplete:
		if err := c.asm.MissingNFC(); err != nil {
			return r.failWith(err)
		}
	case proto.PhaseLivenessComplete:
		if err := c.asm.MissingLiveness(); err != nil {
			return r.failWith(err)
		}
	}
	// 3. The move itself.
	move, err := proto.CheckTransition(c.phase, to)
	if err != nil {
		return r.failWith(err)
	}
	// 4. The checks, run again on a repeat; anything but a pass ends here.
	var digest *string
	switch to {
	case proto.PhaseNFCComplete:
		passed, d := c.nfcChecks(ctx, r)
		if !passed {
			return r
		}
		digest = &d
	case proto.PhaseLivenessComplete:
		// A repeat after a pass (a reply lost on the way) is answered
		// again; the nonce is spent, so checking again would fail.
		if c.faceScore == nil && !c.livenessCheck(ctx, r) {
			return r
		}
	}
	// 5. Record the move.
	if move.Changed() || digest != nil {
		if move == proto.TransitionRewind {
			switch to {
			case proto.PhaseNFCReading:
				c.asm.ClearNFC()
				c.nfcAssertion, c.verified, c.storedDigest = nil, nil, ""
			case proto.PhaseLivenessCapturing:
				c.asm.ClearLivenessVideo()
			}
		}
		sctx, cancel := c.storeCtx(ctx)
		err := c.cfg.Store.SocketPhase(sctx, c.sessionID, c.id, to.String(), digest)
		cancel()
		if errors.Is(err, store.ErrSessionNotActive) {
			return r.failClose(proto.CodeSessionExpired)
		}
		if errors.Is(err, store.ErrSocketClaimed) {
			return r.failClose(proto.CodeSessionConnectionActive)
		}
		if err != nil {
			return r.internal(err)
		}
		c.phase = to
		if digest != nil {
			c.storedDigest = *digest
		}
	}
	if to == proto.PhaseLivenessCapturing {
		// One prewarm at a time per connection, however often the phase is
		// repeated.
		if c.cfg.Verifier != nil && c.prewarming.CompareAndSwap(false, true) {
			go c.prewarm()
		}
		c.issueNonce(r)
	}
	// 6. A passed liveness check is answered with the share request.
	if to == proto.PhaseLivenessComplete {
		r.add(proto.EncodeCheckResult(proto.CheckResult{Outcome: proto.OutcomeConfirmed, FailedCheck: proto.CheckNone,
			RemainingNFCRetries: store.MaxNFCTries, RemainingLivenessRetries: store.MaxLivenessTries}))
		r.add(proto.EncodeShareRequest(proto.ShareRequest{ContractVersion: proto.ContractVersion,
			SessionID: c.sessionID, Fields: c.share}))
		c.shareSent = true
		return r
	}
	return r.ack(proto.AckPhaseOK)
}

func (c *Conn) prewarm() {
	defer c.prewarming.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.cfg.Verifier.Prewarm(ctx); err != nil {
		c.cfg.Log.Info("verify socket: verifier prewarm", "err", err)
	}
}

// nfcChecks is §5.8: App Attest, then the document checks. It answers
// whether they passed and the digest of what passed; a failure's
// checkResult is in r.
func (c *Conn) nfcChecks(ctx context.Context, r *replies) (bool, string) {
	a := c.current()
	if c.cfg.RequireAttestation {
		_, aaSig, _ := c.asm.ActiveAuth()
		cdh := appattest.NFCClientDataHash(c.sessionID, appattest.NFCArtefacts{DG1: a.DG1, DG2: a.DG2,
			DG14: a.DG14, DG15: a.DG15, SOD: a.SOD, CATranscript: a.CA, AASignature: aaSig},
			tokens.NFCChallenge(c.secret, c.sessionID))
		err := errNoAssertion
		if c.attestKeyID != "" && len(c.nfcAssertion) > 0 {
			err = c.assert(ctx, c.attestKeyID, c.nfcAssertion, cdh)
		}
		if refusedAssertion(err) {
			c.checkFailed(ctx, r, store.CheckFailure{Code: proto.FailureDocumentAntiCloning,
				FailedCheck: store.FailedCheckNFC, Risk: 1, HardKill: true})
			return false, ""
		}
		if err != nil {
			// The database, not the device: no reason to end the session.
			r.internal(err)
			return false, ""
		}
	}
	files := document.Inputs{DG1: a.DG1, DG2: a.DG2, SOD: a.SOD, DG14: a.DG14, DG15: a.DG15, CATranscript: a.CA}
	aaMismatch := false
	if challenge, sig, ok := c.asm.ActiveAuth(); ok {
		files.AAChallenge, files.AASignature = challenge, sig
		// The chip must have signed this connection's challenge.
		aaMismatch = !bytes.Equal(challenge, c.aaChallenge)
	}
	cctx, cancel := context.WithTimeout(ctx, c.cfg.CheckTimeout)
	report := document.Check(cctx, files, c.cfg.TrustStore, document.Options{
		Revocation: c.cfg.Revocation, Secret: string(c.secret), RequireActiveAuth: true, RequireChipAuth: true,
	})
	cancel()
	code := string(report.FailureCode())
	if code == "" && aaMismatch {
		code = proto.FailureDocumentActiveAuthentication
	}
	if code != "" {
		check := store.FailedCheckNFC
		if code == proto.FailureDocumentDataInvalid {
			check = store.FailedCheckMRZ
		}
		c.checkFailed(ctx, r, store.CheckFailure{Code: code, FailedCheck: check, Risk: 1})
		return false, ""
	}
	c.verified = a
	return true, a.digest()
}

// livenessCheck is §5.9 over the verified artefacts.
func (c *Conn) livenessCheck(ctx context.Context, r *replies) bool {
	a := c.verified
	if a == nil {
		// A later connection: its uploads must be the verified ones.
		cur := c.current()
		if c.storedDigest == "" || cur.digest() != c.storedDigest {
			// Not the artefacts that passed: they are missing here.
			r.failWith(&proto.Error{Code: proto.CodeNFCRequiredDataMissing, Message: verifiedMissing})
			return false
		}
		a, c.verified = cur, cur
	}
	m, err := mrz.ParseDG1(a.DG1)
	var threshold float64
	if err == nil {
		threshold, err = m.FaceMatchThreshold(c.cfg.Store.Now())
	}
	if err != nil {
		// checkFailed takes the connection back to the MRZ with the session
		// (upstream leaves it at liveness_capturing, which then refuses the
		// app's mrz_scanning).
		c.checkFailed(ctx, r, store.CheckFailure{Code: proto.FailureDocumentDataInvalid, FailedCheck: store.FailedCheckMRZ, Risk: 1})
		return false
	}
	if c.nonce == nil {
		c.checkFailed(ctx, r, store.CheckFailure{Code: proto.FailureLiveness, FailedCheck: store.FailedCheckLiveness, Risk: 1})
		return false
	}
	if c.cfg.Verifier == nil {
		r.fail(proto.CodeLivenessChallengeUnavailable)
		return false
	}
	vctx, cancel := context.WithTimeout(ctx, c.cfg.VerifierTimeout)
	video, _ := c.asm.Artefact(proto.KindLivenessVideo)
	verdict, err := c.cfg.Verifier.Verify(vctx, biometric.Input{DG2: a.DG2, Video: video,
		Nonce: c.nonce, Threshold: threshold})
	cancel()
	switch {
	case errors.Is(err, biometric.ErrInvalidInput):
		// The phone's upload is outside the verifier's limits (an empty
		// video, a DG2 over 4 MiB): that try is the person's, and counts.
		c.nonce = nil
		c.checkFailed(ctx, r, store.CheckFailure{Code: proto.FailureLiveness, FailedCheck: store.FailedCheckLiveness, Risk: 1})
		return false
	case err != nil:
		// The verifier is down or answered outside its contract (a pass
		// without a score among it): nothing was decided about the person,
		// so no try is spent.
		c.cfg.Log.Warn("verify socket: biometric verifier unavailable", "session", c.sessionID, "err", err)
		r.fail(proto.CodeLivenessChallengeUnavailable)
		return false
	}
	// The nonce is spent: a retry records against a new one.
	c.nonce = nil
	if code := verdict.Failure(c.cfg.Production); code != "" {
		c.checkFailed(ctx, r, store.CheckFailure{Code: code, FailedCheck: store.FailedCheckLiveness, Risk: verdict.RiskScore(c.cfg.Production)})
		return false
	}
	score := *verdict.FaceMatchScore
	c.faceScore = &score
	return true
}

// checkFailed records a failure (§5.10) and answers its checkResult; a
// session that ended is closed after it.
func (c *Conn) checkFailed(ctx context.Context, r *replies, f store.CheckFailure) {
	f.SessionID, f.ConnectionID = c.sessionID, c.id
	sctx, cancel := c.storeCtx(ctx)
	out, err := c.cfg.Store.RecordCheckFailure(sctx, f)
	cancel()
	if errors.Is(err, store.ErrSocketClaimed) {
		r.failClose(proto.CodeSessionConnectionActive)
		return
	}
	if err != nil {
		r.internal(err)
		return
	}
	kind := proto.CheckNFC
	switch f.FailedCheck {
	case store.FailedCheckMRZ:
		kind = proto.CheckMRZ
	case store.FailedCheckLiveness:
		kind = proto.CheckLiveness
	}
	r.add(proto.EncodeCheckResult(proto.CheckResult{
		Outcome: proto.OutcomeNotConfirmed, ReasonCode: f.Code, ReasonMessage: proto.Describe(f.Code),
		RetryAllowed: !out.Terminal, FailedCheck: kind,
		RemainingNFCRetries:      uint32(max(0, store.MaxNFCTries-out.NFCTriesUsed)),
		RemainingLivenessRetries: uint32(max(0, store.MaxLivenessTries-out.LivenessTriesUsed)),
	}))
	if out.Terminal {
		r.close = &Close{Code: ClosePolicy, Reason: f.Code}
		return
	}
	// The connection goes where the store put the session: a failed check
	// passed nothing, so nothing it established before stands.
	c.faceScore, c.shareSent = nil, false
	switch f.FailedCheck {
	case store.FailedCheckMRZ:
		c.phase, c.verified, c.storedDigest = proto.PhaseMRZScanning, nil, ""
	case store.FailedCheckNFC:
		c.phase, c.verified, c.storedDigest = proto.PhaseNFCReading, nil, ""
	case store.FailedCheckLiveness:
		c.phase = proto.PhaseLivenessCapturing
	}
	if f.FailedCheck == store.FailedCheckNFC {
		// The next try signs a challenge of its own.
		c.aaChallenge = randomBytes(proto.ActiveAuthChallengeBytes)
		r.add(proto.EncodeActiveAuthChallenge(c.aaChallenge))
	}
}
