package store

import (
	"context"
	"encoding/json"
	"errors"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/kayle-id/orgs-api/webhooks"
)

// Webhook encryption keys: the customers' public RSA keys, at most one
// active per endpoint (a partial unique index). Creating and reactivating a
// key take the endpoint's row lock (SQLite: the write transaction), so two
// at once leave exactly one active; only the key that was active gets a
// disabled_at (upstream overwrites every older key's).

// NewWebhookKey is a key as the request sent it.
type NewWebhookKey struct {
	KeyID     string
	Algorithm string
	KeyType   string
	JWK       json.RawMessage
}

// CreateWebhookKey adds a key to one of the organization's endpoints and
// makes it the active one. ErrNotFound before the JWK is looked at, then
// ErrWebhookKeyRejected (upstream's checks, webhooks.CheckJWK), then
// ErrWebhookKeyLimit at MaxWebhookKeysPerEndpoint.
func (s *Store) CreateWebhookKey(ctx context.Context, c RPCaller, endpointID string, in NewWebhookKey) (WebhookKey, error) {
	id, err := webhooks.NewID(webhooks.KeyIDPrefix, webhooks.ShortIDChars)
	if err != nil {
		return WebhookKey{}, err
	}
	var out WebhookKey
	err = s.webhookWrite(ctx, c, func(tx *gorm.DB) error {
		if _, err := lockEndpoint(tx, c.OrganizationID, endpointID); err != nil {
			return err
		}
		if l := utf16Len(in.KeyID); l < 1 || l > 128 || hasC0Control(in.KeyID) {
			return invalid("key_id must be 1 to 128 characters, without control characters.")
		}
		if in.Algorithm != webhooks.KeyAlgorithm || in.KeyType != webhooks.KeyType {
			return invalid("algorithm must be RSA-OAEP-256 and key_type RSA.")
		}
		if err := webhooks.CheckJWKShape(in.JWK); err != nil {
			return invalid("jwk: %s", err.Error())
		}
		jwk, err := webhooks.CheckJWK(in.JWK)
		if err != nil {
			return errors.Join(ErrWebhookKeyRejected, err)
		}
		var n int64
		if err := tx.Model(&WebhookKey{}).Where("webhook_endpoint_id = ?", endpointID).Count(&n).Error; err != nil {
			return err
		}
		if n >= MaxWebhookKeysPerEndpoint {
			return ErrWebhookKeyLimit
		}
		now := s.clock()
		if err := deactivateActive(tx, endpointID, now); err != nil {
			return err
		}
		k := WebhookKey{ID: id, WebhookEndpointID: endpointID, KeyID: in.KeyID, Algorithm: webhooks.KeyAlgorithm,
			KeyType: webhooks.KeyType, JWK: RawJSON(jwk.Normalized()), IsActive: true, CreatedAt: now, UpdatedAt: now}
		if err := tx.Create(&k).Error; err != nil {
			return err
		}
		if err := s.releaseHeld(tx, endpointID, k); err != nil {
			return err
		}
		out = k
		return s.webhookAudit(tx, c, EventWebhookKeyCreated, targetWebhookKey, k.ID,
			Metadata{"webhook_endpoint_id": endpointID, "key_id": k.KeyID})
	})
	return out, err
}

// deactivateActive takes the endpoint's active key out of use (it alone
// gets disabled_at).
func deactivateActive(tx *gorm.DB, endpointID string, now any) error {
	return tx.Model(&WebhookKey{}).Where("webhook_endpoint_id = ? AND is_active = ?", endpointID, true).
		Updates(map[string]any{"is_active": false, "disabled_at": now, "updated_at": now}).Error
}

// ListWebhookKeys lists an endpoint's keys by id ascending, as upstream
// (starting_after is a plain id bound, which need not exist). An endpoint
// that is not the organization's has no keys to show: an empty page, as
// upstream (the operation documents no 404).
func (s *Store) ListWebhookKeys(ctx context.Context, c RPCaller, endpointID string, active *bool, p Page) ([]WebhookKey, bool, error) {
	p = p.clamped()
	var rows []WebhookKey
	err := s.read(ctx, func(db *gorm.DB) error {
		q := db.Table("webhook_encryption_keys AS k").Select("k.*").
			Joins("JOIN webhook_endpoints e ON e.id = k.webhook_endpoint_id").
			Where("k.webhook_endpoint_id = ? AND e.organization_id = ?", endpointID, c.OrganizationID)
		if active != nil {
			q = q.Where("k.is_active = ?", *active)
		}
		if p.StartingAfter != "" {
			q = q.Where("k.id > ?", p.StartingAfter)
		}
		return q.Order("k.id ASC").Limit(p.Limit + 1).Find(&rows).Error
	})
	if err != nil {
		return nil, false, err
	}
	rows, more := trimPage(rows, p.Limit)
	return rows, more, nil
}

// orgKey reads a key whose endpoint is the organization's, locking the
// endpoint's row on PostgreSQL (the key activity lock).
func orgKey(tx *gorm.DB, c RPCaller, keyID string) (WebhookKey, error) {
	var k WebhookKey
	err := tx.Table("webhook_encryption_keys AS k").Select("k.*").
		Joins("JOIN webhook_endpoints e ON e.id = k.webhook_endpoint_id").
		Where("k.id = ? AND e.organization_id = ?", keyID, c.OrganizationID).Take(&k).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return k, ErrNotFound
	}
	if err != nil {
		return k, err
	}
	if _, err := lockEndpoint(tx, c.OrganizationID, k.WebhookEndpointID); err != nil {
		return k, err
	}
	// Read again under the lock: another activation may have committed
	// between the first read and the lock.
	err = tx.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate}).Where("id = ?", keyID).Take(&k).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return k, ErrNotFound
	}
	return k, err
}

// DeactivateWebhookKey takes a key out of use; the endpoint then has no
// active key (its new deliveries are held, see the pipeline). A key
// already inactive keeps its disabled_at. ErrNotFound.
func (s *Store) DeactivateWebhookKey(ctx context.Context, c RPCaller, keyID string) (WebhookKey, error) {
	var out WebhookKey
	err := s.webhookWrite(ctx, c, func(tx *gorm.DB) error {
		k, err := orgKey(tx, c, keyID)
		if err != nil {
			return err
		}
		was := k.IsActive
		if was {
			now := s.clock()
			if err := tx.Model(&WebhookKey{}).Where("id = ?", k.ID).
				Updates(map[string]any{"is_active": false, "disabled_at": now, "updated_at": now}).Error; err != nil {
				return err
			}
			k.IsActive, k.DisabledAt, k.UpdatedAt = false, &now, now
		}
		out = k
		return s.webhookAudit(tx, c, EventWebhookKeyDeactivated, targetWebhookKey, k.ID,
			Metadata{"webhook_endpoint_id": k.WebhookEndpointID, "was_active": was})
	})
	return out, err
}

// ReactivateWebhookKey makes a key its endpoint's active one again (the
// active one, if another, is deactivated first). Reactivating the active
// key changes nothing. ErrNotFound.
func (s *Store) ReactivateWebhookKey(ctx context.Context, c RPCaller, keyID string) (WebhookKey, error) {
	var out WebhookKey
	err := s.webhookWrite(ctx, c, func(tx *gorm.DB) error {
		k, err := orgKey(tx, c, keyID)
		if err != nil {
			return err
		}
		was := k.IsActive
		if !was {
			now := s.clock()
			if err := deactivateActive(tx, k.WebhookEndpointID, now); err != nil {
				return err
			}
			if err := tx.Model(&WebhookKey{}).Where("id = ?", k.ID).
				Updates(map[string]any{"is_active": true, "disabled_at": nil, "updated_at": now}).Error; err != nil {
				return err
			}
			k.IsActive, k.DisabledAt, k.UpdatedAt = true, nil, now
			if err := s.releaseHeld(tx, k.WebhookEndpointID, k); err != nil {
				return err
			}
		}
		out = k
		return s.webhookAudit(tx, c, EventWebhookKeyReactivated, targetWebhookKey, k.ID,
			Metadata{"webhook_endpoint_id": k.WebhookEndpointID, "was_active": was})
	})
	return out, err
}
