package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/kayle-id/orgs-api/sessions"
)

// Consent versions the verify web app shows, as upstream's.
const (
	ConsentUIVersion     = 1
	ConsentTermsVersion  = "2026-05-17"
	ConsentNoticeVersion = "2026-05-17"
)

// VerificationConsent is one row of verification_consents.
type VerificationConsent struct {
	ID                        string
	OrganizationID            uuid.UUID
	VerificationSessionID     string
	ConsentedAt               time.Time
	ConsentUIVersion          int `gorm:"column:consent_ui_version"`
	TermsVersion              string
	PrivacyNoticeVersion      string
	ShareContractHash         string
	RequestedClaimKeys        StringList
	SelectedClaimKeys         StringList
	RequiredClaimKeys         StringList
	BiometricConsent          bool
	DocumentProcessingConsent bool
	PrivacyNoticeAcknowledged bool
	ShareClaimsConsent        bool
	TermsAcknowledged         bool
	RPName                    string `gorm:"column:rp_name"`
	ControllerName            string
}

// TableName pins GORM to the migrated table.
func (VerificationConsent) TableName() string { return "verification_consents" }

// MaxConsentsPerSession is how many consent rows one session keeps.
const MaxConsentsPerSession = 20

// RecordVerifyConsent records the person's consent to an open session (the
// five acknowledgements are the schema's literal trues, so the row says
// true): ErrNotFound, ErrSessionExpired (an overdue session expired first).
// Every call adds a row, as upstream, up to MaxConsentsPerSession.
func (s *Store) RecordVerifyConsent(ctx context.Context, id string) (VerificationConsent, error) {
	v, err := s.openSession(ctx, id)
	if err != nil {
		return VerificationConsent{}, err
	}
	rid, err := randomString(apiKeyAlphabet, sessionIDChars)
	if err != nil {
		return VerificationConsent{}, err
	}
	fields := PublicShareFields(v.ShareFields)
	keys, required := make([]string, 0, len(fields)), []string{}
	for k, f := range fields {
		keys = append(keys, k)
		if f.Required {
			required = append(required, k)
		}
	}
	slices.SortFunc(keys, localeCompare)
	slices.SortFunc(required, localeCompare)
	var out VerificationConsent
	err = s.tx(ctx, func(tx *gorm.DB) error {
		cur, err := lockSession(tx, v.OrganizationID, v.ID)
		if err != nil {
			return err
		}
		if !cur.Active() {
			return ErrSessionExpired
		}
		// Anyone holding the link may call this: the rows a session keeps
		// are bounded, and past the bound the newest stands for the call.
		var rows int64
		if err := tx.Model(&VerificationConsent{}).Where("verification_session_id = ?", v.ID).Count(&rows).Error; err != nil {
			return err
		}
		if rows >= MaxConsentsPerSession {
			return tx.Where("verification_session_id = ?", v.ID).Order("consented_at DESC, id DESC").Take(&out).Error
		}
		var name string
		if err := tx.Model(&Organization{}).Where("id = ?", v.OrganizationID).Pluck("name", &name).Error; err != nil {
			return err
		}
		out = VerificationConsent{ID: "vc_" + rid, OrganizationID: v.OrganizationID, VerificationSessionID: v.ID,
			ConsentedAt: s.clock(), ConsentUIVersion: ConsentUIVersion, TermsVersion: ConsentTermsVersion,
			PrivacyNoticeVersion: ConsentNoticeVersion, ShareContractHash: ShareContractHash(fields),
			RequestedClaimKeys: keys, SelectedClaimKeys: slices.Clone(keys), RequiredClaimKeys: required,
			BiometricConsent: true, DocumentProcessingConsent: true, PrivacyNoticeAcknowledged: true,
			ShareClaimsConsent: true, TermsAcknowledged: true, RPName: name, ControllerName: name}
		return tx.Create(&out).Error
	})
	return out, err
}

// blockedShareFields are never shown to or asked of the person (upstream's
// public share fields leave the document photo out).
var blockedShareFields = []string{"document_photo"}

// PublicShareFields is a session's share contract as the verify web app and
// the consent see it.
func PublicShareFields(c ShareContract) sessions.Contract {
	out := make(sessions.Contract, len(c))
	for k, f := range c {
		if !slices.Contains(blockedShareFields, k) {
			out[k] = f
		}
	}
	return out
}

// ShareContractHash is upstream's share_contract_hash: lowercase hex SHA-256
// of the contract's canonical JSON (object keys sorted as JavaScript's
// localeCompare sorts them, no spaces, values as JSON.stringify writes them).
func ShareContractHash(c sessions.Contract) string {
	var b bytes.Buffer
	b.WriteByte('{')
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, localeCompare)
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		f := c[k]
		// The field's members, already in localeCompare order.
		b.WriteString(jsString(k) + `:{"reason":` + jsString(f.Reason) + `,"required":`)
		if f.Required {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
		b.WriteString(`,"source":` + jsString(f.Source) + "}")
	}
	b.WriteByte('}')
	sum := sha256.Sum256(b.Bytes())
	return hex.EncodeToString(sum[:])
}

// jsString is JSON.stringify of a string: encoding/json's escapes without
// its HTML ones and without escaping U+2028 and U+2029, which JavaScript
// writes as they are.
func jsString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	out := strings.TrimSuffix(b.String(), "\n")
	return strings.NewReplacer(`\u2028`, "\u2028", `\u2029`, "\u2029").Replace(out)
}

// localeCompare orders claim keys as JavaScript's String.prototype.
// localeCompare does (ICU's root collation) for the ASCII the keys are
// made of: punctuation and symbols first, then digits, then letters, a
// letter's case deciding only a tie (lower first). Beyond ASCII it falls
// back to code point order.
func localeCompare(a, b string) int {
	weight := func(r rune) (primary int, tertiary int) {
		switch {
		case r >= '0' && r <= '9':
			return 1000 + int(r), 0
		case r >= 'a' && r <= 'z':
			return 2000 + int(r-'a'), 0
		case r >= 'A' && r <= 'Z':
			return 2000 + int(r-'A'), 1
		case r < 0x80:
			return int(r), 0
		}
		return 3000 + int(r), 0
	}
	ra, rb := []rune(a), []rune(b)
	tie := 0
	for i := 0; i < len(ra) && i < len(rb); i++ {
		pa, ta := weight(ra[i])
		pb, tb := weight(rb[i])
		if pa != pb {
			return pa - pb
		}
		if tie == 0 {
			tie = ta - tb
		}
	}
	if len(ra) != len(rb) {
		return len(ra) - len(rb)
	}
	return tie
}
