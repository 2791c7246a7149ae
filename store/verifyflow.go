package store

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/kayle-id/orgs-api/sessions"
)

// The verify socket's state changes (behaviour notes §5.4–§5.11). Every
// change is conditional on the session still being active, so a cancel or
// an expiry that wins a race leaves the socket nothing to write; the
// terminal ones go through transition().

// Errors of the socket's hello and state changes.
var (
	// ErrSocketClaimed: another live connection holds the session.
	ErrSocketClaimed = errors.New("store: the session is held by another connection")
	// ErrHandoffInvalid: no token was issued, or another one replaced it.
	ErrHandoffInvalid = errors.New("store: the handoff token is not the session's")
	// ErrHandoffExpired: the unconsumed token's five minutes are over.
	ErrHandoffExpired = errors.New("store: the handoff token has expired")
	// ErrHandoffConsumed: the token was consumed by another hello.
	ErrHandoffConsumed = errors.New("store: the handoff token was already used")
)

// Verify phases the store writes itself.
const (
	PhaseMobileConnected   = "mobile_connected"
	PhaseMRZScanning       = "mrz_scanning"
	PhaseNFCReading        = "nfc_reading"
	PhaseNFCComplete       = "nfc_complete"
	PhaseLivenessCapturing = "liveness_capturing"
)

// ClaimStale is how long a connection's claim holds against a new
// connection that is not a resume (upstream's 15 minutes).
const ClaimStale = 15 * time.Minute

// Retries per check (upstream's budgets).
const (
	MaxNFCTries      = 3
	MaxLivenessTries = 3
)

// SocketSession is what the verify socket reads of a session.
type SocketSession struct {
	ID                string
	OrganizationID    uuid.UUID
	Status            string
	ExpiresAt         time.Time
	ShareFields       sessions.Contract
	TokenHash         *string
	TokenExpiresAt    *time.Time
	TokenConsumedAt   *time.Time
	DeviceHash        *string
	AttestKeyID       *string
	Phase             *string
	NFCVerifiedDigest *string
	// ClaimedBy is the connection holding the session, if any.
	ClaimedBy         *string
	NFCTriesUsed      int
	LivenessTriesUsed int
}

// Active reports whether the session can still change.
func (v SocketSession) Active() bool {
	return v.Status == StatusCreated || v.Status == StatusInProgress
}

type socketRow struct {
	ID                         string
	OrganizationID             uuid.UUID
	Status                     string
	ExpiresAt                  time.Time
	ShareFields                ShareContract
	MobileWriteTokenHash       *string
	MobileWriteTokenExpiresAt  *time.Time
	MobileWriteTokenConsumedAt *time.Time
	MobileHelloDeviceIDHash    *string
	MobileAttestKeyID          *string
	CurrentPhase               *string
	NFCVerifiedDigest          *string `gorm:"column:nfc_verified_digest"`
	ClaimedByConnectionID      *string `gorm:"column:claimed_by_connection_id"`
	NfcTriesUsed               int
	LivenessTriesUsed          int
}

const socketColumns = `s.id, s.organization_id, s.status, s.expires_at, s.share_fields, s.mobile_write_token_hash,
	s.mobile_write_token_expires_at, s.mobile_write_token_consumed_at, s.mobile_hello_device_id_hash,
	s.mobile_attest_key_id, s.current_phase, s.nfc_verified_digest, s.claimed_by_connection_id, s.nfc_tries_used, s.liveness_tries_used`

func readSocketRow(db *gorm.DB, id string) (SocketSession, error) {
	var r socketRow
	// A session of an organization scheduled for deletion is unknown here,
	// as on every verify route.
	res := db.Raw(`SELECT `+socketColumns+` FROM verification_sessions s
		JOIN organizations o ON o.id = s.organization_id
		WHERE s.id = ? AND o.pending_deletion_at IS NULL`, id).Scan(&r)
	if res.Error != nil {
		return SocketSession{}, res.Error
	}
	if res.RowsAffected == 0 {
		return SocketSession{}, ErrNotFound
	}
	return SocketSession{
		ID: r.ID, OrganizationID: r.OrganizationID, Status: r.Status, ExpiresAt: r.ExpiresAt,
		ShareFields: sessions.Contract(r.ShareFields), TokenHash: r.MobileWriteTokenHash,
		TokenExpiresAt: r.MobileWriteTokenExpiresAt, TokenConsumedAt: r.MobileWriteTokenConsumedAt,
		DeviceHash: r.MobileHelloDeviceIDHash, AttestKeyID: r.MobileAttestKeyID, Phase: r.CurrentPhase,
		NFCVerifiedDigest: r.NFCVerifiedDigest, ClaimedBy: r.ClaimedByConnectionID,
		NFCTriesUsed: r.NfcTriesUsed, LivenessTriesUsed: r.LivenessTriesUsed,
	}, nil
}

// SocketSession reads a session for the verify socket, ending it first if
// it is overdue (expire on touch). ErrNotFound for an unknown session or
// one whose organization is scheduled for deletion.
func (s *Store) SocketSession(ctx context.Context, id string) (SocketSession, error) {
	var v SocketSession
	read := func() error {
		return s.read(ctx, func(db *gorm.DB) error {
			var err error
			v, err = readSocketRow(db, id)
			return err
		})
	}
	if err := read(); err != nil {
		return v, err
	}
	if v.Active() && !v.ExpiresAt.After(s.clock()) {
		if err := s.expireOverdue(ctx, v.OrganizationID, id); err != nil {
			return v, err
		}
		if err := read(); err != nil {
			return v, err
		}
	}
	return v, nil
}

// SocketHello is a hello that passed its token and device checks against
// the row read before it; ClaimSocket repeats them in its conditional
// update, so a hello racing another one, a token rotation or a cancel
// cannot pass on a stale read.
type SocketHello struct {
	SessionID, ConnectionID string
	// Resume: the token was consumed by an earlier hello of this device.
	Resume bool
	// TokenHash is the stored hash the hello's token matched.
	TokenHash string
	// DeviceHash is the keyed hash of the hello's device id.
	DeviceHash string
	// AppVersion and AttestKeyID are recorded by a first hello ("" = NULL).
	AppVersion, AttestKeyID string
}

// ClaimSocket binds the session to one connection. A first hello consumes
// the token (compare-and-set on its consumption, so of two devices racing
// with one token exactly one wins), moves the session to in_progress at
// mobile_connected and records the device; a resume takes the claim over.
// It answers the session's phase. Errors: ErrSessionNotActive (ended or
// past its expiry), ErrHandoffInvalid, ErrHandoffExpired,
// ErrHandoffConsumed (by another device), ErrSocketClaimed (by another
// connection, including a first hello of the same device that won a race).
func (s *Store) ClaimSocket(ctx context.Context, h SocketHello) (string, error) {
	var phase string
	err := s.tx(ctx, func(tx *gorm.DB) error {
		now := s.clock()
		var res *gorm.DB
		if h.Resume {
			res = tx.Exec(`UPDATE verification_sessions SET claimed_by_connection_id = ?, claimed_at = ?,
				phase_updated_at = CASE WHEN current_phase IS NULL THEN ? ELSE phase_updated_at END,
				current_phase = COALESCE(current_phase, ?), updated_at = ?
				WHERE id = ? AND status IN ? AND expires_at > ? AND mobile_write_token_hash = ?
				AND mobile_write_token_consumed_at IS NOT NULL AND mobile_hello_device_id_hash = ?`,
				h.ConnectionID, now, now, PhaseMobileConnected, now,
				h.SessionID, activeStatuses, now, h.TokenHash, h.DeviceHash)
		} else {
			res = tx.Exec(`UPDATE verification_sessions SET status = ?, current_phase = ?, phase_updated_at = ?,
				mobile_write_token_consumed_at = ?, mobile_hello_device_id_hash = ?, mobile_hello_app_version = ?,
				mobile_attest_key_id = ?, claimed_by_connection_id = ?, claimed_at = ?, updated_at = ?
				WHERE id = ? AND status IN ? AND expires_at > ? AND mobile_write_token_hash = ?
				AND mobile_write_token_consumed_at IS NULL AND mobile_write_token_expires_at > ?
				AND (claimed_by_connection_id IS NULL OR claimed_by_connection_id = ? OR claimed_at < ?)`,
				StatusInProgress, PhaseMobileConnected, now, now, h.DeviceHash, nullable(h.AppVersion),
				nullable(h.AttestKeyID), h.ConnectionID, now, now,
				h.SessionID, activeStatuses, now, h.TokenHash, now, h.ConnectionID, now.Add(-ClaimStale))
		}
		if res.Error != nil {
			return res.Error
		}
		v, err := readSocketRow(tx, h.SessionID)
		if err != nil {
			return err
		}
		if res.RowsAffected == 1 {
			if v.Phase != nil {
				phase = *v.Phase
			}
			return nil
		}
		// Nothing moved: say why, from the row as it is now.
		switch {
		case !v.Active() || !v.ExpiresAt.After(now):
			return ErrSessionNotActive
		case v.TokenHash == nil || *v.TokenHash != h.TokenHash:
			return ErrHandoffInvalid
		case h.Resume:
			return ErrHandoffInvalid
		case v.TokenConsumedAt != nil && v.DeviceHash != nil && *v.DeviceHash == h.DeviceHash:
			// A hello of the same device consumed it a moment ago (two
			// sockets racing): that connection holds the session, and a
			// retry resumes.
			return ErrSocketClaimed
		case v.TokenConsumedAt != nil:
			return ErrHandoffConsumed
		case v.TokenExpiresAt == nil || !v.TokenExpiresAt.After(now):
			return ErrHandoffExpired
		default:
			return ErrSocketClaimed
		}
	})
	return phase, err
}

var activeStatuses = []string{StatusCreated, StatusInProgress}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// ReleaseSocket drops the connection's claim, if it still holds it.
func (s *Store) ReleaseSocket(ctx context.Context, sessionID, connectionID string) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		return tx.Exec(`UPDATE verification_sessions SET claimed_by_connection_id = NULL, claimed_at = NULL
			WHERE id = ? AND claimed_by_connection_id = ?`, sessionID, connectionID).Error
	})
}

// SocketPhase records the session's phase. Leaving nfc_complete backwards
// (the rewind to nfc_reading, or further) forgets which artefacts were
// verified; nfcDigest, when not nil, records them (the move to
// nfc_complete after its checks passed). ErrSessionNotActive when the
// session has ended.
func (s *Store) SocketPhase(ctx context.Context, sessionID, connectionID, phase string, nfcDigest *string) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		now := s.clock()
		set := `current_phase = ?, phase_updated_at = ?, updated_at = ?`
		args := []any{phase, now, now}
		switch {
		case nfcDigest != nil:
			set += `, nfc_verified_digest = ?`
			args = append(args, *nfcDigest)
		case phaseBeforeNFCComplete(phase):
			set += `, nfc_verified_digest = NULL`
		}
		res := tx.Exec(`UPDATE verification_sessions SET `+set+` WHERE id = ? AND status IN ? AND claimed_by_connection_id = ?`,
			append(args, sessionID, activeStatuses, connectionID)...)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return notWritten(tx, sessionID, connectionID)
		}
		return nil
	})
}

// notWritten says why a socket's conditional update matched nothing: the
// session ended (ErrSessionNotActive), or another connection holds it
// (ErrSocketClaimed).
func notWritten(tx *gorm.DB, sessionID, connectionID string) error {
	v, err := readSocketRow(tx, sessionID)
	switch {
	case err != nil:
		return err
	case !v.Active():
		return ErrSessionNotActive
	case v.ClaimedBy == nil || *v.ClaimedBy != connectionID:
		return ErrSocketClaimed
	}
	return ErrSessionNotActive
}

func phaseBeforeNFCComplete(phase string) bool {
	switch phase {
	case PhaseMobileConnected, PhaseMRZScanning, "mrz_complete", PhaseNFCReading:
		return true
	}
	return false
}

// Which check failed, as checkResult's failedCheck names it.
const (
	FailedCheckMRZ      = "mrz"
	FailedCheckNFC      = "nfc"
	FailedCheckLiveness = "liveness"
)

// CheckFailure is a check that did not pass (behaviour notes §5.10).
type CheckFailure struct {
	SessionID string
	// ConnectionID must hold the session's claim (ErrSocketClaimed).
	ConnectionID string
	Code         string // one of FailureCodes
	FailedCheck  string // FailedCheck*
	// Risk raises the session's risk score to at least this.
	Risk float64
	// HardKill ends the session at once, without spending a try.
	HardKill bool
}

// CheckOutcome is what a recorded failure left: whether the session ended
// (by this failure or, before it, by something else) and the tries used.
type CheckOutcome struct {
	Terminal          bool
	NFCTriesUsed      int
	LivenessTriesUsed int
}

// RecordCheckFailure writes a failed check. A document_data_invalid (mrz)
// failure rewinds the session to mrz_scanning and spends nothing; an nfc or
// liveness one spends a try of its check, rewinds to nfc_reading or
// liveness_capturing and writes a session.check.failed audit row, and the
// third ends the session failed; a hard kill ends it failed at once. The
// ending goes through transition(): event, audit row and deliveries in the
// same transaction. A session that had already ended reports Terminal with
// nothing written.
func (s *Store) RecordCheckFailure(ctx context.Context, f CheckFailure) (CheckOutcome, error) {
	var out CheckOutcome
	err := s.tx(ctx, func(tx *gorm.DB) error {
		out = CheckOutcome{}
		now := s.clock()
		v, err := readSocketRow(tx, f.SessionID)
		if err != nil {
			return err
		}
		// An ended session reports no tries left (a skipped hard kill all of
		// them), as upstream.
		ended := CheckOutcome{Terminal: true, NFCTriesUsed: MaxNFCTries, LivenessTriesUsed: MaxLivenessTries}
		if f.HardKill {
			ended.NFCTriesUsed, ended.LivenessTriesUsed = 0, 0
		}
		if !v.Active() {
			out = ended
			return nil
		}
		if v.ClaimedBy == nil || *v.ClaimedBy != f.ConnectionID {
			return ErrSocketClaimed
		}
		risk := clamp01(f.Risk)
		if f.HardKill {
			_, moved, err := s.transition(tx, v.OrganizationID, f.SessionID, Ending{Status: StatusFailed,
				FailureCode: f.Code, Set: map[string]any{"risk_score": gorm.Expr(greatestRisk, risk, risk)}}, now, false)
			if err != nil {
				return err
			}
			out = CheckOutcome{Terminal: true, NFCTriesUsed: v.NFCTriesUsed, LivenessTriesUsed: v.LivenessTriesUsed}
			if !moved {
				out = ended
			}
			return nil
		}
		set := `current_phase = ?, phase_updated_at = ?, updated_at = ?, risk_score = ` + greatestRisk
		args := []any{PhaseMRZScanning, now, now, risk, risk}
		switch f.FailedCheck {
		case FailedCheckMRZ:
			set += `, nfc_verified_digest = NULL`
		case FailedCheckNFC:
			set += `, nfc_tries_used = nfc_tries_used + 1, nfc_verified_digest = NULL`
			args[0] = PhaseNFCReading
		case FailedCheckLiveness:
			set += `, liveness_tries_used = liveness_tries_used + 1`
			args[0] = PhaseLivenessCapturing
		}
		res := tx.Exec(`UPDATE verification_sessions SET `+set+` WHERE id = ? AND status IN ? AND claimed_by_connection_id = ?`,
			append(args, f.SessionID, activeStatuses, f.ConnectionID)...)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			if err := notWritten(tx, f.SessionID, f.ConnectionID); errors.Is(err, ErrSocketClaimed) {
				return err
			}
			out = ended
			return nil
		}
		out.NFCTriesUsed, out.LivenessTriesUsed = v.NFCTriesUsed, v.LivenessTriesUsed
		if f.FailedCheck == FailedCheckMRZ {
			return nil
		}
		if err := s.sessionAudit(tx, nil, v.OrganizationID, EventSessionCheckFailed, f.SessionID,
			Metadata{"failure_code": f.Code, "failed_check": f.FailedCheck}); err != nil {
			return err
		}
		used := &out.NFCTriesUsed
		if f.FailedCheck == FailedCheckLiveness {
			used = &out.LivenessTriesUsed
		}
		*used++
		limit := MaxNFCTries
		if f.FailedCheck == FailedCheckLiveness {
			limit = MaxLivenessTries
		}
		if *used < limit {
			return nil
		}
		_, moved, err := s.transition(tx, v.OrganizationID, f.SessionID, Ending{Status: StatusFailed,
			FailureCode: f.Code, AuditMeta: Metadata{"failed_check": f.FailedCheck}}, now, false)
		if err != nil {
			return err
		}
		out.Terminal = true
		if !moved {
			out = ended
		}
		return nil
	})
	return out, err
}

// greatestRisk raises the stored risk score to at least its argument; both
// databases' two-argument scalar.
const greatestRisk = `CASE WHEN risk_score > ? THEN risk_score ELSE ? END`

func clamp01(x float64) float64 {
	if math.IsNaN(x) || x < 0 {
		return 0
	}
	return math.Min(x, 1)
}

// SocketSuccess is a verification that passed every check and whose
// person chose what to share.
type SocketSuccess struct {
	SessionID string
	// ConnectionID must hold the session's claim (ErrSocketClaimed).
	ConnectionID string
	// SelectedFieldKeys in the share request's (sorted) order.
	SelectedFieldKeys []string
	// Claims hold every requested key: the value when selected, nil when
	// not. They go to the deliveries only.
	Claims map[string]any
	// FaceScore is the face match's score; the risk score is 1 − it.
	FaceScore float64
}

// SucceedSocket ends the session succeeded through transition() (event,
// audit row and the deliveries carrying the claims, in one transaction) and
// records the selection on its consent rows. ErrSessionNotActive when the
// session has ended meanwhile.
func (s *Store) SucceedSocket(ctx context.Context, in SocketSuccess) error {
	keys, err := json.Marshal(in.SelectedFieldKeys)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *gorm.DB) error {
		v, err := readSocketRow(tx, in.SessionID)
		if err != nil {
			return err
		}
		if v.Active() && (v.ClaimedBy == nil || *v.ClaimedBy != in.ConnectionID) {
			return ErrSocketClaimed
		}
		_, moved, err := s.transition(tx, v.OrganizationID, in.SessionID, Ending{Status: StatusSucceeded,
			SelectedFieldKeys: in.SelectedFieldKeys, Claims: in.Claims,
			Set: map[string]any{"risk_score": clamp01(1 - clamp01(in.FaceScore))}}, s.clock(), false)
		if err != nil {
			return err
		}
		if !moved {
			return ErrSessionNotActive
		}
		return tx.Exec(`UPDATE verification_consents SET selected_claim_keys = ? WHERE verification_session_id = ?`,
			string(keys), in.SessionID).Error
	})
}

// VerifySecret is the HMAC key of the verify flow's tokens, hashes and
// derived challenges (behaviour notes §4): the auth secret.
func (s *Store) VerifySecret(ctx context.Context) ([]byte, error) {
	secret, _, err := s.authSecret(ctx)
	return secret, err
}
