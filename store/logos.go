package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/kayle-id/orgs-api/logo"
)

// Logos live in object storage; organization rows hold their URL. The
// upload itself happens outside the store (it is an outbound call, made
// with no transaction open): CheckLogoUpload before it, RecordLogoUpload
// after.

// CheckLogoUpload says whether the caller may upload a logo for the active
// organization: an active owner or admin (ErrForbidden, also without a
// selected organization), of an organization not scheduled for deletion
// (ErrOrganizationFrozen), in that order.
func (s *Store) CheckLogoUpload(ctx context.Context, a Actor) error {
	if a.ActiveOrganizationID == nil {
		return ErrForbidden
	}
	return s.read(ctx, func(db *gorm.DB) error {
		sc, err := readAdminScope(db, a)
		if err != nil {
			return err
		}
		return sc.roleThenFrozen(Role.CanManage)
	})
}

// RecordLogoUpload records the upload of logo object id (not in use yet,
// deleted after the grace period unless an update names it), checking again
// under the organization's lock that the caller may still upload. It writes
// no audit row: an upload only stores an object, and the organization
// changes (and is audited) when an update sets its logo. An organization
// keeps at most MaxUnusedLogos unused objects within their grace period:
// beyond it the oldest are due at once, and evicted lists them for the
// caller to delete (then ForgetLogos).
func (s *Store) RecordLogoUpload(ctx context.Context, a Actor, id uuid.UUID) (evicted []uuid.UUID, err error) {
	if a.ActiveOrganizationID == nil {
		return nil, ErrForbidden
	}
	err = s.tx(ctx, func(tx *gorm.DB) error {
		evicted = nil
		sc, err := lockAdminScope(tx, a)
		if err != nil {
			return err
		}
		if err := sc.roleThenFrozen(Role.CanManage); err != nil {
			return err
		}
		now := s.clock()
		if err := recordLogo(tx, id, sc.org.ID, false, now.Add(s.grace()), now); err != nil {
			return err
		}
		evicted, err = evictUnusedLogos(tx, sc.org.ID, now)
		return err
	})
	return evicted, err
}

// MaxUnusedLogos is how many logo objects an organization keeps that are
// not its logo (uploads not used yet, logos replaced or cleared within
// their grace period); an upload beyond it evicts the oldest.
const MaxUnusedLogos = 5

// DefaultLogoGrace is how long an unused logo object is kept by default.
const DefaultLogoGrace = 24 * time.Hour

func (s *Store) grace() time.Duration {
	if s.logoGrace > 0 {
		return s.logoGrace
	}
	return DefaultLogoGrace
}

// ErrLogoNotUploaded is a logo that is not one of the organization's
// uploads still kept.
var ErrLogoNotUploaded = errors.New("store: logo is not an upload of this organization")

// evictUnusedLogos makes the organization's unused objects beyond the
// newest MaxUnusedLogos due now, and lists them.
func evictUnusedLogos(tx *gorm.DB, org uuid.UUID, now time.Time) ([]uuid.UUID, error) {
	var ids []uuid.UUID
	if err := tx.Raw(`SELECT id FROM logo_objects WHERE organization_id = ? AND NOT in_use AND claimed_at IS NULL AND delete_after > ?
		ORDER BY created_at DESC, id DESC LIMIT 1000 OFFSET ?`, org, now, MaxUnusedLogos).Scan(&ids).Error; err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, nil
	}
	return ids, tx.Exec(`UPDATE logo_objects SET delete_after = ? WHERE id IN ?`, now, ids).Error
}

// useLogo makes object id (nil: none) the organization's logo: it must be
// one of the organization's objects, in use or within its grace period and
// not taken by the cleanup (else ErrLogoNotUploaded). The logo it replaces
// is kept for the grace period.
func (s *Store) useLogo(tx *gorm.DB, org, id uuid.UUID, now time.Time) error {
	if id != uuid.Nil {
		lock := ""
		if s.dialect == Postgres {
			lock = " FOR UPDATE" // against the cleanup's claim
		}
		var found []uuid.UUID
		if err := tx.Raw(`SELECT id FROM logo_objects WHERE id = ? AND organization_id = ? AND claimed_at IS NULL
			AND (in_use OR delete_after > ?)`+lock, id, org, now).Scan(&found).Error; err != nil {
			return err
		}
		if len(found) == 0 {
			return ErrLogoNotUploaded
		}
	}
	if err := tx.Exec(`UPDATE logo_objects SET in_use = FALSE, delete_after = ? WHERE organization_id = ? AND in_use AND id <> ?`,
		now.Add(s.grace()), org, id).Error; err != nil {
		return err
	}
	if id == uuid.Nil {
		return nil
	}
	return tx.Exec(`UPDATE logo_objects SET in_use = TRUE, delete_after = NULL WHERE id = ?`, id).Error
}

// recordNewOrganizationLogo records the logo a new organization is created
// with, in use.
func recordNewOrganizationLogo(tx *gorm.DB, org, id uuid.UUID, now time.Time) error {
	return recordLogo(tx, id, org, true, time.Time{}, now)
}

// ReserveLogo records logo object id before it is written: an upload of no
// organization yet, due for deletion after the grace period. Recording the
// upload takes the reservation over; if the write's answer is lost, or the
// process stops before the upload is recorded, the cleanup job still finds
// the object and deletes it.
func (s *Store) ReserveLogo(ctx context.Context, id uuid.UUID) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		now := s.clock()
		return tx.Exec(`INSERT INTO logo_objects (id, in_use, delete_after, created_at) VALUES (?, FALSE, ?, ?)`, id, now.Add(s.grace()), now).Error
	})
}

// ForgetReservedLogo drops the reservation of an object deleted before its
// upload was recorded.
func (s *Store) ForgetReservedLogo(ctx context.Context, id uuid.UUID) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		return tx.Exec(`DELETE FROM logo_objects WHERE id = ? AND organization_id IS NULL`, id).Error
	})
}

// recordLogo records object id as org's, in use or due at deleteAfter: it
// takes over the object's reservation (ReserveLogo), or makes the row when
// there is none.
func recordLogo(tx *gorm.DB, id, org uuid.UUID, inUse bool, deleteAfter, now time.Time) error {
	var due any // NULL while in use
	if !inUse {
		due = deleteAfter
	}
	res := tx.Exec(`UPDATE logo_objects SET organization_id = ?, in_use = ?, delete_after = ?, created_at = ?
		WHERE id = ? AND organization_id IS NULL AND claimed_at IS NULL`, org, inUse, due, now, id)
	if res.Error != nil || res.RowsAffected > 0 {
		return res.Error
	}
	return tx.Exec(`INSERT INTO logo_objects (id, organization_id, in_use, delete_after, created_at) VALUES (?, ?, ?, ?, ?)`,
		id, org, inUse, due, now).Error
}

// releasePurgedLogos makes every object of the purged organizations due now.
func releasePurgedLogos(tx *gorm.DB, orgs []uuid.UUID, now time.Time) error {
	if len(orgs) == 0 {
		return nil
	}
	return tx.Exec(`UPDATE logo_objects SET in_use = FALSE, delete_after = ? WHERE organization_id IN ? AND (in_use OR delete_after > ?)`,
		now, orgs, now).Error
}

// ClaimDueLogos takes up to limit logo objects whose deletion is due and
// that no pass since before has taken, so that none of them can be put in
// use any more; the caller deletes them from storage, then ForgetLogos. On
// PostgreSQL rows another claimer holds are skipped.
func (s *Store) ClaimDueLogos(ctx context.Context, before time.Time, limit int) ([]uuid.UUID, error) {
	var ids []uuid.UUID
	err := s.tx(ctx, func(tx *gorm.DB) error {
		ids = nil
		now := s.clock()
		claim := ""
		if s.dialect == Postgres {
			claim = " FOR UPDATE SKIP LOCKED"
		}
		if err := tx.Raw(`SELECT id FROM logo_objects WHERE NOT in_use AND delete_after <= ? AND (claimed_at IS NULL OR claimed_at < ?)
			ORDER BY delete_after LIMIT ?`+claim, now, before.UTC(), limit).Scan(&ids).Error; err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		return tx.Exec(`UPDATE logo_objects SET claimed_at = ? WHERE id IN ?`, now, ids).Error
	})
	return ids, err
}

// ForgetLogos drops the rows of logo objects deleted from storage.
func (s *Store) ForgetLogos(ctx context.Context, ids []uuid.UUID) error {
	if len(ids) == 0 {
		return nil
	}
	return s.tx(ctx, func(tx *gorm.DB) error {
		return tx.Exec(`DELETE FROM logo_objects WHERE id IN ? AND NOT in_use AND delete_after <= ?`, ids, s.clock()).Error
	})
}

// OrganizationChange is a partial update of an organization's public
// details. Logo is a URL the caller has already checked is one of the
// server's uploads; a nil Value clears it.
type OrganizationChange struct {
	// OrganizationID names the organization to update; nil means the
	// session's active one.
	OrganizationID *uuid.UUID
	Name           *string
	Slug           *string
	Logo           Field
	// LogoID is the object the Logo URL names (set with a non-empty Value).
	LogoID uuid.UUID
	// Metadata, when non-nil, replaces the whole stored metadata (see
	// orgmeta.go); an empty map wipes it to {}.
	Metadata map[string]any
}

// updateColumns are the columns UpdateOrganization reads and answers.
var updateColumns = []string{"name", "slug", "logo", "created_at", "metadata"}

// UpdateOrganization changes an organization's name, slug, logo or
// metadata (owner/admin). The organization is the one named, or else the
// session's active one. Checks, in upstream's order: a selected
// organization (ErrNoActiveOrganization) or, for a named one, an active
// membership of it (ErrOrganizationNotFound otherwise, so that a stranger
// learns nothing); not frozen; an owner or admin; the slug's form and that
// no other organization holds it (ErrSlugTaken); the name; the logo; the
// metadata (*MetadataError); at least one field. An update that changes
// something writes one audit row, in its transaction, naming the fields
// whose value changed (a logo set or cleared included) and, for metadata,
// the keys that changed, never their values; one that changes nothing
// writes nothing.
func (s *Store) UpdateOrganization(ctx context.Context, a Actor, ch OrganizationChange) (Organization, error) {
	var out Organization
	err := s.tx(ctx, func(tx *gorm.DB) error {
		var sc adminScope
		var err error
		if ch.OrganizationID != nil {
			sc, err = lockNamedAdminScope(tx, a, *ch.OrganizationID, updateColumns...)
		} else {
			sc, err = lockAdminScope(tx, a, updateColumns...)
		}
		if err != nil {
			return err
		}
		if err := sc.frozenThenRole(Role.CanManage); err != nil {
			return err
		}
		set, fields, meta, err := ch.changes(tx, sc.org)
		if err != nil {
			return err
		}
		if slices.Contains(fields, "logo") {
			id := uuid.Nil
			if v := ch.Logo.Value; v != nil && *v != "" {
				id = ch.LogoID
			}
			if err := s.useLogo(tx, sc.org.ID, id, s.clock()); err != nil {
				return err
			}
		}
		if len(set) > 0 {
			if err := tx.Model(&Organization{}).Where("id = ?", sc.org.ID).Updates(set).Error; err != nil {
				if isUniqueViolation(err) {
					return ErrSlugTaken
				}
				return err
			}
		}
		if err := tx.Select(append([]string{"id"}, updateColumns...)).Where("id = ?", sc.org.ID).Take(&out).Error; err != nil {
			return err
		}
		if len(fields) == 0 {
			return nil
		}
		m := Metadata{"updated_fields": fields}
		if meta != nil {
			m["updated_metadata_keys"] = meta
		}
		return s.audit(tx, sc.org.ID, &a.UserID, EventPublicDetailsUpdated, "organization", sc.org.ID.String(), m)
	})
	return out, err
}

// changes checks the sent fields against upstream's rules, in its order,
// and returns the columns to set, the fields (in the order name, slug,
// logo, metadata) whose value differs from cur's, and the metadata keys
// that change (non-nil when metadata does).
func (ch OrganizationChange) changes(tx *gorm.DB, cur Organization) (map[string]any, []string, []string, error) {
	if ch.Name == nil && ch.Slug == nil && !ch.Logo.Set && ch.Metadata == nil {
		return nil, nil, nil, invalid("send at least one of name, slug, logo or metadata.")
	}
	set := map[string]any{}
	var name, logoURL, meta *string
	if ch.Slug != nil {
		if err := checkSlug(*ch.Slug); err != nil {
			return nil, nil, nil, err
		}
		var taken int64
		if err := tx.Model(&Organization{}).Where("slug = ? AND id <> ?", *ch.Slug, cur.ID).Limit(1).Count(&taken).Error; err != nil {
			return nil, nil, nil, err
		}
		if taken > 0 {
			return nil, nil, nil, ErrSlugTaken
		}
		set["slug"] = *ch.Slug
	}
	if ch.Name != nil {
		n, err := cleanOrganizationName(*ch.Name)
		if err != nil {
			return nil, nil, nil, err
		}
		name, set["name"] = &n, n
	}
	if ch.Logo.Set {
		logoURL = ch.Logo.Value
		if logoURL != nil && *logoURL == "" {
			logoURL = nil
		}
		if logoURL != nil {
			if err := checkLogoURL(*logoURL); err != nil {
				return nil, nil, nil, err
			}
		}
		set["logo"], set["logo_content_type"] = logoURL, nil
	}
	if ch.Metadata != nil {
		m, err := normalizeMetadata(ch.Metadata)
		if err != nil {
			return nil, nil, nil, err
		}
		meta, set["metadata"] = &m, m
	}
	var fields, metaKeys []string
	if name != nil && *name != cur.Name {
		fields = append(fields, "name")
	}
	if ch.Slug != nil && *ch.Slug != cur.Slug {
		fields = append(fields, "slug")
	}
	if ch.Logo.Set && !samePtr(logoURL, cur.Logo) {
		fields = append(fields, "logo")
	}
	if meta != nil && !samePtr(meta, cur.Metadata) {
		fields = append(fields, "metadata")
		metaKeys = changedMetadataKeys(cur.Metadata, *meta)
		if metaKeys == nil {
			metaKeys = []string{} // the text changed, no allowed key did (stored keys upstream no longer allows)
		}
	}
	if len(fields) == 0 {
		// Nothing changes: nothing is written (a legacy logo included,
		// which only a change moves).
		return nil, nil, nil, nil
	}
	return set, fields, metaKeys, nil
}

func samePtr(a, b *string) bool { return a == nil && b == nil || a != nil && b != nil && *a == *b }

// LogoMover stores a logo that an older version kept in its organization's
// row, under a key derived from key, and returns its URL.
type LogoMover func(ctx context.Context, key uuid.UUID, data []byte, contentType string) (url string, err error)

// legacyLogoSpace derives the object key of a moved logo from its
// organization's id, so that replicas moving the same row at once, or a
// move retried after a crash, write the same object.
var legacyLogoSpace = uuid.MustParse("6d3f1c8e-2b7a-4e1f-9c55-0a8b7d2e4f61")

// legacyLogo is an organization row still holding its logo image.
type legacyLogo struct {
	ID              uuid.UUID
	Logo            *string
	LogoContentType *string
}

// LegacyLogosPending reports whether organization rows still hold logo
// images rather than URLs.
func (s *Store) LegacyLogosPending(ctx context.Context) (bool, error) {
	var ids []string
	err := s.read(ctx, func(db *gorm.DB) error {
		return db.Model(&Organization{}).Where("logo_content_type IS NOT NULL").Limit(1).Pluck("id", &ids).Error
	})
	return len(ids) > 0, err
}

// LogoMoveResult counts what MoveLegacyLogos did.
type LogoMoveResult struct {
	Moved   int
	Dropped int // held data that was not base64 at all: cleared
}

// MoveLegacyLogos moves every logo still held in an organization row to
// object storage (through move) and puts its URL in the row. Each upload
// runs with no transaction open; each row is then updated only if it still
// holds the same image, so concurrent movers and concurrent updates are
// safe. Bytes are moved as they are, with the type their first bytes say
// (else the declared one).
func (s *Store) MoveLegacyLogos(ctx context.Context, move LogoMover) (LogoMoveResult, error) {
	var res LogoMoveResult
	if move == nil {
		return res, errors.New("store: legacy logos need object storage to move to")
	}
	for {
		var batch []legacyLogo
		err := s.read(ctx, func(db *gorm.DB) error {
			return db.Model(&Organization{}).Select("id", "logo", "logo_content_type").
				Where("logo_content_type IS NOT NULL").Order("id").Limit(10).Find(&batch).Error
		})
		if err != nil || len(batch) == 0 {
			return res, err
		}
		for _, row := range batch {
			var url *string
			data, ok := []byte(nil), false
			if row.Logo != nil {
				data, ok = logo.DecodeBase64(*row.Logo)
			}
			if ok && len(data) > 0 {
				ct := logo.Sniff(data)
				if ct == "" {
					ct = *row.LogoContentType
				}
				u, err := move(ctx, uuid.NewSHA1(legacyLogoSpace, row.ID[:]), data, ct)
				if err != nil {
					return res, fmt.Errorf("store: moving the logo of organization %s: %w", row.ID, err)
				}
				url = &u
			}
			err := s.tx(ctx, func(tx *gorm.DB) error {
				q := tx.Model(&Organization{}).Where("id = ? AND logo_content_type IS NOT NULL", row.ID)
				if row.Logo == nil {
					q = q.Where("logo IS NULL")
				} else {
					q = q.Where("logo = ?", *row.Logo)
				}
				upd := q.Updates(map[string]any{"logo": url, "logo_content_type": nil})
				if upd.Error != nil || upd.RowsAffected == 0 {
					return upd.Error
				}
				if url != nil {
					res.Moved++
					// The moved object is the organization's logo.
					return tx.Exec(`INSERT INTO logo_objects (id, organization_id, in_use, created_at) VALUES (?, ?, TRUE, ?) ON CONFLICT (id) DO NOTHING`,
						uuid.NewSHA1(legacyLogoSpace, row.ID[:]), row.ID, s.clock()).Error
				} else {
					res.Dropped++
				}
				return nil
			})
			if err != nil {
				return res, err
			}
		}
	}
}
