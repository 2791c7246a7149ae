package store

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/kayle-id/orgs-api/verify/tokens"
)

// App Attest registration (behaviour-verify.md §3.6): single-use challenges
// and the keys they register.

const (
	// AttestChallengeTTL is how long a registration challenge can be used.
	AttestChallengeTTL = 5 * time.Minute
	// attestSweepBatch bounds the expired challenges one new one clears.
	attestSweepBatch = 100
)

// App Attest key providers.
const (
	ProviderAppleAppAttest = "ios_app_attest"
)

var (
	// ErrAttestChallengeInvalid: the challenge is unknown, expired or used.
	ErrAttestChallengeInvalid = errors.New("store: unknown, expired or used App Attest challenge")
	// ErrAttestCounterRace: the key's counter moved since it was read.
	ErrAttestCounterRace = errors.New("store: the App Attest counter moved")
)

// AttestKey is one row of mobile_attest_keys: a registered App Attest key.
type AttestKey struct {
	KeyID              string `gorm:"primaryKey"`
	Provider           string
	PublicKeyCOSE      string `gorm:"column:public_key_cose"` // standard base64
	Counter            int64
	Receipt            *string // standard base64
	ReceiptRefreshedAt *time.Time
	RiskMetric         *int64
	CreatedAt          time.Time
	LastUsedAt         *time.Time
}

// TableName pins GORM to the migrated table.
func (AttestKey) TableName() string { return "mobile_attest_keys" }

// NewAttestChallenge issues a registration challenge, usable once within
// AttestChallengeTTL. Only its keyed hash is stored; the expired ones are
// cleared a bounded batch at a time as new ones arrive.
func (s *Store) NewAttestChallenge(ctx context.Context) (challenge string, expiresAt time.Time, err error) {
	secret, _, err := s.authSecret(ctx)
	if err != nil {
		return "", time.Time{}, err
	}
	if challenge, err = tokens.NewAttestChallenge(); err != nil {
		return "", time.Time{}, err
	}
	now := s.clock()
	expiresAt = now.Add(AttestChallengeTTL)
	err = s.tx(ctx, func(tx *gorm.DB) error {
		sub := tx.Table("attest_challenges").Select("challenge_hash").Where("expires_at <= ?", now).Limit(attestSweepBatch)
		if err := tx.Exec("DELETE FROM attest_challenges WHERE challenge_hash IN (?)", sub).Error; err != nil {
			return err
		}
		return tx.Exec("INSERT INTO attest_challenges (challenge_hash, expires_at) VALUES (?, ?)",
			tokens.AttestChallengeHash(secret, challenge), expiresAt).Error
	})
	return challenge, expiresAt, err
}

// ConsumeAttestChallenge spends a registration challenge: one conditional
// DELETE, so of two replicas (or requests) presenting it only one succeeds.
// ErrAttestChallengeInvalid when it is unknown, expired or already spent.
func (s *Store) ConsumeAttestChallenge(ctx context.Context, challenge string) error {
	secret, _, err := s.authSecret(ctx)
	if err != nil {
		return err
	}
	var n int64
	err = s.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Exec("DELETE FROM attest_challenges WHERE challenge_hash = ? AND expires_at > ?",
			tokens.AttestChallengeHash(secret, challenge), s.clock())
		n = res.RowsAffected
		return res.Error
	})
	if err == nil && n != 1 {
		err = ErrAttestChallengeInvalid
	}
	return err
}

// RegisterAttestKey stores a verified key by its id; a key registered again
// is overwritten whole, its counter back to 0 and its receipt's refresh
// and risk metric cleared (created_at stays the first registration's).
func (s *Store) RegisterAttestKey(ctx context.Context, k AttestKey) (AttestKey, error) {
	now := s.clock()
	k.Counter, k.ReceiptRefreshedAt, k.RiskMetric, k.CreatedAt, k.LastUsedAt = 0, nil, nil, now, &now
	if k.Provider == "" {
		k.Provider = ProviderAppleAppAttest
	}
	err := s.tx(ctx, func(tx *gorm.DB) error {
		return tx.Clauses(clause.OnConflict{
			Columns: []clause.Column{{Name: "key_id"}},
			DoUpdates: clause.AssignmentColumns([]string{"provider", "public_key_cose", "counter", "receipt",
				"receipt_refreshed_at", "risk_metric", "last_used_at"}),
		}).Create(&k).Error
	})
	return k, err
}

// AttestKeyByID reads a registered key; ErrNotFound when there is none.
func (s *Store) AttestKeyByID(ctx context.Context, keyID string) (AttestKey, error) {
	var k AttestKey
	err := s.read(ctx, func(db *gorm.DB) error { return db.Where("key_id = ?", keyID).Take(&k).Error })
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return k, ErrNotFound
	}
	return k, err
}

// AdvanceAttestCounter stores an assertion's counter with a compare-and-set
// on the one read before it was verified, and marks the key used:
// ErrAttestCounterRace when another assertion moved it meanwhile (or the
// key is gone), so one assertion counter is accepted once.
func (s *Store) AdvanceAttestCounter(ctx context.Context, keyID string, from, to int64) error {
	if to <= from {
		return ErrAttestCounterRace
	}
	var n int64
	err := s.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&AttestKey{}).Where("key_id = ? AND counter = ?", keyID, from).
			Updates(map[string]any{"counter": to, "last_used_at": s.clock()})
		n = res.RowsAffected
		return res.Error
	})
	if err == nil && n != 1 {
		err = ErrAttestCounterRace
	}
	return err
}
