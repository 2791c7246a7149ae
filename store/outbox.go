package store

import (
	"context"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Notices are mail written in the transaction of the change they report
// (so a notice exists exactly when its change committed) and delivered
// afterwards by a sender that claims them, sends with no transaction held,
// and retries with backoff. The store decides who is told what; the words
// are the mail package's (mail.Notice).

// Notice kinds.
const (
	NoticeDomainTransferred = "domain.transferred"
	NoticeDomainDowngraded  = "domain.downgraded"
)

// Outbox delivery policy.
const (
	// MailMaxAttempts is how many times a notice is tried before it is
	// kept as failed.
	MailMaxAttempts = 8
	// mailLease is how long a claimed notice is left to its sender before
	// another may try it (a sender that died mid-send).
	mailLease = 2 * time.Minute
)

// OutboxMail is one notice to deliver.
type OutboxMail struct {
	ID            uuid.UUID
	Kind          string
	Recipient     string
	Data          Metadata
	CreatedAt     time.Time
	NextAttemptAt time.Time
	Attempts      int
	LockedUntil   *time.Time
	LastError     *string
	FailedAt      *time.Time
}

// TableName pins GORM to the migrated table.
func (OutboxMail) TableName() string { return "mail_outbox" }

// notifyOwners writes one notice per active owner of the organization.
func (s *Store) notifyOwners(tx *gorm.DB, orgID uuid.UUID, kind string, data map[string]string) error {
	var emails []string
	if err := tx.Table("organization_members m").Joins("JOIN users u ON u.id = m.user_id").
		Where("m.organization_id = ? AND m.role = ? AND m.suspended_at IS NULL", orgID, RoleOwner).
		Order("u.email").Pluck("u.email", &emails).Error; err != nil {
		return err
	}
	now := s.clock()
	meta := Metadata{}
	for k, v := range data {
		meta[k] = v
	}
	for _, to := range emails {
		m := OutboxMail{ID: uuid.New(), Kind: kind, Recipient: to, Data: meta, CreatedAt: now, NextAttemptAt: now}
		if err := tx.Create(&m).Error; err != nil {
			return err
		}
	}
	return nil
}

// ClaimMail takes up to n notices due for delivery and leases them to the
// caller, so no other sender (on any replica) tries them meanwhile.
func (s *Store) ClaimMail(ctx context.Context, n int) ([]OutboxMail, error) {
	const due = "failed_at IS NULL AND next_attempt_at <= ? AND (locked_until IS NULL OR locked_until < ?)"
	// Look first, without a write transaction: the sender asks every few
	// seconds and there is usually nothing to send (on SQLite a write
	// transaction would take the database's write lock each time).
	var found []uuid.UUID
	now := s.clock()
	if err := s.read(ctx, func(db *gorm.DB) error {
		return db.Model(&OutboxMail{}).Where(due, now, now).Limit(1).Pluck("id", &found).Error
	}); err != nil || len(found) == 0 {
		return nil, err
	}
	var out []OutboxMail
	err := s.tx(ctx, func(tx *gorm.DB) error {
		now := s.clock()
		err := tx.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate, Options: clause.LockingOptionsSkipLocked}).
			Where(due, now, now).
			Order("next_attempt_at, id").Limit(n).Find(&out).Error
		if err != nil || len(out) == 0 {
			return err
		}
		ids := make([]uuid.UUID, len(out))
		for i := range out {
			ids[i] = out[i].ID
			out[i].Attempts++
		}
		return tx.Model(&OutboxMail{}).Where("id IN ?", ids).
			Updates(map[string]any{"locked_until": now.Add(mailLease), "attempts": gorm.Expr("attempts + 1")}).Error
	})
	return out, err
}

// MailDelivered removes a delivered notice.
func (s *Store) MailDelivered(ctx context.Context, id uuid.UUID) error {
	return s.tx(ctx, func(tx *gorm.DB) error { return tx.Where("id = ?", id).Delete(&OutboxMail{}).Error })
}

// MailFailed records a failed delivery: the notice is tried again after a
// backoff that doubles each time (1 min, 2 min, … ), or kept as failed
// after MailMaxAttempts. It reports whether the notice gave up.
func (s *Store) MailFailed(ctx context.Context, m OutboxMail, cause error) (bool, error) {
	now := s.clock()
	// A notice not claimed (Attempts 0) waits as long as after a first try.
	set := map[string]any{"last_error": errorText(cause), "locked_until": nil,
		"next_attempt_at": now.Add(time.Minute << min(max(m.Attempts-1, 0), 10))}
	gaveUp := m.Attempts >= MailMaxAttempts
	if gaveUp {
		set["failed_at"] = now
	}
	err := s.tx(ctx, func(tx *gorm.DB) error { return tx.Model(&OutboxMail{}).Where("id = ?", m.ID).Updates(set).Error })
	return gaveUp, err
}

// maxErrorText bounds a kept delivery error, in bytes.
const maxErrorText = 1000

// errorText is cause as PostgreSQL's text can hold it: a mail server's
// answer may carry NUL or bytes that are not UTF-8, and a cut must not
// split a character, or the update fails and the notice is tried forever.
func errorText(cause error) string {
	msg := strings.ToValidUTF8(strings.ReplaceAll(cause.Error(), "\x00", ""), "\uFFFD")
	if len(msg) > maxErrorText {
		msg = strings.ToValidUTF8(msg[:maxErrorText], "")
	}
	return msg
}

// PendingMail lists the notices not yet delivered, failed ones included
// (tests and operators).
func (s *Store) PendingMail(ctx context.Context) ([]OutboxMail, error) {
	var out []OutboxMail
	err := s.read(ctx, func(db *gorm.DB) error { return db.Order("created_at, id").Find(&out).Error })
	return out, err
}
