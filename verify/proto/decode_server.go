package proto

import (
	vc "github.com/kayle-id/orgs-api/gen/verifycapnp"
)

// ServerKind says which member of ServerMessage's union a message carries.
type ServerKind uint16

const (
	ServerAck                 ServerKind = ServerKind(vc.ServerMessage_Which_ack)
	ServerError               ServerKind = ServerKind(vc.ServerMessage_Which_error)
	ServerCheckResult         ServerKind = ServerKind(vc.ServerMessage_Which_checkResult)
	ServerShareRequest        ServerKind = ServerKind(vc.ServerMessage_Which_shareRequest)
	ServerShareReady          ServerKind = ServerKind(vc.ServerMessage_Which_shareReady)
	ServerActiveAuthChallenge ServerKind = ServerKind(vc.ServerMessage_Which_activeAuthChallenge)
	ServerLivenessChallenge   ServerKind = ServerKind(vc.ServerMessage_Which_livenessChallenge)
)

// ServerMessage is a decoded ServerMessage, for test clients: Kind says
// which field is set.
type ServerMessage struct {
	Kind                ServerKind
	Ack                 string
	Error               Error
	CheckResult         CheckResult
	ShareRequest        ShareRequest
	ShareReady          ShareReady
	ActiveAuthChallenge []byte
	LivenessChallenge   LivenessChallenge
	// ReservedPoseSequence is the retired liveness field as received
	// (this server never sends it).
	ReservedPoseSequence []byte
}

// DecodeServer decodes one server frame with the same framing checks and
// bounds as DecodeClient.
func DecodeServer(frame []byte) (_ ServerMessage, err error) {
	defer recoverDecode(&err)
	msg, err := readMessage(frame)
	if err != nil {
		return ServerMessage{}, err
	}
	ptr, err := msg.Root()
	if err != nil {
		return ServerMessage{}, decodeErr("root: %v", err)
	}
	if !ptr.Struct().IsValid() {
		return ServerMessage{}, decodeErr("root is not a struct")
	}
	root := vc.ServerMessage(ptr.Struct())
	var out ServerMessage
	var r reader
	switch w := root.Which(); w {
	case vc.ServerMessage_Which_ack:
		out.Kind = ServerAck
		a, err := root.Ack()
		r.member(root.HasAck(), a.IsValid(), err)
		out.Ack = r.text(a.HasText, a.TextBytes)
	case vc.ServerMessage_Which_error:
		out.Kind = ServerError
		x, err := root.Error()
		r.member(root.HasError(), x.IsValid(), err)
		out.Error = Error{Code: r.text(x.HasCode, x.CodeBytes), Message: r.text(x.HasText, x.TextBytes)}
	case vc.ServerMessage_Which_checkResult:
		out.Kind = ServerCheckResult
		x, err := root.CheckResult()
		r.member(root.HasCheckResult(), x.IsValid(), err)
		out.CheckResult = CheckResult{
			Outcome:                  CheckOutcome(x.Outcome()),
			ReasonCode:               r.text(x.HasReasonCode, x.ReasonCodeBytes),
			ReasonMessage:            r.text(x.HasReasonMessage, x.ReasonMessageBytes),
			RetryAllowed:             x.RetryAllowed(),
			FailedCheck:              CheckKind(x.FailedCheck()),
			RemainingNFCRetries:      x.RemainingNfcRetries(),
			RemainingLivenessRetries: x.RemainingLivenessRetries(),
		}
	case vc.ServerMessage_Which_shareRequest:
		out.Kind = ServerShareRequest
		x, err := root.ShareRequest()
		r.member(root.HasShareRequest(), x.IsValid(), err)
		out.ShareRequest = ShareRequest{ContractVersion: x.ContractVersion(), SessionID: r.text(x.HasSessionId, x.SessionIdBytes)}
		fl, err := x.Fields()
		r.set(err)
		if err == nil {
			for i := 0; i < fl.Len(); i++ {
				f := fl.At(i)
				out.ShareRequest.Fields = append(out.ShareRequest.Fields, ShareField{
					Key: r.text(f.HasKey, f.KeyBytes), Reason: r.text(f.HasReason, f.ReasonBytes), Required: f.Required(),
				})
			}
		}
	case vc.ServerMessage_Which_shareReady:
		out.Kind = ServerShareReady
		x, err := root.ShareReady()
		r.member(root.HasShareReady(), x.IsValid(), err)
		out.ShareReady = ShareReady{SessionID: r.text(x.HasSessionId, x.SessionIdBytes), SelectedFieldKeys: r.texts(x.SelectedFieldKeys())}
	case vc.ServerMessage_Which_activeAuthChallenge:
		out.Kind = ServerActiveAuthChallenge
		x, err := root.ActiveAuthChallenge()
		r.member(root.HasActiveAuthChallenge(), x.IsValid(), err)
		out.ActiveAuthChallenge = r.data(x.HasChallenge, x.Challenge)
	case vc.ServerMessage_Which_livenessChallenge:
		out.Kind = ServerLivenessChallenge
		x, err := root.LivenessChallenge()
		r.member(root.HasLivenessChallenge(), x.IsValid(), err)
		out.LivenessChallenge = LivenessChallenge{MaxDurationMs: x.MaxDurationMs(), ChallengeNonce: r.data(x.HasChallengeNonce, x.ChallengeNonce)}
		ps, err := x.ReservedPoseSequence()
		r.set(err)
		if err == nil && ps.Len() > 0 {
			out.ReservedPoseSequence = make([]byte, ps.Len())
			for i := range out.ReservedPoseSequence {
				out.ReservedPoseSequence[i] = ps.At(i)
			}
		}
	default:
		return ServerMessage{}, decodeErr("unknown ServerMessage member %d", uint16(w))
	}
	if r.err != nil {
		return ServerMessage{}, decodeErr("%v", r.err)
	}
	return out, nil
}
