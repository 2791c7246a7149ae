package store

import (
	"database/sql/driver"
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// Webhooks: the endpoints an organization registers, the public keys its
// deliveries are encrypted to, and one delivery per (event, endpoint),
// written in the transaction of the event (see deliverEvent).

// Delivery statuses.
const (
	DeliveryPending    = "pending"
	DeliveryDelivering = "delivering"
	DeliverySucceeded  = "succeeded"
	DeliveryFailed     = "failed"
)

// Payload retention reasons, as upstream names them.
const (
	ReasonPendingDelivery  = "pending_delivery"
	ReasonDelivered        = "delivered"
	ReasonTerminalFailure  = "terminal_failure_retention"
	ReasonExpired          = "expired"
	ReasonNoActiveKey      = "no_active_key"
	ReasonJWECreationError = "jwe_creation_failed"
	ReasonPrivacyRequest   = "privacy_request"
)

// WebhookEndpoint is one row of webhook_endpoints.
type WebhookEndpoint struct {
	ID                               string
	OrganizationID                   uuid.UUID
	Name                             *string
	Labels                           StringList
	URL                              string `gorm:"column:url"`
	Enabled                          bool
	SubscribedEventTypes             StringList
	UndeliveredPayloadRetentionHours int
	SigningSecretCiphertext          string
	CreatedAt                        time.Time
	UpdatedAt                        time.Time
	DisabledAt                       *time.Time
}

// TableName pins GORM to the migrated table.
func (WebhookEndpoint) TableName() string { return "webhook_endpoints" }

// WebhookKey is one row of webhook_encryption_keys: a customer's public
// RSA key (Kayle never holds the private half).
type WebhookKey struct {
	ID                string
	WebhookEndpointID string
	KeyID             string
	Algorithm         string
	KeyType           string
	JWK               RawJSON `gorm:"column:jwk"`
	IsActive          bool
	CreatedAt         time.Time
	UpdatedAt         time.Time
	DisabledAt        *time.Time
}

// TableName pins GORM to the migrated table.
func (WebhookKey) TableName() string { return "webhook_encryption_keys" }

// WebhookDelivery is one row of webhook_deliveries.
type WebhookDelivery struct {
	ID                     string
	EventID                string
	WebhookEndpointID      string
	OrganizationID         uuid.UUID
	WebhookEncryptionKeyID *string
	Status                 string
	AttemptCount           int
	NextAttemptAt          *time.Time
	LastStatusCode         *int
	// Payload is the compact JWE sent on every attempt; never shown.
	Payload *string
	// HeldPayload is the sealed plaintext of a delivery waiting for its
	// endpoint's first active key; never shown.
	HeldPayload            *string
	PayloadExpiresAt       *time.Time
	PayloadScrubbedAt      *time.Time
	PayloadRetentionReason *string
	// RunID names the delivery's current run; a queue job carrying another
	// one stops without sending.
	RunID         *string
	LastAttemptAt *time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// TableName pins GORM to the migrated table.
func (WebhookDelivery) TableName() string { return "webhook_deliveries" }

// WebhookAttempt is one row of webhook_delivery_attempts.
type WebhookAttempt struct {
	ID                string
	WebhookDeliveryID string
	Status            string
	StatusCode        *int
	Error             *string
	AttemptedAt       time.Time
}

// TableName pins GORM to the migrated table.
func (WebhookAttempt) TableName() string { return "webhook_delivery_attempts" }

// RawJSON is a JSON value kept as its bytes in one column (jsonb on
// PostgreSQL, text on SQLite).
type RawJSON json.RawMessage

// Value stores the bytes as JSON text.
func (j RawJSON) Value() (driver.Value, error) {
	if j == nil {
		return nil, nil
	}
	return string(j), nil
}

// Scan reads JSON text or bytes.
func (j *RawJSON) Scan(src any) error {
	b, err := jsonColumn(src, "json")
	if err != nil || b == nil {
		*j = nil
		return err
	}
	*j = append(RawJSON(nil), b...)
	return nil
}

// MarshalJSON writes the value as it is stored.
func (j RawJSON) MarshalJSON() ([]byte, error) {
	if j == nil {
		return []byte("null"), nil
	}
	return j, nil
}
