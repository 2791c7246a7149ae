package store

import (
	"context"
	"errors"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/kayle-id/orgs-api/domains"
	"github.com/kayle-id/orgs-api/sessions"
)

// TEMPORARY stand-ins for the rules branch's CheckSessionRedirect(Tx),
// deleted when `rules` is merged.

func (s *Store) CheckSessionRedirect(ctx context.Context, orgID uuid.UUID, r domains.Redirect, production bool) (string, error) {
	var out string
	err := s.read(ctx, func(db *gorm.DB) (err error) {
		out, err = CheckSessionRedirectTx(db, orgID, r, production)
		return err
	})
	return out, err
}

func CheckSessionRedirectTx(tx *gorm.DB, orgID uuid.UUID, r domains.Redirect, production bool) (string, error) {
	const docs = "https://kayle.id/docs/api/sessions#create"
	if !production && (r.Host.Name == "localhost" || r.Host.Name == "127.0.0.1") {
		return r.URL, nil
	}
	var d VerifiedDomain
	err := tx.Where("organization_id = ? AND apex_domain = ? AND downgraded_at IS NULL", orgID, r.Host.Apex).Take(&d).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return "", &sessions.Error{Code: "REDIRECT_URL_DOMAIN_NOT_VERIFIED", Message: "Redirect URL host is not on a verified domain for this organization.", Hint: "stub", Docs: docs}
	}
	if err != nil {
		return "", err
	}
	var patterns []string
	if err := tx.Model(&RedirectURI{}).Where("verified_domain_id = ?", d.ID).Pluck("pattern", &patterns).Error; err != nil {
		return "", err
	}
	ok := len(patterns) == 0
	for _, p := range patterns {
		ok = ok || domains.Covers(p, r)
	}
	if !ok {
		return "", &sessions.Error{Code: "REDIRECT_URL_PATTERN_NOT_REGISTERED", Message: "Redirect URL host is on a verified domain but does not match any registered redirect URI pattern.", Hint: "stub", Docs: docs}
	}
	return r.URL, nil
}
