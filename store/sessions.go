package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
)

// TokenPrefix marks this server's session tokens, so that a leaked one is
// recognisable in logs and secret scanners.
const TokenPrefix = "kid_"

// MaxTokenLength bounds what Authenticate will hash; longer inputs are not tokens.
const MaxTokenLength = 256

// NormalizeEmail is the one canonical form of an email address, the only
// rule by which addresses are compared (users, provider linking,
// invitations): surrounding ASCII white space trimmed and ASCII letters
// lower-cased; every other character is kept exactly as it is. So two
// addresses that differ in anything but ASCII case never compare equal.
// strings.ToLower would fold look-alikes into ASCII (KELVIN SIGN U+212A
// into "k", U+0130 into "i"), letting an address a provider verified match
// someone else's (the class of CVE-2019-19844). Addresses stored by earlier
// versions were lower-cased with strings.ToLower: on ASCII that is the same
// rule, and non-ASCII ones keep matching exactly what was stored.
func NormalizeEmail(email string) string {
	email = strings.Trim(email, " \t\n\v\f\r")
	for i := 0; i < len(email); i++ {
		if c := email[i]; c >= 'A' && c <= 'Z' {
			return asciiLower(email)
		}
	}
	return email
}

// CreateUser registers a user. ErrEmailTaken when the email is in use.
func (s *Store) CreateUser(ctx context.Context, email, name string) (User, error) {
	now := s.clock()
	u := User{ID: uuid.New(), Email: NormalizeEmail(email), Name: strings.TrimSpace(name), CreatedAt: now, UpdatedAt: now}
	if err := checkEmail(u.Email); err != nil {
		return u, err
	}
	if u.Name == "" || !text(u.Name, MaxUserName) {
		return u, invalid("name must be 1 to %d characters of text.", MaxUserName)
	}
	err := s.tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Create(&u).Error; err != nil {
			if isUniqueViolation(err) {
				return ErrEmailTaken
			}
			return err
		}
		return nil
	})
	return u, err
}

// UserByEmail finds a user by email. ErrNotFound when there is none.
func (s *Store) UserByEmail(ctx context.Context, email string) (User, error) {
	var u User
	err := s.read(ctx, func(db *gorm.DB) (err error) {
		u, err = userByEmail(db, email)
		return err
	})
	return u, err
}

// userByEmail is the user holding email once normalised, or ErrNotFound.
// An email that is empty once normalised names nobody: provider users
// without a verified email have an empty one, and are not found by it.
func userByEmail(db *gorm.DB, email string) (User, error) {
	var u User
	if email = NormalizeEmail(email); email == "" {
		return u, ErrNotFound
	}
	err := db.Where("email = ?", email).Take(&u).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return u, ErrNotFound
	}
	return u, err
}

// hashToken is how tokens are stored and looked up: SHA-256, hex. The lookup
// is by the hash of whatever the caller sent, so its timing says nothing
// about how much of a real token matched.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// NewToken returns a fresh opaque bearer token with 256 bits of randomness.
func NewToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("store: token randomness: %w", err)
	}
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b), nil
}

// randomString is n characters drawn uniformly from alphabet (of at most
// 256 characters, one byte each) with crypto/rand.
func randomString(alphabet string, n int) (string, error) {
	// Bytes from the largest multiple of len(alphabet) up are rejected, so
	// that each character is equally likely.
	limit := 256 - 256%len(alphabet)
	out := make([]byte, 0, n)
	buf := make([]byte, max(n, 16))
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("store: randomness: %w", err)
		}
		for _, c := range buf {
			if int(c) < limit && len(out) < n {
				out = append(out, alphabet[int(c)%len(alphabet)])
			}
		}
	}
	return string(out), nil
}

// IssuedToken is a new session's bearer token, shown once.
type IssuedToken struct {
	Token     string
	Session   Session
	ExpiresAt time.Time
}

// CreateSession issues a token for the user with this email, valid for ttl.
// With org set, the session's active organization is set; the user must be
// an active member of it (ErrNotMember), and it must exist
// (ErrOrganizationNotFound). ErrNotFound when no user has the email.
func (s *Store) CreateSession(ctx context.Context, email string, org *uuid.UUID, ttl time.Duration) (IssuedToken, error) {
	if ttl <= 0 {
		return IssuedToken{}, fmt.Errorf("store: session ttl must be positive, got %s", ttl)
	}
	token, err := NewToken()
	if err != nil {
		return IssuedToken{}, err
	}
	now := s.clock()
	sess := Session{ID: uuid.New(), TokenHash: hashToken(token), CreatedAt: now, ExpiresAt: now.Add(ttl), ActiveOrganizationID: org}
	err = s.tx(ctx, func(tx *gorm.DB) error {
		u, err := userByEmail(tx.Select("id"), email)
		if err != nil {
			return err
		}
		sess.UserID = u.ID
		if org != nil {
			if _, err := findOrg(tx.Select("id"), *org); err != nil {
				return err
			}
			if _, err := activeMembership(tx, *org, u.ID); err != nil {
				return err
			}
		}
		return tx.Create(&sess).Error
	})
	if err != nil {
		return IssuedToken{}, err
	}
	return IssuedToken{Token: token, Session: sess, ExpiresAt: sess.ExpiresAt}, nil
}

// Principal is who a request acts as: a live session and its user.
type Principal struct {
	Session Session
	User    User
	// EmailVerified says whether the credential vouches for the user's
	// email: an operator registered it (opaque tokens), or the identity
	// provider marked the token's email verified.
	EmailVerified bool
	// APIKey is set when the caller is an organization's API key (on the
	// relying-party API only); Session and User are then empty.
	APIKey *APIKey
}

// CallerKey names whom a principal's requests are for, in every bound
// held per caller (rate limits, requests in flight, database turns, logo
// decodes): its user, whatever session, token spelling or provider sign-in
// (sid) it came with, so signing in again buys no more.
// An API key is its own caller: each key has its own share.
func (p Principal) CallerKey() string {
	if p.APIKey != nil {
		return "key:" + p.APIKey.ID.String()
	}
	return p.User.ID.String()
}

// Actor is the caller of a membership operation.
func (p Principal) Actor() Actor {
	return Actor{UserID: p.User.ID, SessionID: p.Session.ID, ActiveOrganizationID: p.Session.ActiveOrganizationID}
}

// authSQL finds a session and its user by the token's hash. $1 is
// PostgreSQL's placeholder, and SQLite's too.
const authSQL = `SELECT s.id, s.user_id, s.active_organization_id, s.created_at, s.expires_at, s.revoked_at,
	u.email, u.name, u.created_at, u.updated_at
FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1`

// Authenticate resolves a bearer token to its principal. ErrUnauthenticated
// for unknown, malformed, expired and revoked tokens alike.
func (s *Store) Authenticate(ctx context.Context, token string) (Principal, error) {
	if token == "" || len(token) > MaxTokenLength || !strings.HasPrefix(token, TokenPrefix) {
		return Principal{}, ErrUnauthenticated
	}
	// One statement, the session and its user together, straight through
	// database/sql: this runs on every request, and GORM's statement
	// building and reflection cost about as much as the query itself.
	var p Principal
	err := s.admit(ctx, func() error {
		return s.sqlDB.QueryRowContext(ctx, authSQL, hashToken(token)).Scan(
			&p.Session.ID, &p.Session.UserID, &p.Session.ActiveOrganizationID, &p.Session.CreatedAt, &p.Session.ExpiresAt, &p.Session.RevokedAt,
			&p.User.Email, &p.User.Name, &p.User.CreatedAt, &p.User.UpdatedAt)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return Principal{}, ErrUnauthenticated
	}
	if err != nil {
		return Principal{}, err
	}
	p.User.ID = p.Session.UserID
	p.EmailVerified = true
	if p.Session.RevokedAt != nil || !s.clock().Before(p.Session.ExpiresAt) {
		return Principal{}, ErrUnauthenticated
	}
	return p, nil
}

// RevokeToken ends a session at once. ErrNotFound when the token is unknown
// or already revoked.
func (s *Store) RevokeToken(ctx context.Context, token string) error {
	now := s.clock()
	return s.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&Session{}).Where("token_hash = ? AND revoked_at IS NULL", hashToken(token)).Update("revoked_at", now)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// RevokeSessions ends every session of the user with this email at once:
// "sign out everywhere". It reports how many were live. ErrNotFound when no
// user has the email.
func (s *Store) RevokeSessions(ctx context.Context, email string) (int, error) {
	now := s.clock()
	var n int64
	err := s.tx(ctx, func(tx *gorm.DB) error {
		u, err := userByEmail(tx.Select("id"), email)
		if err != nil {
			return err
		}
		res := tx.Model(&Session{}).Where("user_id = ? AND revoked_at IS NULL AND expires_at > ?", u.ID, now).Update("revoked_at", now)
		n = res.RowsAffected
		return res.Error
	})
	return int(n), err
}
