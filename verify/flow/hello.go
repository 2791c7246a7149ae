package flow

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math"

	"github.com/kayle-id/orgs-api/store"
	"github.com/kayle-id/orgs-api/verify/appattest"
	"github.com/kayle-id/orgs-api/verify/proto"
	"github.com/kayle-id/orgs-api/verify/tokens"
)

// onHello is §5.5, in order. Every refusal closes the socket (1008).
func (c *Conn) onHello(ctx context.Context, h proto.Hello) *replies {
	r := &replies{}
	// 1–2: the credentials, and the session they name.
	if h.SessionID == "" || h.MobileWriteToken == "" || h.DeviceID == "" || h.SessionID != c.sessionID {
		return r.failClose(proto.CodeHelloAuthRequired)
	}
	// 3: the row as it is now (an overdue session ends here).
	sctx, cancel := c.storeCtx(ctx)
	defer cancel()
	v, err := c.cfg.Store.SocketSession(sctx, c.sessionID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return r.failClose(proto.CodeSessionNotFound)
	case err != nil:
		return r.internal(err)
	case !v.Active():
		return r.failClose(proto.CodeSessionExpired)
	}
	// 4: the app's version.
	if c.cfg.MinAppVersion != "" && olderThan(h.AppVersion, c.cfg.MinAppVersion) {
		return r.failClose(proto.CodeMinAppVersionRequired)
	}
	// 5: the token, then the device it was consumed by.
	hash := tokens.HandoffTokenHash(c.secret, h.MobileWriteToken)
	if v.TokenHash == nil || !tokens.Equal(*v.TokenHash, hash) {
		return r.failClose(proto.CodeHandoffTokenInvalid)
	}
	device := tokens.DeviceHash(c.secret, h.DeviceID)
	resume := v.TokenConsumedAt != nil
	if resume {
		if v.DeviceHash == nil {
			return r.failClose(proto.CodeHandoffTokenConsumed)
		}
		if !tokens.Equal(*v.DeviceHash, device) {
			return r.failClose(proto.CodeHandoffDeviceMismatch)
		}
	} else if v.TokenExpiresAt == nil || !v.TokenExpiresAt.After(c.cfg.Store.Now()) {
		return r.failClose(proto.CodeHandoffTokenExpired)
	}
	// 6: App Attest.
	keyID := ""
	if c.cfg.RequireAttestation {
		if h.AttestKeyID == "" || len(h.HelloAssertion) == 0 {
			return r.failClose(proto.CodeHelloAttestKeyUnknown)
		}
		// A resume carries the key the session was started with (upstream
		// accepts any registered key there).
		if resume && (v.AttestKeyID == nil || *v.AttestKeyID != h.AttestKeyID) {
			return r.failClose(proto.CodeHelloAttestInvalid)
		}
		challenge := tokens.HelloChallenge(c.secret, c.sessionID)
		cdh := appattest.HelloClientDataHash(c.sessionID, h.DeviceID, h.AppVersion, challenge)
		switch err := c.assert(ctx, h.AttestKeyID, h.HelloAssertion, cdh); {
		case errors.Is(err, store.ErrNotFound):
			return r.failClose(proto.CodeHelloAttestKeyUnknown)
		case refusedAssertion(err):
			return r.failClose(proto.CodeHelloAttestInvalid)
		case err != nil:
			return r.internal(err) // the database, not the device
		}
		keyID = h.AttestKeyID
	} else if h.AttestKeyID != "" && len(h.HelloAssertion) > 0 {
		keyID = h.AttestKeyID // unverified, as upstream with the gate off
	}
	// 7 and 9: the claim, and for a first hello the token's consumption,
	// in one conditional update.
	phase, err := c.cfg.Store.ClaimSocket(sctx, store.SocketHello{
		SessionID: c.sessionID, ConnectionID: c.id, Resume: resume, TokenHash: hash, DeviceHash: device,
		AppVersion: h.AppVersion, AttestKeyID: keyID,
	})
	switch {
	case errors.Is(err, store.ErrSocketClaimed):
		return r.failClose(proto.CodeSessionConnectionActive)
	case errors.Is(err, store.ErrHandoffConsumed):
		return r.failClose(proto.CodeHandoffTokenConsumed)
	case errors.Is(err, store.ErrHandoffExpired):
		return r.failClose(proto.CodeHandoffTokenExpired)
	case errors.Is(err, store.ErrHandoffInvalid):
		return r.failClose(proto.CodeHandoffTokenInvalid)
	case errors.Is(err, store.ErrSessionNotActive):
		return r.failClose(proto.CodeSessionExpired)
	case err != nil:
		return r.internal(err)
	}
	if h.RuntimeIntegritySignal != 0 {
		c.cfg.Log.Info("verify socket: runtime integrity signal", "session", c.sessionID, "signal", h.RuntimeIntegritySignal)
	}
	// 8: this connection's state starts from the row.
	c.phase, _ = proto.ParsePhase(phase)
	c.hello, c.faceScore, c.shareSent, c.ready = true, nil, false, nil
	if resume {
		if v.AttestKeyID != nil {
			keyID = *v.AttestKeyID
		}
	}
	c.attestKeyID = keyID
	c.storedDigest = ""
	if v.NFCVerifiedDigest != nil {
		c.storedDigest = *v.NFCVerifiedDigest
	}
	// A challenge of this connection's own: an answer recorded for another
	// connection does not replay here.
	c.aaChallenge = randomBytes(proto.ActiveAuthChallengeBytes)
	r.ack(proto.AckHelloOK)
	r.add(proto.EncodeActiveAuthChallenge(c.aaChallenge))
	if c.phase == proto.PhaseLivenessCapturing {
		// A reconnect during capture gets a nonce (upstream's has none and
		// cannot pass).
		c.issueNonce(r)
	}
	return r
}

// assert checks an App Attest assertion with a registered key and stores
// its counter (compare-and-set). store.ErrNotFound: the key is unknown.
func (c *Conn) assert(ctx context.Context, keyID string, assertion []byte, cdh [32]byte) error {
	sctx, cancel := c.storeCtx(ctx)
	defer cancel()
	k, err := c.cfg.Store.AttestKeyByID(sctx, keyID)
	if err != nil {
		return err
	}
	cose, err := base64.StdEncoding.DecodeString(k.PublicKeyCOSE)
	if err != nil || k.Counter < 0 || k.Counter > math.MaxUint32 {
		return fmt.Errorf("%w: %q", errUnreadableKey, keyID)
	}
	counter, err := c.cfg.Attest.VerifyAssertion(cose, uint32(k.Counter), assertion, cdh)
	if err != nil {
		return err
	}
	return c.cfg.Store.AdvanceAttestCounter(sctx, keyID, k.Counter, int64(counter))
}

// Why an App Attest check refused what the device sent, beside
// appattest's own reasons.
var (
	errNoAssertion   = errors.New("flow: no App Attest key or assertion")
	errUnreadableKey = errors.New("flow: the stored App Attest key is unreadable")
)

// refusedAssertion reports whether assert's error is the device's (a
// refused, replayed or missing assertion, an unknown or unusable key)
// rather than the database's.
func refusedAssertion(err error) bool {
	return errors.Is(err, appattest.ErrInvalid) || errors.Is(err, store.ErrAttestCounterRace) ||
		errors.Is(err, store.ErrNotFound) || errors.Is(err, errNoAssertion) || errors.Is(err, errUnreadableKey)
}

// issueNonce gives the connection a fresh liveness nonce and sends it.
func (c *Conn) issueNonce(r *replies) {
	c.nonce = randomBytes(proto.LivenessNonceBytes)
	r.add(proto.EncodeLivenessChallenge(proto.LivenessChallenge{
		MaxDurationMs: uint32(c.cfg.LivenessMaxDuration.Milliseconds()), ChallengeNonce: c.nonce}))
}
