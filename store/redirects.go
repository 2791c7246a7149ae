package store

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/kayle-id/orgs-api/domains"
	"github.com/kayle-id/orgs-api/sessions"
)

// RedirectURI is a pattern narrowing where an organization's sessions may
// redirect, on one of its verified domains. Pattern is stored normalised
// (domains.ParsePattern).
type RedirectURI struct {
	ID               uuid.UUID
	OrganizationID   uuid.UUID
	VerifiedDomainID uuid.UUID
	Pattern          string
	CreatedAt        time.Time
	CreatedBy        *uuid.UUID
}

// TableName pins GORM to the migrated table.
func (RedirectURI) TableName() string { return "redirect_uris" }

// RedirectURIView is a redirect URI with its domain's apex.
type RedirectURIView struct {
	RedirectURI
	ApexDomain string
}

// ListRedirectURIs lists the active organization's redirect URIs, newest
// first, downgraded domains' included, for any active member.
func (s *Store) ListRedirectURIs(ctx context.Context, a Actor) ([]RedirectURIView, error) {
	var out []RedirectURIView
	err := s.read(ctx, func(db *gorm.DB) error {
		orgID, err := memberScope(db, a)
		if err != nil {
			return err
		}
		return db.Table("redirect_uris r").Select("r.*, d.apex_domain").
			Joins("JOIN verified_domains d ON d.id = r.verified_domain_id").
			Where("r.organization_id = ?", orgID).Order("r.created_at DESC, r.id DESC").Find(&out).Error
	})
	return out, err
}

// AddRedirectURI registers a pattern on the active verified domain of the
// active organization that covers its host. Errors, in upstream's order:
// *domains.PatternError, ErrNoActiveOrganization, ErrOrganizationFrozen,
// *domains.HostError, ErrForbidden (not an active owner),
// ErrNoVerifiedDomain, then ErrRedirectURILimit. A pattern already
// registered (once normalised) is returned as it is, with created false.
func (s *Store) AddRedirectURI(ctx context.Context, a Actor, pattern string) (RedirectURIView, bool, error) {
	var out RedirectURIView
	created := false
	r, perr := domains.ParsePattern(pattern)
	var pe *domains.PatternError
	if errors.As(perr, &pe) {
		return out, false, perr
	}
	err := s.tx(ctx, func(tx *gorm.DB) error {
		org, err := ownerScope(tx, a, func() error { return perr })
		if err != nil {
			return err
		}
		var d VerifiedDomain
		err = tx.Where("organization_id = ? AND apex_domain = ? AND downgraded_at IS NULL", org.ID, r.Host.Apex).Take(&d).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return ErrNoVerifiedDomain
		}
		if err != nil {
			return err
		}
		out.ApexDomain = d.ApexDomain
		err = tx.Where("verified_domain_id = ? AND pattern = ?", d.ID, r.URL).Take(&out.RedirectURI).Error
		if err == nil {
			return nil
		}
		if !errors.Is(err, gorm.ErrRecordNotFound) {
			return err
		}
		var n int64
		if err := tx.Model(&RedirectURI{}).Where("organization_id = ?", org.ID).Count(&n).Error; err != nil {
			return err
		}
		if n >= domains.MaxRedirectURIs {
			return ErrRedirectURILimit
		}
		out.RedirectURI = RedirectURI{ID: uuid.New(), OrganizationID: org.ID, VerifiedDomainID: d.ID, Pattern: r.URL,
			CreatedAt: s.clock(), CreatedBy: &a.UserID}
		if err := tx.Create(&out.RedirectURI).Error; err != nil {
			return err
		}
		created = true
		return s.audit(tx, org.ID, &a.UserID, EventRedirectURIAdded, "redirect_uri", out.ID.String(),
			Metadata{"pattern": r.URL, "apex_domain": d.ApexDomain, "verified_domain_id": d.ID.String()})
	})
	return out, created, err
}

// DeleteRedirectURI removes one of the active organization's redirect
// URIs, whatever its domain's state. ErrRedirectURINotFound when it is not
// the organization's.
func (s *Store) DeleteRedirectURI(ctx context.Context, a Actor, id uuid.UUID) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		org, err := ownerScope(tx, a, nil)
		if err != nil {
			return err
		}
		var r RedirectURI
		err = tx.Where("id = ? AND organization_id = ?", id, org.ID).Take(&r).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return ErrRedirectURINotFound
		}
		if err != nil {
			return err
		}
		if err := tx.Where("id = ?", r.ID).Delete(&RedirectURI{}).Error; err != nil {
			return err
		}
		return s.audit(tx, org.ID, &a.UserID, EventRedirectURIRemoved, "redirect_uri", r.ID.String(), Metadata{"pattern": r.Pattern})
	})
}

// RedirectAllowed reports whether an organization's sessions may redirect
// to target, as CheckSessionRedirect decides in production.
func (s *Store) RedirectAllowed(ctx context.Context, orgID uuid.UUID, target string) (bool, error) {
	r, err := domains.ParseSessionRedirect(target, true)
	if err != nil {
		return false, nil
	}
	_, err = s.CheckSessionRedirect(ctx, orgID, r, true)
	var refused *sessions.Error
	if errors.As(err, &refused) {
		return false, nil
	}
	return err == nil, err
}

// CheckSessionRedirect checks a parsed session redirect against the
// organization's active verified domains and patterns; returns the
// normalised URL to store, or *sessions.Error (INVALID_REDIRECT_URL,
// REDIRECT_URL_DOMAIN_NOT_VERIFIED, REDIRECT_URL_PATTERN_NOT_REGISTERED).
// Loopback hosts pass without a domain only when !production.
func (s *Store) CheckSessionRedirect(ctx context.Context, orgID uuid.UUID, r domains.Redirect, production bool) (string, error) {
	var out string
	err := s.read(ctx, func(db *gorm.DB) error {
		var err error
		out, err = CheckSessionRedirectTx(db, orgID, r, production)
		return err
	})
	return out, err
}

// CheckSessionRedirectTx is CheckSessionRedirect inside a transaction the
// caller holds, in upstream's steps (behaviour-sessions.md 5.4).
func CheckSessionRedirectTx(tx *gorm.DB, orgID uuid.UUID, r domains.Redirect, production bool) (string, error) {
	// Parsed again with the schema's rule, so a Redirect not made by
	// ParseSessionRedirect (or made for the other mode) cannot slip by.
	r, err := domains.ParseSessionRedirect(r.URL, production)
	if err != nil {
		return "", sessions.ErrInvalidRedirectURL(sessions.MsgRedirectNotHTTPS)
	}
	host := r.Hostname
	if !production && domains.IsLoopbackHost(host) {
		// Local development: no domain can be verified for these.
		return r.URL, nil
	}
	if _, err := domains.ParseHost(host); err != nil {
		var he *domains.HostError
		if errors.As(err, &he) {
			return "", sessions.ErrInvalidRedirectURL(he.Message)
		}
		return "", err
	}
	var active []VerifiedDomain
	if err := tx.Where("organization_id = ? AND downgraded_at IS NULL", orgID).Order("created_at, id").Find(&active).Error; err != nil {
		return "", err
	}
	// The host as parsed, not as ParseHost tidied it: a trailing dot
	// matches no domain.
	i := slices.IndexFunc(active, func(d VerifiedDomain) bool {
		return host == d.ApexDomain || strings.HasSuffix(host, "."+d.ApexDomain)
	})
	if i < 0 {
		return "", sessions.ErrRedirectDomainNotVerified()
	}
	var patterns []string
	if err := tx.Model(&RedirectURI{}).Where("verified_domain_id = ?", active[i].ID).Pluck("pattern", &patterns).Error; err != nil {
		return "", err
	}
	if len(patterns) > 0 && !slices.ContainsFunc(patterns, func(p string) bool { return strings.HasPrefix(r.URL, p) }) {
		return "", sessions.ErrRedirectPatternNotRegistered()
	}
	return r.URL, nil
}
