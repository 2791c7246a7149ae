package store

import (
	"context"
	"sync"

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
	c.box = box
	return box, nil
}
