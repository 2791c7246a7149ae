package store

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/kayle-id/orgs-api/domains"
	"github.com/kayle-id/orgs-api/sessions"
	"github.com/kayle-id/orgs-api/verify/tokens"
)

// The public side of a verification session (behaviour-verify.md §3): what
// the verify web app and the phone read and write with no credential but
// the session id, the cancel token and the handoff token. A session of a
// frozen organization is an unknown one here.

// Refusals of the public verify routes.
var (
	// ErrSessionExpired: the session has ended, or its time is up.
	ErrSessionExpired = errors.New("store: the verification session has expired")
	// ErrConsentRequired: a handoff before any consent.
	ErrConsentRequired = errors.New("store: the verification session has no consent")
	// ErrSessionInProgress: the handoff token was consumed by a phone.
	ErrSessionInProgress = errors.New("store: the verification session continues on another device")
	// ErrCancelTokenInvalid: no cancel token, or not this one.
	ErrCancelTokenInvalid = errors.New("store: wrong cancel token")
	// ErrCancelTokenUsed: the cancel token was spent and the session is
	// not cancelled or expired.
	ErrCancelTokenUsed = errors.New("store: the cancel token was already used")
)

// HandoffTTL is how long a mobile write token can be consumed.
const HandoffTTL = 5 * time.Minute

// publicSession reads a session by id alone; ErrNotFound when there is none
// or its organization is scheduled for deletion.
func publicSession(db *gorm.DB, id string) (VerificationSession, error) {
	var v VerificationSession
	err := db.Where("id = ? AND organization_id IN (SELECT id FROM organizations WHERE pending_deletion_at IS NULL)", id).Take(&v).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return v, ErrNotFound
	}
	return v, err
}

// VerifySession reads a session for the public routes and the socket: by
// id, ErrNotFound when unknown or its organization is frozen. With touch,
// an overdue active session is first expired (its event, audit row and
// deliveries in the expiry's transaction), so the answer never shows it
// active.
func (s *Store) VerifySession(ctx context.Context, id string, touch bool) (VerificationSession, error) {
	var v VerificationSession
	err := s.read(ctx, func(db *gorm.DB) error {
		var err error
		v, err = publicSession(db, id)
		return err
	})
	if err != nil || !touch {
		return v, err
	}
	return s.touch(ctx, v)
}

// touch expires v if it is active and overdue, and answers it as it is now.
func (s *Store) touch(ctx context.Context, v VerificationSession) (VerificationSession, error) {
	now := s.clock()
	if !v.Active() || v.ExpiresAt.After(now) {
		return v, nil
	}
	if _, err := s.expire(ctx, v.OrganizationID, []string{v.ID}, now); err != nil {
		return v, err
	}
	err := s.read(ctx, func(db *gorm.DB) error {
		var err error
		v, err = publicSession(db, v.ID)
		return err
	})
	return v, err
}

// openSession is VerifySession with touch, refusing a session that has
// ended (ErrSessionExpired).
func (s *Store) openSession(ctx context.Context, id string) (VerificationSession, error) {
	v, err := s.VerifySession(ctx, id, true)
	if err == nil && !v.Active() {
		err = ErrSessionExpired
	}
	return v, err
}

// Handoff is what the web app shows the phone: the mobile write token (its
// text only here, once), when it stops being accepted, and the session's
// App Attest challenges.
type Handoff struct {
	SessionID      string
	Token          string
	ExpiresAt      time.Time
	HelloChallenge []byte
	NFCChallenge   []byte
}

// IssueHandoff issues a new mobile write token for an open session that has
// a consent: every call replaces the previous unconsumed token (only its
// hash is kept, so it cannot be shown again), valid HandoffTTL. Refusals, in
// upstream's order: ErrNotFound, ErrSessionExpired (overdue ones expired
// first), ErrConsentRequired, ErrSessionInProgress (the token was consumed).
// The write is a compare-and-set on the token being unconsumed, so a phone
// consuming the old token at the same moment wins or loses whole.
func (s *Store) IssueHandoff(ctx context.Context, id string) (Handoff, error) {
	v, err := s.openSession(ctx, id)
	if err != nil {
		return Handoff{}, err
	}
	secret, _, err := s.authSecret(ctx)
	if err != nil {
		return Handoff{}, err
	}
	token, err := tokens.NewHandoffToken()
	if err != nil {
		return Handoff{}, err
	}
	now := s.clock()
	out := Handoff{SessionID: v.ID, Token: token, ExpiresAt: now.Add(HandoffTTL),
		HelloChallenge: tokens.HelloChallenge(secret, v.ID), NFCChallenge: tokens.NFCChallenge(secret, v.ID)}
	err = s.tx(ctx, func(tx *gorm.DB) error {
		var consents int64
		if err := tx.Model(&VerificationConsent{}).Where("verification_session_id = ?", v.ID).Limit(1).Count(&consents).Error; err != nil {
			return err
		}
		if consents == 0 {
			return ErrConsentRequired
		}
		res := tx.Model(&VerificationSession{}).
			Where("id = ? AND status IN ? AND mobile_write_token_consumed_at IS NULL", v.ID, []string{StatusCreated, StatusInProgress}).
			Updates(map[string]any{"mobile_write_token_hash": tokens.HandoffTokenHash(secret, token),
				"mobile_write_token_issued_at": now, "mobile_write_token_expires_at": out.ExpiresAt, "updated_at": now})
		if res.Error != nil || res.RowsAffected == 1 {
			return res.Error
		}
		cur, err := publicSession(tx, v.ID)
		switch {
		case err != nil:
			return err
		case !cur.Active():
			return ErrSessionExpired
		default:
			return ErrSessionInProgress
		}
	})
	if err != nil {
		return Handoff{}, err
	}
	return out, nil
}

// VerifyOrganization is what the web app shows of the relying party: its
// business details and logo only once it has a verified domain.
type VerifyOrganization struct {
	ID                         uuid.UUID
	Name                       string
	OwnerIDCheckCompleted      bool
	VerifiedApexDomains        []string
	Logo                       *string
	BusinessType               *string
	BusinessName               *string
	BusinessJurisdiction       *string
	BusinessRegistrationNumber *string
	// From the organization's metadata.
	PrivacyPolicyURL, TermsOfServiceURL, Website, Description *string
	AppealURL, ComplaintsURL, FallbackIDVURL, SupportEmail    *string
}

// VerifyDetails is GET …/details: the session and its organization.
type VerifyDetails struct {
	Session      VerificationSession
	Organization VerifyOrganization
	// ShareFields are the fields the person is asked for.
	ShareFields sessions.Contract
	// AgeThreshold is the N of an age-only session's age_over_N.
	AgeThreshold *int
}

// ReadVerifyDetails reads a session's details (not touched: upstream's
// details never expire a session). ErrNotFound as VerifySession.
func (s *Store) ReadVerifyDetails(ctx context.Context, id string) (VerifyDetails, error) {
	var out VerifyDetails
	err := s.read(ctx, func(db *gorm.DB) error {
		v, err := publicSession(db, id)
		if err != nil {
			return err
		}
		o, err := verifyOrganization(db, v.OrganizationID)
		if err != nil {
			return err
		}
		out = VerifyDetails{Session: v, Organization: o, ShareFields: PublicShareFields(v.ShareFields)}
		if v.IsAgeOnly {
			if _, n, ok := out.ShareFields.AgeGate(); ok {
				out.AgeThreshold = &n
			}
		}
		return nil
	})
	return out, err
}

func verifyOrganization(db *gorm.DB, orgID uuid.UUID) (VerifyOrganization, error) {
	var org Organization
	if err := db.Where("id = ?", orgID).Take(&org).Error; err != nil {
		return VerifyOrganization{}, err
	}
	o := VerifyOrganization{ID: org.ID, Name: org.Name, OwnerIDCheckCompleted: org.OwnerIDCheckedAt != nil, VerifiedApexDomains: []string{}}
	if err := db.Model(&VerifiedDomain{}).Where("organization_id = ? AND downgraded_at IS NULL", orgID).
		Order("apex_domain").Pluck("apex_domain", &o.VerifiedApexDomains).Error; err != nil {
		return o, err
	}
	if len(o.VerifiedApexDomains) > 0 {
		// Self-asserted business facts are shown only once a domain vouches
		// for the organization, as upstream.
		o.Logo, o.BusinessType, o.BusinessName = org.Logo, org.BusinessType, org.BusinessName
		o.BusinessJurisdiction, o.BusinessRegistrationNumber = org.BusinessJurisdiction, org.BusinessRegistrationNumber
	}
	meta, _ := MetadataObject(org.Metadata)
	str := func(k string) *string {
		if v, ok := meta[k].(string); ok && v != "" {
			return &v
		}
		return nil
	}
	o.PrivacyPolicyURL, o.TermsOfServiceURL, o.Website, o.Description = str("privacyPolicyUrl"), str("termsOfServiceUrl"), str("website"), str("description")
	o.AppealURL, o.ComplaintsURL, o.FallbackIDVURL, o.SupportEmail = str("appealUrl"), str("complaintsUrl"), str("fallbackIdvUrl"), str("supportEmail")
	return o, nil
}

// PrivacyContext is GET …/privacy-context: the organization, the session's
// state, whether the person withdrew (spent the cancel token), and the
// deliveries of its succeeded result.
type PrivacyContext struct {
	Session                                        VerificationSession
	Organization                                   VerifyOrganization
	ResultDeliveries, ResultDelivered, Undelivered int
}

// ReadPrivacyContext reads a session's privacy context, an overdue session
// expired first. ErrNotFound as VerifySession.
func (s *Store) ReadPrivacyContext(ctx context.Context, id string) (PrivacyContext, error) {
	v, err := s.VerifySession(ctx, id, true)
	if err != nil {
		return PrivacyContext{}, err
	}
	out := PrivacyContext{Session: v}
	err = s.read(ctx, func(db *gorm.DB) error {
		o, err := verifyOrganization(db, v.OrganizationID)
		if err != nil {
			return err
		}
		out.Organization = o
		var rows []struct {
			Status string
			N      int
		}
		err = db.Table("webhook_deliveries d").Select("d.status AS status, COUNT(*) AS n").
			Joins("JOIN events e ON e.id = d.event_id").
			Where("e.organization_id = ? AND e.trigger_id = ? AND e.type = ?", v.OrganizationID, v.ID, "verification.session."+StatusSucceeded).
			Group("d.status").Scan(&rows).Error
		for _, r := range rows {
			out.ResultDeliveries += r.N
			if r.Status == DeliverySucceeded {
				out.ResultDelivered += r.N
			}
		}
		out.Undelivered = out.ResultDeliveries - out.ResultDelivered
		return err
	})
	return out, err
}

// RedirectPermitted re-checks a session's redirect URL against its
// organization's domains as they are now (not touched). url is nil, and
// permitted true, when the session has none.
func (s *Store) RedirectPermitted(ctx context.Context, id string, production bool) (permitted bool, url *string, err error) {
	err = s.read(ctx, func(db *gorm.DB) error {
		v, err := publicSession(db, id)
		if err != nil {
			return err
		}
		url, permitted = v.RedirectURL, true
		if url == nil {
			return nil
		}
		_, cerr := CheckSessionRedirectTx(db, v.OrganizationID, domains.Redirect{URL: *url}, production)
		var se *sessions.Error
		switch {
		case cerr == nil:
		case errors.As(cerr, &se):
			permitted = false
		default:
			return cerr
		}
		return nil
	})
	return permitted, url, err
}

// PublicCancel is the person's cancel with the cancel token (§3.5) and the
// privacy request it carries (behaviour-sessions.md §8). Checks, in
// upstream's order: ErrNotFound; ErrCancelTokenInvalid (compared in
// constant time); an overdue session expired; a spent token answers nil
// when the session is cancelled or expired, else ErrCancelTokenUsed. The
// first use, in one transaction holding the row: the token is spent (a
// compare-and-set), every undelivered payload of the session's events is
// scrubbed, an active session is cancelled and a succeeded or failed one
// none of whose deliveries succeeded is withdrawn (both through transition:
// one event, its deliveries), the verify flow's columns are cleared, and the
// audit row session.privacy_request.submitted is written.
func (s *Store) PublicCancel(ctx context.Context, id, cancelToken string) error {
	v, err := s.VerifySession(ctx, id, false)
	if err != nil {
		return err
	}
	secret, _, err := s.authSecret(ctx)
	if err != nil {
		return err
	}
	if v.CancelTokenHash == "" || !tokens.Equal(tokens.CancelTokenHash(secret, cancelToken), v.CancelTokenHash) {
		return ErrCancelTokenInvalid
	}
	if v, err = s.touch(ctx, v); err != nil {
		return err
	}
	spent := func(v VerificationSession) error {
		if v.Status == StatusCancelled || v.Status == StatusExpired {
			return nil
		}
		return ErrCancelTokenUsed
	}
	return s.tx(ctx, func(tx *gorm.DB) error {
		v, err := lockSession(tx, v.OrganizationID, v.ID)
		if err != nil {
			return err
		}
		if v.CancelTokenConsumedAt != nil {
			return spent(v)
		}
		now := s.clock()
		res := tx.Model(&VerificationSession{}).Where("id = ? AND cancel_token_consumed_at IS NULL", v.ID).
			Updates(map[string]any{"cancel_token_consumed_at": now, "updated_at": now})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			if v, err = publicSession(tx, v.ID); err != nil {
				return err
			}
			return spent(v)
		}
		return s.privacyRequest(tx, v, now)
	})
}

// privacyRequest is the rest of PublicCancel, in its transaction, for v as
// read under the lock.
func (s *Store) privacyRequest(tx *gorm.DB, v VerificationSession, now time.Time) error {
	events := tx.Model(&Event{}).Select("id").Where("organization_id = ? AND trigger_id = ?", v.OrganizationID, v.ID)
	var counts []struct {
		Status string
		N      int
	}
	if err := tx.Model(&WebhookDelivery{}).Select("status, COUNT(*) AS n").Where("event_id IN (?)", events).
		Group("status").Scan(&counts).Error; err != nil {
		return err
	}
	total, delivered := 0, 0
	for _, c := range counts {
		total += c.N
		if c.Status == DeliverySucceeded {
			delivered += c.N
		}
	}
	// Nothing undelivered leaves: a payload still held (or queued, or in
	// flight) is dropped and its delivery ends failed; the run id goes so a
	// queued job finds the delivery no longer its own.
	scrub := tx.Model(&WebhookDelivery{}).
		Where("event_id IN (?) AND status <> ? AND (payload IS NOT NULL OR held_payload IS NOT NULL)", events, DeliverySucceeded).
		Updates(map[string]any{"status": DeliveryFailed, "payload": nil, "held_payload": nil, "payload_expires_at": nil,
			"payload_scrubbed_at": now, "payload_retention_reason": ReasonPrivacyRequest, "run_id": nil,
			"next_attempt_at": nil, "updated_at": now})
	if scrub.Error != nil {
		return scrub.Error
	}
	minimised := 0
	switch {
	case v.Active():
		if _, _, err := s.transition(tx, v.OrganizationID, v.ID, Ending{Status: StatusCancelled}, now, false); err != nil {
			return err
		}
	case (v.Status == StatusSucceeded || v.Status == StatusFailed) && delivered == 0:
		if _, _, err := s.transition(tx, v.OrganizationID, v.ID, Ending{Status: StatusCancelled, Withdraw: true}, now, false); err != nil {
			return err
		}
		minimised = 1
	default:
		// Ended, and (for a result) already delivered: it stays as it is,
		// minus what the flow left on it.
		set := map[string]any{"risk_score": 0, "updated_at": now}
		for _, c := range flowColumns {
			set[c] = nil
		}
		if err := tx.Model(&VerificationSession{}).Where("id = ?", v.ID).Updates(set).Error; err != nil {
			return err
		}
		minimised = 1
	}
	return s.sessionAudit(tx, nil, v.OrganizationID, EventSessionPrivacyRequest, v.ID, Metadata{
		"delivered_webhook_delivery_count":  delivered,
		"minimized_completed_attempt_count": minimised,
		"scrubbed_webhook_payload_count":    int(scrub.RowsAffected),
		"session_status_at_request":         v.Status,
		"total_webhook_delivery_count":      total,
	})
}
