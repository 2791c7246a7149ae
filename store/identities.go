package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"gorm.io/gorm"
)

// ExternalIdentity is who an identity provider's token names, once the
// token's signature and claims have been verified. The store does not know
// which provider issued it; it still bounds and cleans what it keeps.
type ExternalIdentity struct {
	Issuer        string
	Subject       string
	Email         string
	EmailVerified bool
	Name          string
	// ProviderSession is the provider's session id (the sid claim), "" when
	// the token carries none.
	ProviderSession string
	// ExpiresAt is when the token expires.
	ExpiresAt time.Time
}

// UserIdentity links an identity provider's (issuer, subject) to a user.
// Email is the last address the provider marked verified for it (empty when
// none): a token naming another verified address updates the user's.
type UserIdentity struct {
	Issuer    string `gorm:"primaryKey"`
	Subject   string `gorm:"primaryKey"`
	UserID    uuid.UUID
	Email     string
	CreatedAt time.Time
}

// TableName pins GORM to the migrated table.
func (UserIdentity) TableName() string { return "user_identities" }

const (
	// maxIdentityField bounds the issuer and subject kept (OpenID Connect
	// caps sub at 255 ASCII characters).
	maxIdentityField = 255
	// providerSessionPrefix starts the token_hash of sessions that belong
	// to provider callers. A bearer token's hash is 64 hex digits, so no
	// token ever finds such a row, nor revokes it.
	providerSessionPrefix = "idp:"
	// maxSignInAttempts bounds the retries when two first requests of the
	// same identity race each other; the loser reads the winner's rows.
	maxSignInAttempts = 3
)

// AuthenticateExternal resolves a verified provider identity to its
// principal: the user found by (issuer, subject); on first sight, the
// existing user with the same email when the provider marked it verified
// (audited in the organizations that user belongs to), else a new user. An
// email the provider does not mark verified is never stored and links to
// nobody. The session is one per provider session (sid), else one per
// identity, and holds the active organization. Two first requests at once
// make one user, one identity and one session. ErrInvalidIdentity when the
// issuer or subject cannot be kept.
func (s *Store) AuthenticateExternal(ctx context.Context, id ExternalIdentity) (Principal, error) {
	id, err := id.clean()
	if err != nil {
		return Principal{}, err
	}
	key := providerSessionKey(id)
	for attempt := 1; ; attempt++ {
		p, done, err := s.readExternal(ctx, id, key)
		if err != nil || done {
			return p, err
		}
		p, err = s.signInExternal(ctx, id, key)
		if err == nil || !isUniqueViolation(err) || attempt == maxSignInAttempts {
			return p, err
		}
	}
}

// clean bounds what the store keeps of an identity. A bad issuer or subject
// refuses it; a bad email is dropped (and is then not verified); a name is
// stripped of control characters and shortened.
func (id ExternalIdentity) clean() (ExternalIdentity, error) {
	if !keepable(id.Issuer) || !keepable(id.Subject) || id.ExpiresAt.IsZero() {
		return id, ErrInvalidIdentity
	}
	id.Email = NormalizeEmail(id.Email)
	// checkEmail lets C1 controls through (net/mail takes any non-ASCII
	// character); a claim holding one is not kept either.
	if checkEmail(id.Email) != nil || strings.ContainsFunc(id.Email, unicode.IsControl) {
		id.Email, id.EmailVerified = "", false
	}
	id.Name = cleanName(id.Name)
	return id, nil
}

func keepable(s string) bool {
	if s == "" || len(s) > maxIdentityField || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

func cleanName(n string) string {
	n = strings.ToValidUTF8(n, "")
	n = strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, n))
	if utf8.RuneCountInString(n) > MaxUserName {
		n = strings.TrimSpace(string([]rune(n)[:MaxUserName]))
	}
	return n
}

// verifiedEmail is the address the provider vouches for, or "".
func (id ExternalIdentity) verifiedEmail() string {
	if id.EmailVerified {
		return id.Email
	}
	return ""
}

// providerSessionKey is the token_hash of the identity's session: one per
// provider session when the token names one, else one per identity. The
// subject is part of both, so two users never share a row.
func providerSessionKey(id ExternalIdentity) string {
	h := sha256.New()
	for _, part := range []string{id.Issuer, id.Subject, id.ProviderSession} {
		h.Write([]byte(part))
		h.Write([]byte{0}) // issuer and subject hold no NUL (clean refuses control characters)
	}
	kind := "user:"
	if id.ProviderSession != "" {
		kind = "sid:"
	}
	return providerSessionPrefix + kind + hex.EncodeToString(h.Sum(nil))
}

// externalSQL reads an identity, its user and its session in one statement;
// it runs on every request of a provider caller. $n is PostgreSQL's
// placeholder, and SQLite's too, but SQLite numbers them in the order they
// appear: they must appear as $1, $2, $3.
const externalSQL = `SELECT i.user_id, i.email, u.email, u.name, u.created_at, u.updated_at,
	s.id, s.active_organization_id, s.created_at, s.expires_at, s.revoked_at
FROM user_identities i
JOIN users u ON u.id = i.user_id AND i.issuer = $1 AND i.subject = $2
LEFT JOIN sessions s ON s.token_hash = $3 AND s.user_id = i.user_id`

// externalLookup prepares externalSQL once; database/sql prepares it again
// on each pooled connection as needed. A failure is not kept: the next
// caller tries again.
func (s *Store) externalLookup(ctx context.Context) (*sql.Stmt, error) {
	s.externalStmt.Lock()
	defer s.externalStmt.Unlock()
	if s.externalStmt.stmt == nil {
		stmt, err := s.sqlDB.PrepareContext(ctx, externalSQL)
		if err != nil {
			return nil, err
		}
		s.externalStmt.stmt = stmt
	}
	return s.externalStmt.stmt, nil
}

// readExternal is the common case: identity and session exist and nothing
// about them needs writing (but the session's expiry, a single update). done
// is false when signInExternal must run.
func (s *Store) readExternal(ctx context.Context, id ExternalIdentity, key string) (Principal, bool, error) {
	var (
		p          Principal
		identEmail string
		sessID     uuid.NullUUID
		sessOrg    uuid.NullUUID
		sessCreate sql.NullTime
		sessExpire sql.NullTime
		sessRevoke sql.NullTime
	)
	err := s.admit(ctx, func() error {
		stmt, err := s.externalLookup(ctx)
		if err != nil {
			return err
		}
		return stmt.QueryRowContext(ctx, id.Issuer, id.Subject, key).Scan(
			&p.User.ID, &identEmail, &p.User.Email, &p.User.Name, &p.User.CreatedAt, &p.User.UpdatedAt,
			&sessID, &sessOrg, &sessCreate, &sessExpire, &sessRevoke)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return Principal{}, false, nil
	}
	if err != nil {
		return Principal{}, false, err
	}
	if !sessID.Valid || (id.verifiedEmail() != "" && id.verifiedEmail() != identEmail) {
		return Principal{}, false, nil
	}
	if sessRevoke.Valid {
		return Principal{}, true, ErrUnauthenticated
	}
	p.Session = Session{ID: sessID.UUID, TokenHash: key, UserID: p.User.ID, CreatedAt: sessCreate.Time, ExpiresAt: sessExpire.Time}
	if sessOrg.Valid {
		p.Session.ActiveOrganizationID = &sessOrg.UUID
	}
	p.EmailVerified = id.EmailVerified
	if exp := id.ExpiresAt.UTC().Truncate(time.Microsecond); exp.After(p.Session.ExpiresAt) {
		// The session lasts as long as the latest token seen: one write
		// per new token, none per request.
		err = s.admit(ctx, func() error {
			_, err := s.sqlDB.ExecContext(ctx, `UPDATE sessions SET expires_at = $1 WHERE id = $2 AND expires_at < $1`,
				exp, p.Session.ID)
			return err
		})
		if err != nil {
			return Principal{}, true, err
		}
		p.Session.ExpiresAt = exp
	}
	return p, true, nil
}

// signInExternal writes what a request of this identity needs: the
// identity (linked or with a new user), the verified email when it
// changed, the session.
func (s *Store) signInExternal(ctx context.Context, id ExternalIdentity, key string) (Principal, error) {
	var p Principal
	err := s.tx(ctx, func(tx *gorm.DB) error {
		now := s.clock()
		var ident UserIdentity
		err := tx.Where("issuer = ? AND subject = ?", id.Issuer, id.Subject).Take(&ident).Error
		switch {
		case errors.Is(err, gorm.ErrRecordNotFound):
			if ident, err = s.newIdentity(tx, id, now); err != nil {
				return err
			}
		case err != nil:
			return err
		case id.verifiedEmail() != "" && id.verifiedEmail() != ident.Email:
			if err := s.syncEmail(tx, &ident, id.Email, now); err != nil {
				return err
			}
		}
		if err := tx.Where("id = ?", ident.UserID).Take(&p.User).Error; err != nil {
			return err
		}
		err = tx.Where("token_hash = ?", key).Take(&p.Session).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			p.Session = Session{ID: uuid.New(), TokenHash: key, UserID: ident.UserID, CreatedAt: now,
				ExpiresAt: id.ExpiresAt.UTC().Truncate(time.Microsecond)}
			return tx.Create(&p.Session).Error
		}
		if err != nil {
			return err
		}
		if p.Session.UserID != ident.UserID || p.Session.RevokedAt != nil {
			return ErrUnauthenticated
		}
		return nil
	})
	p.EmailVerified = id.EmailVerified
	return p, err
}

// newIdentity links the identity to the user holding its verified email,
// or creates a user from its claims. A unique violation (a concurrent first
// request won) rolls the transaction back for the caller to read again.
func (s *Store) newIdentity(tx *gorm.DB, id ExternalIdentity, now time.Time) (UserIdentity, error) {
	ident := UserIdentity{Issuer: id.Issuer, Subject: id.Subject, Email: id.verifiedEmail(), CreatedAt: now}
	var u User
	linked := false
	if email := id.verifiedEmail(); email != "" {
		err := tx.Where("email = ?", email).Take(&u).Error
		if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
			return ident, err
		}
		linked = err == nil
	}
	if !linked {
		u = User{ID: uuid.New(), Email: id.verifiedEmail(), Name: id.Name, CreatedAt: now, UpdatedAt: now}
		if err := tx.Create(&u).Error; err != nil {
			return ident, err
		}
	}
	ident.UserID = u.ID
	if err := tx.Create(&ident).Error; err != nil {
		return ident, err
	}
	if !linked {
		return ident, nil
	}
	// Someone who already belongs to organizations can now act in them
	// through the provider: each of them records it.
	var orgs []uuid.UUID
	if err := tx.Model(&Member{}).Where("user_id = ? AND suspended_at IS NULL", u.ID).Distinct().Pluck("organization_id", &orgs).Error; err != nil {
		return ident, err
	}
	for _, org := range orgs {
		if err := s.audit(tx, org, &u.ID, EventIdentityLinked, "user", u.ID.String(),
			Metadata{"user_id": u.ID.String(), "issuer": id.Issuer, "subject": id.Subject, "email": u.Email}); err != nil {
			return ident, err
		}
	}
	return ident, nil
}

// syncEmail records a newly verified address for the identity and gives it
// to the user, unless another user already holds it (accounts are linked
// on first sight only, never merged later).
func (s *Store) syncEmail(tx *gorm.DB, ident *UserIdentity, email string, now time.Time) error {
	ident.Email = email
	if err := tx.Model(&UserIdentity{}).Where("issuer = ? AND subject = ?", ident.Issuer, ident.Subject).
		Update("email", email).Error; err != nil {
		return err
	}
	var n int64
	if err := tx.Model(&User{}).Where("email = ? AND id <> ?", email, ident.UserID).Count(&n).Error; err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	return tx.Model(&User{}).Where("id = ?", ident.UserID).Updates(map[string]any{"email": email, "updated_at": now}).Error
}
