package proto

import (
	vc "github.com/kayle-id/orgs-api/gen/verifycapnp"
)

// CheckResult is ServerCheckResult (§5.10).
type CheckResult struct {
	Outcome                  CheckOutcome
	ReasonCode               string
	ReasonMessage            string
	RetryAllowed             bool
	FailedCheck              CheckKind
	RemainingNFCRetries      uint32
	RemainingLivenessRetries uint32
}

// ShareField is one ShareRequestField.
type ShareField struct {
	Key      string
	Reason   string
	Required bool
}

// ShareRequest is ShareRequest (§5.11).
type ShareRequest struct {
	ContractVersion uint32
	SessionID       string
	Fields          []ShareField
}

// ShareReady is ShareReady.
type ShareReady struct {
	SessionID         string
	SelectedFieldKeys []string
}

// LivenessChallenge is ServerLivenessChallenge. The retired
// reservedPoseSequence is never written (a null list reads as empty).
type LivenessChallenge struct {
	MaxDurationMs  uint32
	ChallengeNonce []byte
}

// EncodeAck returns the frame of ServerMessage.ack.
func EncodeAck(message string) ([]byte, error) {
	msg, seg := newMessage()
	var e encoder
	root, err := vc.NewRootServerMessage(seg)
	e.set(err)
	if err == nil {
		a, err := root.NewAck()
		e.set(err)
		if err == nil {
			e.set(a.SetText(message))
		}
	}
	return finish(msg, &e)
}

// EncodeError returns the frame of ServerMessage.error.
func EncodeError(pe *Error) ([]byte, error) {
	msg, seg := newMessage()
	var e encoder
	root, err := vc.NewRootServerMessage(seg)
	e.set(err)
	if err == nil {
		x, err := root.NewError()
		e.set(err)
		if err == nil {
			e.set(x.SetCode(pe.Code))
			e.set(x.SetText(pe.Message))
		}
	}
	return finish(msg, &e)
}

// EncodeCheckResult returns the frame of ServerMessage.checkResult.
func EncodeCheckResult(c CheckResult) ([]byte, error) {
	msg, seg := newMessage()
	var e encoder
	root, err := vc.NewRootServerMessage(seg)
	e.set(err)
	if err == nil {
		x, err := root.NewCheckResult()
		e.set(err)
		if err == nil {
			x.SetOutcome(vc.CheckOutcome(c.Outcome))
			e.set(x.SetReasonCode(c.ReasonCode))
			e.set(x.SetReasonMessage(c.ReasonMessage))
			x.SetRetryAllowed(c.RetryAllowed)
			x.SetFailedCheck(vc.CheckKind(c.FailedCheck))
			x.SetRemainingNfcRetries(c.RemainingNFCRetries)
			x.SetRemainingLivenessRetries(c.RemainingLivenessRetries)
		}
	}
	return finish(msg, &e)
}

// EncodeShareRequest returns the frame of ServerMessage.shareRequest.
func EncodeShareRequest(r ShareRequest) ([]byte, error) {
	msg, seg := newMessage()
	var e encoder
	root, err := vc.NewRootServerMessage(seg)
	e.set(err)
	if err == nil {
		x, err := root.NewShareRequest()
		e.set(err)
		if err == nil {
			x.SetContractVersion(r.ContractVersion)
			e.set(x.SetSessionId(r.SessionID))
			fl, err := x.NewFields(int32(len(r.Fields)))
			e.set(err)
			if err == nil {
				for i, f := range r.Fields {
					el := fl.At(i)
					e.set(el.SetKey(f.Key))
					e.set(el.SetReason(f.Reason))
					el.SetRequired(f.Required)
				}
			}
		}
	}
	return finish(msg, &e)
}

// EncodeShareReady returns the frame of ServerMessage.shareReady.
func EncodeShareReady(r ShareReady) ([]byte, error) {
	msg, seg := newMessage()
	var e encoder
	root, err := vc.NewRootServerMessage(seg)
	e.set(err)
	if err == nil {
		x, err := root.NewShareReady()
		e.set(err)
		if err == nil {
			e.set(x.SetSessionId(r.SessionID))
			setTextList(&e, x.NewSelectedFieldKeys, r.SelectedFieldKeys)
		}
	}
	return finish(msg, &e)
}

// EncodeActiveAuthChallenge returns the frame of
// ServerMessage.activeAuthChallenge.
func EncodeActiveAuthChallenge(challenge []byte) ([]byte, error) {
	msg, seg := newMessage()
	var e encoder
	root, err := vc.NewRootServerMessage(seg)
	e.set(err)
	if err == nil {
		x, err := root.NewActiveAuthChallenge()
		e.set(err)
		if err == nil {
			e.set(x.SetChallenge(challenge))
		}
	}
	return finish(msg, &e)
}

// EncodeLivenessChallenge returns the frame of
// ServerMessage.livenessChallenge.
func EncodeLivenessChallenge(c LivenessChallenge) ([]byte, error) {
	msg, seg := newMessage()
	var e encoder
	root, err := vc.NewRootServerMessage(seg)
	e.set(err)
	if err == nil {
		x, err := root.NewLivenessChallenge()
		e.set(err)
		if err == nil {
			x.SetMaxDurationMs(c.MaxDurationMs)
			e.set(x.SetChallengeNonce(c.ChallengeNonce))
		}
	}
	return finish(msg, &e)
}

// Client-side encoders, for test clients.

// EncodeHello returns the frame of ClientMessage.hello.
func EncodeHello(h Hello) ([]byte, error) {
	msg, seg := newMessage()
	var e encoder
	root, err := vc.NewRootClientMessage(seg)
	e.set(err)
	if err == nil {
		x, err := root.NewHello()
		e.set(err)
		if err == nil {
			e.set(x.SetSessionId(h.SessionID))
			e.set(x.SetMobileWriteToken(h.MobileWriteToken))
			e.set(x.SetDeviceId(h.DeviceID))
			e.set(x.SetAppVersion(h.AppVersion))
			e.set(x.SetAttestKeyId(h.AttestKeyID))
			e.set(x.SetHelloAssertion(h.HelloAssertion))
			x.SetRuntimeIntegritySignal(h.RuntimeIntegritySignal)
		}
	}
	return finish(msg, &e)
}

// EncodePhase returns the frame of ClientMessage.phase.
func EncodePhase(p PhaseUpdate) ([]byte, error) {
	msg, seg := newMessage()
	var e encoder
	root, err := vc.NewRootClientMessage(seg)
	e.set(err)
	if err == nil {
		x, err := root.NewPhase()
		e.set(err)
		if err == nil {
			e.set(x.SetPhase(p.Phase))
			e.set(x.SetError(p.Error))
			e.set(x.SetAttestAssertion(p.AttestAssertion))
		}
	}
	return finish(msg, &e)
}

// EncodeData returns the frame of ClientMessage.data.
func EncodeData(d DataPayload) ([]byte, error) {
	msg, seg := newMessage()
	var e encoder
	root, err := vc.NewRootClientMessage(seg)
	e.set(err)
	if err == nil {
		x, err := root.NewData()
		e.set(err)
		if err == nil {
			x.SetKind(vc.DataKind(d.Kind))
			e.set(x.SetRaw(d.Raw))
			x.SetIndex(d.Index)
			x.SetTotal(d.Total)
			x.SetChunkIndex(d.ChunkIndex)
			x.SetChunkTotal(d.ChunkTotal)
		}
	}
	return finish(msg, &e)
}

// EncodeShareSelection returns the frame of ClientMessage.shareSelection.
func EncodeShareSelection(s ShareSelection) ([]byte, error) {
	msg, seg := newMessage()
	var e encoder
	root, err := vc.NewRootClientMessage(seg)
	e.set(err)
	if err == nil {
		x, err := root.NewShareSelection()
		e.set(err)
		if err == nil {
			e.set(x.SetSessionId(s.SessionID))
			setTextList(&e, x.NewSelectedFieldKeys, s.SelectedFieldKeys)
		}
	}
	return finish(msg, &e)
}
