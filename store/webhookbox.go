package store

import (
	"context"
	"fmt"
	"sync"

	"gorm.io/gorm"

	"github.com/kayle-id/orgs-api/webhooks"
)

// boxCache holds the webhook data key's SecretBox once built.
type boxCache struct {
	mu  sync.Mutex
	box *webhooks.SecretBox
}

// webhookBox seals what the webhook pipeline keeps secret at rest (signing
// secrets, held payloads): under Options.WebhookSecretKey, or, when none is
// configured, a key derived from the API keys' HMAC secret (HKDF with a
// label of its own, so the HMAC key never doubles as the data key).
func (s *Store) webhookBox(ctx context.Context) (*webhooks.SecretBox, error) {
	c := &s.box
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.box != nil {
		return c.box, nil
	}
	material := s.webhookKey
	if len(material) == 0 {
		secret, _, err := s.authSecret(ctx)
		if err != nil {
			return nil, err
		}
		material = secret
	}
	box, err := webhooks.NewSecretBox(material, s.webhookKeysOld...)
	if err != nil {
		return nil, err
	}
	if s.webhookUpstream != "" {
		box.AcceptUpstream(s.webhookUpstream)
	}
	c.box = box
	return box, nil
}

// ResealResult counts what ResealWebhookSecrets rewrote.
type ResealResult struct {
	Secrets, HeldPayloads int
}

// ResealWebhookSecrets seals anew, under the current data key, every
// signing secret and held payload still sealed under an old one (after a
// rotation of Options.WebhookSecretKey), a batch per transaction. A value
// no configured key opens is an error naming its row: nothing is lost by
// running it, and it can be run again.
func (s *Store) ResealWebhookSecrets(ctx context.Context) (ResealResult, error) {
	box, err := s.webhookBox(ctx)
	if err != nil {
		return ResealResult{}, err
	}
	var res ResealResult
	reseal := func(table, column string, count *int) error {
		after := ""
		for {
			var rows []struct {
				ID    string
				Value string
			}
			err := s.read(ctx, func(db *gorm.DB) error {
				return db.Table(table).Select("id, "+column+" AS value").
					Where(column+" IS NOT NULL AND id > ?", after).Order("id").Limit(500).Scan(&rows).Error
			})
			if err != nil || len(rows) == 0 {
				return err
			}
			err = s.tx(ctx, func(tx *gorm.DB) error {
				for _, r := range rows {
					plain, stale, err := box.Open(r.Value)
					if err != nil {
						return fmt.Errorf("store: %s %s: %w", table, r.ID, err)
					}
					if !stale {
						continue
					}
					sealed, err := box.Seal(plain)
					if err != nil {
						return err
					}
					// Only if unchanged meanwhile (a rotation wrote a new one).
					u := tx.Table(table).Where("id = ? AND "+column+" = ?", r.ID, r.Value).Update(column, sealed)
					if u.Error != nil {
						return u.Error
					}
					*count += int(u.RowsAffected)
				}
				return nil
			})
			if err != nil {
				return err
			}
			after = rows[len(rows)-1].ID
		}
	}
	if err := reseal("webhook_endpoints", "signing_secret_ciphertext", &res.Secrets); err != nil {
		return res, err
	}
	err = reseal("webhook_deliveries", "held_payload", &res.HeldPayloads)
	return res, err
}
