package store

import (
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"unicode/utf8"
)

// The store checks what it is given against the rules of the data it keeps,
// whatever the HTTP layer checked before (KAYLE_VALIDATION=off turns the
// contract check off, not these): a malformed value is refused with an
// InvalidInputError, never passed to the database to fail there.

// ErrInvalidInput is what every InvalidInputError is (errors.Is).
var ErrInvalidInput = errors.New("store: invalid input")

// ErrInvalidOrganizationName is an organization name that breaks upstream's
// rule (an InvalidInputError too), answered with upstream's own code.
var ErrInvalidOrganizationName = errors.New("store: invalid organization name")

// InvalidInputError is input the store refuses; Reason says what is wrong,
// in words fit for the caller.
type InvalidInputError struct {
	Reason string
	// kind, when set, is the more precise error it also is (errors.Is).
	kind error
}

func (e *InvalidInputError) Error() string { return "store: invalid input: " + e.Reason }
func (e *InvalidInputError) Is(target error) bool {
	return target == ErrInvalidInput || (e.kind != nil && target == e.kind)
}

func invalid(format string, a ...any) error {
	return &InvalidInputError{Reason: fmt.Sprintf(format, a...)}
}

// Limits of the data, as the contract states them.
const (
	DefaultPageLimit = 50
	MaxPageLimit     = 100
	MaxNameLength    = 120 // organization names, in UTF-16 code units once trimmed (upstream's count)
	MaxSlugLength    = 64
	MaxLogoURLLength = 2048
	MaxEmailLength   = 254
	MaxQueryLength   = 200 // audit-log search text, in characters
	MaxUserName      = 200
)

// ClampPageLimit brings a page size into 1..MaxPageLimit.
func ClampPageLimit(n int) int { return min(max(n, 1), MaxPageLimit) }

// text reports whether s is valid UTF-8 without NUL (which PostgreSQL's
// text cannot hold) and at most maxRunes characters.
func text(s string, maxRunes int) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0) && utf8.RuneCountInString(s) <= maxRunes
}

// checkSlug holds a slug to 1..MaxSlugLength characters from a-z, 0-9
// and '-'.
func checkSlug(slug string) error {
	if slug == "" || len(slug) > MaxSlugLength || strings.ContainsFunc(slug, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-')
	}) {
		return invalid("slug must be 1 to %d characters from a-z, 0-9 and '-'.", MaxSlugLength)
	}
	return nil
}

// clean is the organization as it is kept (its name trimmed), or the
// InvalidInputError of its first bad field, in upstream's order: slug,
// name, logo.
func (in NewOrganization) clean() (NewOrganization, error) {
	if err := checkSlug(in.Slug); err != nil {
		return in, err
	}
	name, err := cleanOrganizationName(in.Name)
	if err != nil {
		return in, err
	}
	in.Name = name
	if in.Logo != nil {
		if err := checkLogoURL(*in.Logo); err != nil {
			return in, err
		}
	}
	return in, nil
}

// msgInvalidOrganizationName is upstream's answer to a bad name.
const msgInvalidOrganizationName = "Organization name must be between 1 and 120 characters and cannot contain control characters."

// cleanOrganizationName applies upstream's name rule: trimmed as JavaScript
// trims, then 1..MaxNameLength UTF-16 units of valid UTF-8 holding no C0
// control character (NUL, CR and LF included) and no DEL. Names travel
// into mail and logs; a line break in one could write text of its own
// there.
func cleanOrganizationName(name string) (string, error) {
	name = jsTrim(name)
	if name == "" || utf16Len(name) > MaxNameLength || !utf8.ValidString(name) || hasC0Control(name) {
		return "", &InvalidInputError{Reason: msgInvalidOrganizationName, kind: ErrInvalidOrganizationName}
	}
	return name, nil
}

// checkLogoURL holds a logo to what a URL can be; that it is one of the
// server's uploads is the caller's check (the store does not know where
// logos are served).
func checkLogoURL(u string) error {
	if u == "" || len(u) > MaxLogoURLLength || !text(u, MaxLogoURLLength) || hasC0Control(u) {
		return invalid("logo must be the URL of an uploaded logo, at most %d characters.", MaxLogoURLLength)
	}
	return nil
}

// checkEmail is nil when email (already normalized) is one plain address.
func checkEmail(email string) error {
	a, err := mail.ParseAddress(email)
	if err != nil || a.Name != "" || a.Address != email || len(email) > MaxEmailLength || !text(email, MaxEmailLength) {
		return invalid("email must be an email address of at most %d characters.", MaxEmailLength)
	}
	return nil
}

func checkRole(r Role) error {
	if !r.Valid() {
		return invalid("role must be owner, admin or member.")
	}
	return nil
}

// maxAuditIDLength bounds an audit id; ours are 28 characters (newAuditID).
const maxAuditIDLength = 64

// wellFormedAuditID reports whether id has an audit id's shape ("aud_" and
// letters, digits, '-' or '_'), so that any other cursor is refused before
// the database sees it.
func wellFormedAuditID(id string) bool {
	if len(id) <= len("aud_") || len(id) > maxAuditIDLength || !strings.HasPrefix(id, "aud_") {
		return false
	}
	for i := len("aud_"); i < len(id); i++ {
		if c := id[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

var actorTypes = map[string]bool{ActorUser: true, ActorSystem: true, ActorAPIKey: true}

// check normalizes the filter: event names known and each once, so the
// list is at most len(KnownEvents) long whatever was asked.
func (f *AuditFilter) check() error {
	f.Events = knownEvents(f.Events)
	if f.ActorType != "" && !actorTypes[f.ActorType] {
		return invalid("actor_type must be user, system or api_key.")
	}
	if !text(f.Query, MaxQueryLength) {
		return invalid("q must be at most %d characters of text.", MaxQueryLength)
	}
	return nil
}

// knownEvents keeps the known names of events, each once, in the order given.
func knownEvents(events []string) []string {
	var out []string
	for _, e := range events {
		if slices.Contains(KnownEvents, e) && !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out
}
