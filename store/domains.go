package store

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/kayle-id/orgs-api/domains"
)

// Domain verification, as upstream: a challenge names a TXT record; when
// DNS shows it, the organization holds the apex. At most one organization
// holds an apex actively; another may take it over by proving control too.
//
// Verification talks to DNS, so it is split in two: PrepareVerification
// reads and checks the challenge in a short transaction, the caller looks
// the record up with no database connection held, and CompleteVerification
// checks everything again under the organization's lock and writes.

// MethodDNSTXT is the one verification method.
const MethodDNSTXT = "dns_txt"

// ChallengeTTL is how long a challenge can be verified (upstream's 7 days).
const ChallengeTTL = 7 * 24 * time.Hour

// Per-organization limits on what costs a DNS lookup or a new row, counted
// in the database so they hold across replicas.
var (
	ChallengeStartLimit = RateLimit{Action: "domain.challenge.start", Max: 20, Window: time.Hour}
	VerifyAttemptLimit  = RateLimit{Action: "domain.challenge.verify", Max: 60, Window: time.Hour}
)

// VerifiedDomain is an apex an organization proved it controls.
// DowngradedAt non-nil means it is no longer trusted.
type VerifiedDomain struct {
	ID                      uuid.UUID
	OrganizationID          uuid.UUID
	ApexDomain              string
	VerifiedAt              time.Time
	VerifiedVia             string
	VerifiedBy              *uuid.UUID
	RecheckToken            string
	LastCheckedAt           *time.Time
	RecheckAttemptedAt      *time.Time
	ConsecutiveFailedChecks int
	DowngradedAt            *time.Time
	CreatedAt               time.Time
	UpdatedAt               time.Time
}

// Active reports whether the domain is trusted.
func (d VerifiedDomain) Active() bool { return d.DowngradedAt == nil }

// DomainChallenge is a pending DNS challenge.
type DomainChallenge struct {
	ID             uuid.UUID
	OrganizationID uuid.UUID
	ApexDomain     string
	Method         string
	Token          string
	ExpiresAt      time.Time
	CreatedAt      time.Time
	CreatedBy      *uuid.UUID
}

// RecordName is where the challenge's TXT record goes.
func (c DomainChallenge) RecordName() string { return domains.RecordName(c.ApexDomain) }

// RecordValue is the TXT record's value.
func (c DomainChallenge) RecordValue() string { return domains.RecordValue(c.Token) }

// OrgRef names an organization (the other side of a conflict or takeover).
type OrgRef struct {
	ID   uuid.UUID
	Name string
}

// ownerScope opens the active organization for a domain or redirect-URI
// change, with upstream's checks in upstream's order: an organization is
// selected, it is not frozen, the caller is an active owner. The
// organization's row (its id, name and deletion state: never its logo)
// stays locked until the transaction ends, so the organization's domain
// changes are serialized. before runs between the freeze check and the
// owner check (redirect URIs check the host there).
func ownerScope(tx *gorm.DB, a Actor, before func() error) (Organization, error) {
	sc, err := lockAdminScope(tx, a, "name")
	if err != nil {
		return Organization{}, err
	}
	if !sc.found {
		return sc.org, ErrNoActiveOrganization
	}
	if sc.org.Frozen() {
		return sc.org, ErrOrganizationFrozen
	}
	if before != nil {
		if err := before(); err != nil {
			return sc.org, err
		}
	}
	if !sc.allows(isOwner) {
		return sc.org, ErrForbidden
	}
	return sc.org, nil
}

// memberScope is the read-only check of the two lists: an organization is
// selected and the caller is an active member of it, in any role (upstream
// checks no membership at all).
func memberScope(db *gorm.DB, a Actor) (uuid.UUID, error) {
	if a.ActiveOrganizationID == nil {
		return uuid.Nil, ErrNoActiveOrganization
	}
	if _, err := activeMembership(db, *a.ActiveOrganizationID, a.UserID); err != nil {
		return uuid.Nil, err
	}
	return *a.ActiveOrganizationID, nil
}

// activeHolder is the other organization holding apex actively, if any,
// with its row locked.
func activeHolder(tx *gorm.DB, apex string, not uuid.UUID) (*VerifiedDomain, *OrgRef, error) {
	var d VerifiedDomain
	err := tx.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate}).
		Where("apex_domain = ? AND downgraded_at IS NULL AND organization_id <> ?", apex, not).Take(&d).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	o, err := findOrg(tx.Select("id", "name"), d.OrganizationID)
	if err != nil {
		return nil, nil, err
	}
	return &d, &OrgRef{ID: o.ID, Name: o.Name}, nil
}

// StartedChallenge is a new challenge and the organization already holding
// its apex, if another does.
type StartedChallenge struct {
	Challenge DomainChallenge
	Conflict  *OrgRef
}

// StartDNSChallenge issues a challenge for the apex of rawApex (trimmed, as
// sent), replacing the organization's earlier one for that apex. Errors, in
// upstream's order: ErrNoActiveOrganization, ErrOrganizationFrozen,
// ErrForbidden (not an active owner), *domains.HostError, then
// *RateLimitedError.
func (s *Store) StartDNSChallenge(ctx context.Context, a Actor, rawApex string) (StartedChallenge, error) {
	var out StartedChallenge
	err := s.tx(ctx, func(tx *gorm.DB) error {
		org, err := ownerScope(tx, a, nil)
		if err != nil {
			return err
		}
		host, err := domains.ParseHost(rawApex)
		if err != nil {
			return err
		}
		now := s.clock()
		if err := s.countAction(tx, org.ID, ChallengeStartLimit, now); err != nil {
			return err
		}
		// Expired challenges go too: nothing else sweeps them.
		if err := tx.Where("organization_id = ? AND (apex_domain = ? OR expires_at < ?)", org.ID, host.Apex, now).
			Delete(&DomainChallenge{}).Error; err != nil {
			return err
		}
		c := DomainChallenge{ID: uuid.New(), OrganizationID: org.ID, ApexDomain: host.Apex, Method: MethodDNSTXT,
			Token: domains.NewToken(), ExpiresAt: now.Add(ChallengeTTL), CreatedAt: now, CreatedBy: &a.UserID}
		if err := tx.Create(&c).Error; err != nil {
			return err
		}
		_, conflict, err := activeHolder(tx, host.Apex, org.ID)
		if err != nil {
			return err
		}
		out = StartedChallenge{Challenge: c, Conflict: conflict}
		return s.audit(tx, org.ID, &a.UserID, EventDomainChallengeStarted, "domain_challenge", c.ID.String(),
			Metadata{"method": MethodDNSTXT, "apex_domain": rawApex, "has_conflict": conflict != nil})
	})
	return out, err
}

// PendingVerification is a challenge that passed every check but DNS.
type PendingVerification struct {
	Challenge           DomainChallenge
	AcknowledgeTakeover bool
}

// TakeoverRequiredError: another organization holds the apex and the
// caller did not acknowledge taking it over.
type TakeoverRequiredError struct{ Holder OrgRef }

func (e *TakeoverRequiredError) Error() string {
	return "store: " + e.Holder.Name + " holds this domain actively"
}

// Is makes errors.Is(err, ErrTakeoverRequired) hold.
func (e *TakeoverRequiredError) Is(target error) bool { return target == ErrTakeoverRequired }

// verifiable checks a challenge for verification, in upstream's order:
// ErrChallengeNotFound (none with this id in the organization),
// ErrChallengeExpired, *TakeoverRequiredError. It returns the current
// holder of the apex (locked) when the takeover is acknowledged.
func (s *Store) verifiable(tx *gorm.DB, org Organization, challengeID uuid.UUID, ack bool) (DomainChallenge, *VerifiedDomain, *OrgRef, error) {
	var c DomainChallenge
	err := tx.Where("id = ? AND organization_id = ? AND method = ?", challengeID, org.ID, MethodDNSTXT).Take(&c).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return c, nil, nil, ErrChallengeNotFound
	}
	if err != nil {
		return c, nil, nil, err
	}
	if c.ExpiresAt.Before(s.clock()) {
		return c, nil, nil, ErrChallengeExpired
	}
	held, holder, err := activeHolder(tx, c.ApexDomain, org.ID)
	if err != nil {
		return c, nil, nil, err
	}
	if holder != nil && !ack {
		return c, nil, nil, &TakeoverRequiredError{Holder: *holder}
	}
	return c, held, holder, nil
}

// PrepareVerification checks a verification attempt before its DNS lookup
// and counts it against VerifyAttemptLimit. Errors: ErrNoActiveOrganization,
// ErrOrganizationFrozen, ErrForbidden, ErrChallengeNotFound,
// ErrChallengeExpired, *TakeoverRequiredError, *RateLimitedError.
func (s *Store) PrepareVerification(ctx context.Context, a Actor, challengeID uuid.UUID, ack bool) (PendingVerification, error) {
	var out PendingVerification
	err := s.tx(ctx, func(tx *gorm.DB) error {
		org, err := ownerScope(tx, a, nil)
		if err != nil {
			return err
		}
		c, _, _, err := s.verifiable(tx, org, challengeID, ack)
		if err != nil {
			return err
		}
		if err := s.countAction(tx, org.ID, VerifyAttemptLimit, s.clock()); err != nil {
			return err
		}
		out = PendingVerification{Challenge: c, AcknowledgeTakeover: ack}
		return nil
	})
	return out, err
}

// Verification is a completed verification.
type Verification struct {
	Domain       VerifiedDomain
	TakeoverFrom *OrgRef
}

// CompleteVerification records that DNS showed the challenge's record. It
// checks everything PrepareVerification checked again, under the
// organization's lock (the state may have changed during the lookup; a
// challenge replaced meanwhile is ErrChallengeNotFound), then in one
// transaction: downgrades another holder's row (acknowledged takeover,
// with an audit row and mail to its owners), creates or revives the
// caller's row, deletes the challenge and writes domain.verified.
func (s *Store) CompleteVerification(ctx context.Context, a Actor, p PendingVerification) (Verification, error) {
	var out Verification
	attempt := func() error {
		return s.tx(ctx, func(tx *gorm.DB) error {
			org, err := ownerScope(tx, a, nil)
			if err != nil {
				return err
			}
			c, held, holder, err := s.verifiable(tx, org, p.Challenge.ID, p.AcknowledgeTakeover)
			if err != nil {
				return err
			}
			if c.Token != p.Challenge.Token {
				return ErrChallengeNotFound
			}
			now := s.clock()
			if held != nil {
				if err := s.transfer(tx, *held, *holder, org, now); err != nil {
					return err
				}
			}
			d, err := upsertVerified(tx, org.ID, a.UserID, c, now)
			if err != nil {
				return err
			}
			if err := tx.Where("id = ?", c.ID).Delete(&DomainChallenge{}).Error; err != nil {
				return err
			}
			var from any
			if holder != nil {
				from = holder.ID.String()
			}
			out = Verification{Domain: d, TakeoverFrom: holder}
			return s.audit(tx, org.ID, &a.UserID, EventDomainVerified, "verified_domain", d.ID.String(),
				Metadata{"apex_domain": d.ApexDomain, "method": MethodDNSTXT, "takeover_from_organization_id": from})
		})
	}
	err := attempt()
	if isUniqueViolation(err) {
		// Another organization verified the apex between the holder check
		// and the write (nothing was locked while no one held it): look
		// again, which now sees it as the holder.
		err = attempt()
	}
	return out, err
}

// upsertVerified creates the organization's row for the apex, or revives
// and refreshes the existing one (keeping its id, so its redirect URIs
// come back into force).
func upsertVerified(tx *gorm.DB, orgID, by uuid.UUID, c DomainChallenge, now time.Time) (VerifiedDomain, error) {
	var d VerifiedDomain
	err := tx.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate}).
		Where("organization_id = ? AND apex_domain = ?", orgID, c.ApexDomain).Take(&d).Error
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		d = VerifiedDomain{ID: uuid.New(), OrganizationID: orgID, ApexDomain: c.ApexDomain, VerifiedAt: now, VerifiedVia: MethodDNSTXT,
			VerifiedBy: &by, RecheckToken: c.Token, LastCheckedAt: &now, RecheckAttemptedAt: &now, CreatedAt: now, UpdatedAt: now}
		return d, tx.Create(&d).Error
	case err != nil:
		return d, err
	}
	d.VerifiedAt, d.VerifiedVia, d.VerifiedBy, d.RecheckToken, d.LastCheckedAt, d.RecheckAttemptedAt = now, MethodDNSTXT, &by, c.Token, &now, &now
	d.ConsecutiveFailedChecks, d.DowngradedAt, d.UpdatedAt = 0, nil, now
	return d, tx.Model(&VerifiedDomain{}).Where("id = ?", d.ID).Updates(map[string]any{
		"verified_at": now, "verified_via": MethodDNSTXT, "verified_by": by, "recheck_token": c.Token, "last_checked_at": now, "recheck_attempted_at": now,
		"consecutive_failed_checks": 0, "downgraded_at": nil, "updated_at": now,
	}).Error
}

// transfer downgrades the previous holder's row in a takeover, and tells
// the losing organization: an audit row in its log (a system event: the
// winner's people are not its members) and mail to its active owners.
func (s *Store) transfer(tx *gorm.DB, held VerifiedDomain, loser OrgRef, winner Organization, now time.Time) error {
	if err := tx.Model(&VerifiedDomain{}).Where("id = ?", held.ID).
		Updates(map[string]any{"downgraded_at": now, "updated_at": now}).Error; err != nil {
		return err
	}
	if err := s.audit(tx, loser.ID, nil, EventDomainTransferred, "verified_domain", held.ID.String(), Metadata{
		"apex_domain": held.ApexDomain, "to_organization_id": winner.ID.String(), "to_organization_name": winner.Name,
	}); err != nil {
		return err
	}
	return s.notifyOwners(tx, loser.ID, NoticeDomainTransferred, map[string]string{
		"apex_domain": held.ApexDomain, "organization_name": loser.Name, "to_organization_name": winner.Name,
	})
}

// ListDomains lists the active organization's verified domains (downgraded
// ones included, newest verification first) and its unexpired challenges
// (newest first), for any active member.
func (s *Store) ListDomains(ctx context.Context, a Actor) ([]VerifiedDomain, []DomainChallenge, error) {
	var ds []VerifiedDomain
	var cs []DomainChallenge
	err := s.read(ctx, func(db *gorm.DB) error {
		orgID, err := memberScope(db, a)
		if err != nil {
			return err
		}
		if err := db.Where("organization_id = ?", orgID).Order("verified_at DESC, id DESC").Find(&ds).Error; err != nil {
			return err
		}
		return db.Where("organization_id = ? AND expires_at > ?", orgID, s.clock()).Order("created_at DESC, id DESC").Find(&cs).Error
	})
	return ds, cs, err
}

// DeleteDomain hard-deletes one of the active organization's verified
// domains, active or downgraded, with its redirect URIs (cascade).
// ErrDomainNotFound when it is not the organization's. A previous holder's
// downgraded row is not revived.
func (s *Store) DeleteDomain(ctx context.Context, a Actor, id uuid.UUID) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		org, err := ownerScope(tx, a, nil)
		if err != nil {
			return err
		}
		var d VerifiedDomain
		err = tx.Where("id = ? AND organization_id = ?", id, org.ID).Take(&d).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return ErrDomainNotFound
		}
		if err != nil {
			return err
		}
		var uris int64
		if err := tx.Model(&RedirectURI{}).Where("verified_domain_id = ?", d.ID).Count(&uris).Error; err != nil {
			return err
		}
		if err := tx.Where("id = ?", d.ID).Delete(&VerifiedDomain{}).Error; err != nil {
			return err
		}
		return s.audit(tx, org.ID, &a.UserID, EventDomainRemoved, "verified_domain", d.ID.String(),
			Metadata{"apex_domain": d.ApexDomain, "redirect_uris_removed": uris})
	})
}
