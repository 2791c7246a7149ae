package store

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/kayle-id/orgs-api/webhooks"
)

// Webhook endpoints: create, read, list, update, delete, and the signing
// secret's reveal and rotation. Every write runs in one transaction with
// its audit row, refused for a frozen organization.

// Webhook audit events. The four endpoint ones are upstream's; the others
// are ours (upstream audits neither reveal, key changes, retry nor replay).
const (
	EventWebhookEndpointCreated   = "webhook_endpoint.created"
	EventWebhookEndpointUpdated   = "webhook_endpoint.updated"
	EventWebhookEndpointDeleted   = "webhook_endpoint.deleted"
	EventWebhookSecretRotated     = "webhook_endpoint.signing_secret.rotated"
	EventWebhookSecretRevealed    = "webhook_endpoint.signing_secret.revealed"
	EventWebhookKeyCreated        = "webhook_key.created"
	EventWebhookKeyDeactivated    = "webhook_key.deactivated"
	EventWebhookKeyReactivated    = "webhook_key.reactivated"
	EventWebhookDeliveryRetried   = "webhook_delivery.retried"
	EventWebhookEventReplayed     = "webhook_event.replayed"
	targetWebhookEndpoint         = "webhook_endpoint"
	targetWebhookKey              = "webhook_key"
	targetWebhookDelivery         = "webhook_delivery"
	targetWebhookEvent            = "webhook_event"
	webhookEndpointNameMax        = 120
	webhookLabelMax               = 40
	webhookLabelsMax              = 8
	MaxWebhookEndpointsPerOrg     = 25
	MaxWebhookKeysPerEndpoint     = 25
	webhookEndpointDefaultEnabled = true
)

// Errors of the webhook operations.
var (
	ErrWebhookEndpointLimit = errors.New("store: the organization has as many webhook endpoints as allowed")
	ErrWebhookKeyLimit      = errors.New("store: the endpoint has as many encryption keys as allowed")
	ErrWebhookKeyRejected   = errors.New("store: the JWK is not an RSA-OAEP-256 public key")
	// ErrWebhookSecretUnreadable is a stored signing secret that does not
	// open under the configured keys (reveal answers upstream's 500).
	ErrWebhookSecretUnreadable = errors.New("store: the signing secret cannot be decrypted")
	ErrWebhookNothingToUpdate  = errors.New("store: an endpoint update names no field")
)

// WebhookEndpointInput is an endpoint's fields as a create or update sent
// them; nil means absent. On update, NameSet with a nil Name clears it.
type WebhookEndpointInput struct {
	NameSet              bool
	Name                 *string
	Labels               *[]string
	URL                  *string
	Enabled              *bool
	SubscribedEventTypes *[]string
	// RetentionHours is the JSON number as sent.
	RetentionHours *float64
	// AllowLoopback admits localhost receivers (not production).
	AllowLoopback bool
}

func (in WebhookEndpointInput) empty() bool {
	return !in.NameSet && in.Labels == nil && in.URL == nil && in.Enabled == nil &&
		in.SubscribedEventTypes == nil && in.RetentionHours == nil
}

// checked is the input's rules applied, in the schema's field order,
// with the values as stored: name and labels trimmed, event types without
// duplicates (first kept).
func (in WebhookEndpointInput) checked() (WebhookEndpointInput, error) {
	out := in
	if in.NameSet && in.Name != nil {
		n := jsTrim(*in.Name)
		if l := utf16Len(n); l < 1 || l > webhookEndpointNameMax || !webhookText(n) {
			return out, invalid("name must be 1 to %d characters of text after trimming, without control characters.", webhookEndpointNameMax)
		}
		out.Name = &n
	}
	if in.Labels != nil {
		labels, err := checkLabels(*in.Labels)
		if err != nil {
			return out, err
		}
		out.Labels = &labels
	}
	if in.URL != nil {
		if hasC0Control(*in.URL) {
			return out, invalid("url: %s", webhooks.URLMessage)
		}
		if err := webhooks.CheckURL(*in.URL, in.AllowLoopback); err != nil {
			return out, invalid("url: %s", webhooks.URLMessage)
		}
	}
	if in.SubscribedEventTypes != nil {
		types := []string{}
		for _, t := range *in.SubscribedEventTypes {
			if !webhooks.IsEventType(t) {
				return out, invalid("subscribed_event_types: %q is not an event type; use one of %s.", t, strings.Join(webhooks.EventTypes, ", "))
			}
			if !slices.Contains(types, t) {
				types = append(types, t)
			}
		}
		if len(types) == 0 {
			return out, invalid("subscribed_event_types must name at least one event type (an endpoint subscribed to none would receive nothing); omit it to subscribe to all four.")
		}
		out.SubscribedEventTypes = &types
	}
	if in.RetentionHours != nil {
		h := *in.RetentionHours
		if h != math.Trunc(h) || !webhooks.IsRetentionHours(int(h)) {
			return out, invalid("undelivered_payload_retention_hours must be 0, 24, 72 or 168.")
		}
	}
	return out, nil
}

// checkLabels applies upstream's label rules: at most 8; each trimmed,
// non-empty, at most 40 characters, unique case-insensitively (the later
// duplicate refused). Control characters are refused too (ours).
func checkLabels(in []string) ([]string, error) {
	if len(in) > webhookLabelsMax {
		return nil, invalid("labels: at most %d labels.", webhookLabelsMax)
	}
	out := make([]string, 0, len(in))
	seen := make([]string, 0, len(in))
	for _, l := range in {
		t := jsTrim(l)
		switch {
		case t == "":
			return nil, invalid("labels: Labels must be non-empty strings.")
		case utf16Len(t) > webhookLabelMax:
			return nil, invalid("labels: Labels must be 40 characters or fewer.")
		case !webhookText(t):
			return nil, invalid("labels: Labels must be text, without control characters.")
		}
		folded := strings.ToLower(t)
		if slices.Contains(seen, folded) {
			return nil, invalid("labels: Labels must be unique case-insensitively.")
		}
		seen = append(seen, folded)
		out = append(out, t)
	}
	return out, nil
}

// webhookText refuses C0 controls and U+FFFD, which the JSON decoder puts
// where a request's bytes were not UTF-8 (ours: upstream keeps both).
func webhookText(s string) bool {
	return !hasC0Control(s) && !strings.ContainsRune(s, utf8.RuneError)
}

// webhookAudit is an audit row of a webhook change, naming who acted.
func (s *Store) webhookAudit(tx *gorm.DB, c RPCaller, event, targetType, targetID string, meta Metadata) error {
	if meta == nil {
		meta = Metadata{}
	}
	row := s.auditRow(c.OrganizationID, c.UserID, event, targetType, targetID, meta)
	if c.APIKeyID != nil {
		k := c.APIKeyID.String()
		row.ActorType, row.ActorAPIKeyID = ActorAPIKey, &k
	}
	return writeAudit(tx, row)
}

// webhookWrite runs fn in a write transaction of the caller's organization,
// refused when it is frozen. A session caller reaches this with a frozen
// organization (an API key was stopped at authentication), on both the
// /v1/webhooks and the /v1/events paths.
func (s *Store) webhookWrite(ctx context.Context, c RPCaller, fn func(tx *gorm.DB) error) error {
	return s.tx(ctx, func(tx *gorm.DB) error {
		frozen, err := orgFrozen(tx, c.OrganizationID)
		if err != nil {
			return err
		}
		if frozen {
			return ErrOrganizationFrozen
		}
		return fn(tx)
	})
}

// WebhookWriteAllowed reports ErrOrganizationFrozen for a frozen
// organization: the handlers' early check, so that the 410 answers before
// a schema 400, as upstream's guard does. The writes check again in their
// transaction.
func (s *Store) WebhookWriteAllowed(ctx context.Context, c RPCaller) error {
	return s.read(ctx, func(db *gorm.DB) error {
		frozen, err := orgFrozen(db, c.OrganizationID)
		if err == nil && frozen {
			err = ErrOrganizationFrozen
		}
		return err
	})
}

// lockEndpoint reads one of the organization's endpoints and, on
// PostgreSQL, locks its row until the transaction ends: rotation and key
// activation take it, so they serialise per endpoint.
func lockEndpoint(tx *gorm.DB, orgID uuid.UUID, id string) (WebhookEndpoint, error) {
	var e WebhookEndpoint
	err := tx.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate}).
		Where("id = ? AND organization_id = ?", id, orgID).Take(&e).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return e, ErrNotFound
	}
	return e, err
}

// CreatedWebhookEndpoint is a new endpoint and its signing secret, shown
// once (reveal shows it again).
type CreatedWebhookEndpoint struct {
	WebhookEndpoint
	SigningSecret string
}

// CreateWebhookEndpoint creates an endpoint with a new signing secret
// (sealed). At most MaxWebhookEndpointsPerOrg per organization
// (ErrWebhookEndpointLimit); *InvalidInputError for fields the rules
// refuse; ErrOrganizationFrozen.
func (s *Store) CreateWebhookEndpoint(ctx context.Context, c RPCaller, in WebhookEndpointInput) (CreatedWebhookEndpoint, error) {
	if in.URL == nil {
		return CreatedWebhookEndpoint{}, invalid("url is required.")
	}
	in.NameSet = in.Name != nil
	in, err := in.checked()
	if err != nil {
		return CreatedWebhookEndpoint{}, err
	}
	box, err := s.webhookBox(ctx)
	if err != nil {
		return CreatedWebhookEndpoint{}, err
	}
	secret, err := webhooks.NewSigningSecret()
	if err != nil {
		return CreatedWebhookEndpoint{}, err
	}
	sealed, err := box.Seal(secret)
	if err != nil {
		return CreatedWebhookEndpoint{}, err
	}
	id, err := webhooks.NewID(webhooks.EndpointIDPrefix, webhooks.ShortIDChars)
	if err != nil {
		return CreatedWebhookEndpoint{}, err
	}
	e := WebhookEndpoint{ID: id, OrganizationID: c.OrganizationID, Name: in.Name, Labels: StringList{},
		URL: *in.URL, Enabled: webhookEndpointDefaultEnabled, SubscribedEventTypes: append(StringList{}, webhooks.EventTypes...),
		UndeliveredPayloadRetentionHours: webhooks.DefaultRetentionHours, SigningSecretCiphertext: sealed}
	if in.Labels != nil {
		e.Labels = StringList(*in.Labels)
	}
	if in.Enabled != nil {
		e.Enabled = *in.Enabled
	}
	if in.SubscribedEventTypes != nil {
		e.SubscribedEventTypes = StringList(*in.SubscribedEventTypes)
	}
	if in.RetentionHours != nil {
		e.UndeliveredPayloadRetentionHours = int(*in.RetentionHours)
	}
	err = s.tx(ctx, func(tx *gorm.DB) error {
		// The organization's row lock serialises creations, so the count
		// and the insert it allows hold together (SQLite: the write
		// transaction does).
		org, err := lockOrg(tx, c.OrganizationID)
		if err != nil {
			return err
		}
		if org.Frozen() {
			return ErrOrganizationFrozen
		}
		var n int64
		if err := tx.Model(&WebhookEndpoint{}).Where("organization_id = ?", c.OrganizationID).Count(&n).Error; err != nil {
			return err
		}
		if n >= MaxWebhookEndpointsPerOrg {
			return ErrWebhookEndpointLimit
		}
		now := s.clock()
		e.CreatedAt, e.UpdatedAt = now, now
		if !e.Enabled {
			e.DisabledAt = &now
		}
		if err := tx.Create(&e).Error; err != nil {
			return err
		}
		return s.webhookAudit(tx, c, EventWebhookEndpointCreated, targetWebhookEndpoint, e.ID,
			Metadata{"url": e.URL, "enabled": e.Enabled})
	})
	if err != nil {
		return CreatedWebhookEndpoint{}, err
	}
	return CreatedWebhookEndpoint{WebhookEndpoint: e, SigningSecret: secret}, nil
}

// GetWebhookEndpoint reads one of the organization's endpoints;
// ErrNotFound for an unknown id or another organization's.
func (s *Store) GetWebhookEndpoint(ctx context.Context, c RPCaller, id string) (WebhookEndpoint, error) {
	var e WebhookEndpoint
	err := s.read(ctx, func(db *gorm.DB) error {
		return db.Where("id = ? AND organization_id = ?", id, c.OrganizationID).Take(&e).Error
	})
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return e, ErrNotFound
	}
	return e, err
}

// ListWebhookEndpoints lists the organization's endpoints newest first
// (created_at desc, id desc, at full precision), only enabled or disabled
// ones when enabled is set. The cursor is an endpoint id of the
// organization; an unknown one is ErrInvalidCursor, as the session list.
func (s *Store) ListWebhookEndpoints(ctx context.Context, c RPCaller, enabled *bool, p Page) ([]WebhookEndpoint, bool, error) {
	p = p.clamped()
	var rows []WebhookEndpoint
	err := s.read(ctx, func(db *gorm.DB) error {
		q, err := newestFirst(db, "webhook_endpoints", "e", c.OrganizationID, p.StartingAfter)
		if err != nil {
			return err
		}
		if enabled != nil {
			q = q.Where("e.enabled = ?", *enabled)
		}
		return page(q, "e", p.Limit, &rows)
	})
	if err != nil {
		return nil, false, err
	}
	rows, more := trimPage(rows, p.Limit)
	return rows, more, nil
}

// UpdateWebhookEndpoint changes the fields in sets. ErrNotFound first,
// then ErrWebhookNothingToUpdate when no field is given, then the field
// rules (*InvalidInputError). Audited with upstream's updated_fields.
func (s *Store) UpdateWebhookEndpoint(ctx context.Context, c RPCaller, id string, in WebhookEndpointInput) (WebhookEndpoint, error) {
	var out WebhookEndpoint
	err := s.webhookWrite(ctx, c, func(tx *gorm.DB) error {
		e, err := lockEndpoint(tx, c.OrganizationID, id)
		if err != nil {
			return err
		}
		if in.empty() {
			return ErrWebhookNothingToUpdate
		}
		in, err := in.checked()
		if err != nil {
			return err
		}
		now := s.clock()
		set := map[string]any{"updated_at": now}
		fields := []string{}
		meta := Metadata{}
		if in.NameSet {
			set["name"], e.Name = in.Name, in.Name
			fields = append(fields, "name")
		}
		if in.Labels != nil {
			e.Labels = StringList(*in.Labels)
			set["labels"] = e.Labels
			fields = append(fields, "labels")
		}
		if in.URL != nil {
			set["url"], e.URL = *in.URL, *in.URL
			fields = append(fields, "url")
		}
		if in.Enabled != nil {
			e.Enabled, e.DisabledAt = *in.Enabled, nil
			if !e.Enabled {
				e.DisabledAt = &now
			}
			set["enabled"], set["disabled_at"] = e.Enabled, e.DisabledAt
			fields = append(fields, "enabled", "disabledAt")
			meta["enabled"] = e.Enabled
		}
		if in.SubscribedEventTypes != nil {
			e.SubscribedEventTypes = StringList(*in.SubscribedEventTypes)
			set["subscribed_event_types"] = e.SubscribedEventTypes
			fields = append(fields, "subscribedEventTypes")
		}
		if in.RetentionHours != nil {
			e.UndeliveredPayloadRetentionHours = int(*in.RetentionHours)
			set["undelivered_payload_retention_hours"] = e.UndeliveredPayloadRetentionHours
			fields = append(fields, "undeliveredPayloadRetentionHours")
			meta["undelivered_payload_retention_hours"] = e.UndeliveredPayloadRetentionHours
		}
		if err := tx.Model(&WebhookEndpoint{}).Where("id = ?", e.ID).Updates(set).Error; err != nil {
			return err
		}
		e.UpdatedAt = now
		meta["updated_fields"] = fields
		out = e
		return s.webhookAudit(tx, c, EventWebhookEndpointUpdated, targetWebhookEndpoint, e.ID, meta)
	})
	return out, err
}

// DeleteWebhookEndpoint deletes one of the organization's endpoints with
// its keys, deliveries and their attempts (cascade). ErrNotFound.
func (s *Store) DeleteWebhookEndpoint(ctx context.Context, c RPCaller, id string) error {
	return s.webhookWrite(ctx, c, func(tx *gorm.DB) error {
		if _, err := lockEndpoint(tx, c.OrganizationID, id); err != nil {
			return err
		}
		// The cascade takes its keys, deliveries and attempts (deliveries
		// name keys ON DELETE SET NULL, so the order does not matter).
		if err := tx.Where("id = ? AND organization_id = ?", id, c.OrganizationID).Delete(&WebhookEndpoint{}).Error; err != nil {
			return err
		}
		return s.webhookAudit(tx, c, EventWebhookEndpointDeleted, targetWebhookEndpoint, id, nil)
	})
}

// RevealWebhookSigningSecret answers the endpoint's current signing
// secret and records that it was shown (ours: upstream does not audit
// reveal). ErrNotFound; ErrWebhookSecretUnreadable when the stored secret
// does not open under the configured keys.
func (s *Store) RevealWebhookSigningSecret(ctx context.Context, c RPCaller, id string) (string, error) {
	box, err := s.webhookBox(ctx)
	if err != nil {
		return "", err
	}
	var secret string
	err = s.webhookWrite(ctx, c, func(tx *gorm.DB) error {
		var e WebhookEndpoint
		err := tx.Where("id = ? AND organization_id = ?", id, c.OrganizationID).Take(&e).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		plain, _, err := box.Open(e.SigningSecretCiphertext)
		if err != nil {
			return errors.Join(ErrWebhookSecretUnreadable, err)
		}
		secret = plain
		return s.webhookAudit(tx, c, EventWebhookSecretRevealed, targetWebhookEndpoint, id, nil)
	})
	return secret, err
}

// RotateWebhookSigningSecret replaces the endpoint's signing secret, under
// the endpoint's row lock (SQLite: the write transaction), so concurrent
// rotations apply one after another and the last answer is the secret in
// force. The old secret stops at once (upstream has no overlap window).
func (s *Store) RotateWebhookSigningSecret(ctx context.Context, c RPCaller, id string) (string, error) {
	box, err := s.webhookBox(ctx)
	if err != nil {
		return "", err
	}
	var secret string
	err = s.webhookWrite(ctx, c, func(tx *gorm.DB) error {
		if _, err := lockEndpoint(tx, c.OrganizationID, id); err != nil {
			return err
		}
		plain, err := webhooks.NewSigningSecret()
		if err != nil {
			return err
		}
		sealed, err := box.Seal(plain)
		if err != nil {
			return err
		}
		if err := tx.Model(&WebhookEndpoint{}).Where("id = ?", id).
			Updates(map[string]any{"signing_secret_ciphertext": sealed, "updated_at": s.clock()}).Error; err != nil {
			return err
		}
		secret = plain
		return s.webhookAudit(tx, c, EventWebhookSecretRotated, targetWebhookEndpoint, id, nil)
	})
	return secret, err
}

// webhookTargets checks a session's webhook targets: duplicates dropped
// (first occurrence kept), each an enabled endpoint of the organization
// (ErrWebhookEndpointUnavailable otherwise). nil (fan out) when none were
// named.
func webhookTargets(tx *gorm.DB, orgID uuid.UUID, ids []string) (NullStringList, error) {
	if ids == nil {
		return nil, nil
	}
	var out NullStringList = []string{}
	for _, id := range ids {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	if len(out) == 0 {
		return out, nil
	}
	var n int64
	err := tx.Model(&WebhookEndpoint{}).
		Where("organization_id = ? AND enabled = ? AND id IN ?", orgID, true, []string(out)).Count(&n).Error
	if err != nil {
		return nil, err
	}
	if int(n) != len(out) {
		return nil, ErrWebhookEndpointUnavailable
	}
	return out, nil
}
