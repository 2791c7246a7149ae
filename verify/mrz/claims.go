package mrz

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/kayle-id/orgs-api/sessions"
)

// ErrUnknownClaim: a key that is neither a catalog claim nor a valid age
// gate.
var ErrUnknownClaim = errors.New("mrz: unknown claim")

// DocumentID is kayle_document_id, a frozen contract (upstream
// apps/api/src/v1/verify, behaviour notes §4 and §6.1): lowercase hex
// HMAC-SHA256, keyed with the UTF-8 bytes of AUTH_SECRET, over
// "<org id>|<issuing state>|<document type>|<document number>", the org id
// trimmed, the other three trimmed, upper-cased and stripped of all
// whitespace. It uses the issuing state, not the nationality, and has no
// prefix. Changing any of this changes every id a relying party holds.
func DocumentID(secret, orgID, issuingState, documentType, documentNumber string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strings.TrimSpace(orgID) + "|" + idPart(issuingState) + "|" + idPart(documentType) + "|" + idPart(documentNumber)))
	return hex.EncodeToString(mac.Sum(nil))
}

// idPart: trim, upper-case, strip whitespace. JavaScript's toUpperCase
// and \s are Unicode-aware, as are strings.ToUpper and unicode.IsSpace;
// an MRZ field is ASCII anyway.
func idPart(s string) string {
	s = strings.ToUpper(strings.TrimSpace(s))
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
}

// DocumentID is the document's kayle_document_id for an organization. It
// is computed over the principal (first nine) characters of the number,
// as the reference reads it, so a long TD1 number keeps upstream's id.
func (m *MRZ) DocumentID(secret, orgID string) string {
	return DocumentID(secret, orgID, m.IssuingState, m.DocumentCode, m.PrincipalDocumentNumber)
}

// ClaimContext is what claims need beyond the MRZ.
type ClaimContext struct {
	Secret string    // AUTH_SECRET, for kayle_document_id
	OrgID  string    // the session's organization
	Now    time.Time // dates' centuries and age gates are relative to it
}

// Claim is one claim's value: a string, a bool for an age gate, or nil
// for kayle_human_id (upstream always shares null).
func (m *MRZ) Claim(key string, c ClaimContext) (any, error) {
	switch key {
	case "document_type_code":
		return m.DocumentCode, nil
	case "issuing_country_code":
		return m.IssuingState, nil
	case "family_name":
		return m.Surname, nil
	case "given_names":
		return m.GivenNames, nil
	case "document_number":
		return m.DocumentNumber, nil
	case "nationality_code":
		return m.Nationality, nil
	case sessions.KeyDateOfBirth:
		d, err := m.BirthDate(c.Now)
		if err != nil {
			return nil, err
		}
		return d.String(), nil
	case "sex_marker":
		return m.Sex, nil
	case "document_expiry_date":
		d, err := m.ExpiryDate(c.Now)
		if err != nil {
			return nil, err
		}
		return d.String(), nil
	case "mrz_optional_data":
		return m.OptionalData, nil
	case sessions.KeyDocumentID:
		return m.DocumentID(c.Secret, c.OrgID), nil
	case sessions.KeyHumanID:
		return nil, nil
	}
	if n, ok := sessions.ParseAgeGate(key); ok {
		return m.AgeOver(n, c.Now)
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownClaim, key)
}

// Claims is the value of each key, as Claim.
func (m *MRZ) Claims(keys []string, c ClaimContext) (map[string]any, error) {
	out := make(map[string]any, len(keys))
	for _, k := range keys {
		v, err := m.Claim(k, c)
		if err != nil {
			return nil, fmt.Errorf("claim %s: %w", k, err)
		}
		out[k] = v
	}
	return out, nil
}

// AgeOver is age_over_N: the age on now's UTC date is at least n.
func (m *MRZ) AgeOver(n int, now time.Time) (bool, error) {
	b, err := m.BirthDate(now)
	if err != nil {
		return false, err
	}
	age, err := AgeOn(b, dateOf(now))
	if err != nil {
		return false, err
	}
	return age >= n, nil
}
