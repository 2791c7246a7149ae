package flow

import (
	"context"
	"errors"

	"github.com/kayle-id/orgs-api/store"
	"github.com/kayle-id/orgs-api/verify/mrz"
	"github.com/kayle-id/orgs-api/verify/proto"
)

// onShareSelection is §5.11: the selection checked against the share
// request, the claims built from the verified DG1, the session ended
// succeeded (event, audit and deliveries with the claims in one
// transaction), then shareReady.
func (c *Conn) onShareSelection(ctx context.Context, s proto.ShareSelection) *replies {
	r := &replies{}
	if !c.shareSent || c.verified == nil || c.faceScore == nil {
		return r.fail(proto.CodePhaseOutOfOrder)
	}
	if c.ready != nil {
		r.add(c.ready, nil)
		return r
	}
	if s.SessionID != c.sessionID {
		return r.fail(proto.CodeInvalidSessionID)
	}
	if len(s.SelectedFieldKeys) == 0 {
		return r.fail(proto.CodeShareSelectionRequired)
	}
	chosen := make(map[string]bool, len(s.SelectedFieldKeys))
	requested := make(map[string]shareField, len(c.share))
	for _, f := range c.share {
		requested[f.Key] = f
	}
	for _, k := range s.SelectedFieldKeys {
		if _, ok := requested[k]; !ok {
			return r.fail(proto.CodeShareSelectionInvalidField)
		}
		chosen[k] = true
	}
	for _, f := range c.share {
		if f.Required && !chosen[f.Key] {
			return r.fail(proto.CodeShareSelectionMissingReq)
		}
	}
	m, err := mrz.ParseDG1(c.verified.DG1)
	if err != nil {
		return r.internal(err)
	}
	var selected []string
	for _, f := range c.share {
		if chosen[f.Key] {
			selected = append(selected, f.Key)
		}
	}
	values, err := m.Claims(selected, mrz.ClaimContext{Secret: string(c.secret), OrgID: c.orgID.String(), Now: c.cfg.Store.Now()})
	if err != nil {
		return r.internal(err)
	}
	// Every requested key is in the payload: null when not chosen.
	claims := make(map[string]any, len(c.share))
	for _, f := range c.share {
		claims[f.Key] = nil
		if chosen[f.Key] {
			claims[f.Key] = values[f.Key]
		}
	}
	sctx, cancel := c.storeCtx(ctx)
	err = c.cfg.Store.SucceedSocket(sctx, store.SocketSuccess{SessionID: c.sessionID, ConnectionID: c.id,
		SelectedFieldKeys: selected, Claims: claims, FaceScore: *c.faceScore})
	cancel()
	if errors.Is(err, store.ErrSessionNotActive) {
		return r.fail(proto.CodeSessionExpired)
	}
	if errors.Is(err, store.ErrSocketClaimed) {
		return r.failClose(proto.CodeSessionConnectionActive)
	}
	if err != nil {
		return r.internal(err)
	}
	frame, err := proto.EncodeShareReady(proto.ShareReady{SessionID: c.sessionID, SelectedFieldKeys: selected})
	if err != nil {
		return r.internal(err)
	}
	c.ready = frame
	r.add(frame, nil)
	return r
}
