// Package sessions holds the rules of the verification sessions relying
// parties create, in plain Go: the share contract a session asks the
// person to share (ParseShareFields), whether a session reveals only an
// age (AgeOnly), and the onboarding gate an organization must pass before
// it creates sessions (CheckOnboarding). Nothing here touches the network
// or the database.
package sessions

// Docs is the documentation link of every error of session creation.
const Docs = "https://kayle.id/docs/api/sessions#create"

// Error is a refused session creation (always HTTP 400), with upstream's
// wording verbatim.
type Error struct {
	Code    string
	Message string
	Hint    string
	Docs    string
	// schema marks a refusal of the request schema's (upstream's step 2,
	// answered before anything else about the body), as opposed to a
	// semantic rule's (step 5, after the redirect URL).
	schema bool
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Schema reports whether the refusal is the request schema's, which
// upstream answers before the body's other checks.
func (e *Error) Schema() bool { return e.schema }

// schemaStep marks err, an *Error of the schema step, as such.
func schemaStep(err error) error {
	if e, ok := err.(*Error); ok {
		e.schema = true
	}
	return err
}

func newError(code, message, hint string) *Error {
	return &Error{Code: code, Message: message, Hint: hint, Docs: Docs}
}

// The share contract's errors (error codes and wording are upstream's).
func errInvalidShareFields() *Error {
	return newError("INVALID_SHARE_FIELDS", "Invalid share_fields payload.", "share_fields must be an object map of claim keys.")
}

func errReasonRequired() *Error {
	return newError("REASON_REQUIRED", "Each share field requires a reason.", "Provide a non-empty reason for every requested claim.")
}

func errReasonTooLong() *Error {
	return newError("REASON_TOO_LONG", "Reason is too long.", "Reason must be 200 characters or fewer.")
}

func errTooManyShareFields() *Error {
	return newError("TOO_MANY_SHARE_FIELDS", "Too many share fields requested.", "The maximum number of share fields is 32.")
}

func errInvalidAgeGateKey() *Error {
	return newError("INVALID_AGE_GATE_KEY", "Invalid age gate claim key.", "Use `age_over_<integer>` with a valid threshold, for example `age_over_18`.")
}

func errUnknownClaimKey() *Error {
	return newError("UNKNOWN_CLAIM_KEY", "Unknown claim key.", "Use a supported claim key from the share contract allowlist.")
}

func errMultipleAgeGates() *Error {
	return newError("MULTIPLE_AGE_GATES_NOT_ALLOWED", "Multiple age gate claims are not allowed.", "Only one age_over_X claim can be provided per session.")
}

// The redirect URL's errors (checked in store.CheckSessionRedirect).
const redirectHint = "Verify a domain on the Domains page that covers this redirect host. Any subdomain of a verified apex is accepted by default; add explicit redirect URI patterns to narrow further."

// ErrInvalidRedirectURL is INVALID_REDIRECT_URL with message (upstream has
// several: the apex normalisation's messages, or "Redirect URL is not a
// valid https:// URL.").
func ErrInvalidRedirectURL(message string) *Error {
	return newError("INVALID_REDIRECT_URL", message, redirectHint)
}

// MsgRedirectNotHTTPS is INVALID_REDIRECT_URL's message for a URL the
// schema rule refuses.
const MsgRedirectNotHTTPS = "Redirect URL is not a valid https:// URL."

// ErrRedirectDomainNotVerified: the host is on none of the organization's
// active verified domains.
func ErrRedirectDomainNotVerified() *Error {
	return newError("REDIRECT_URL_DOMAIN_NOT_VERIFIED", "Redirect URL host is not on a verified domain for this organization.", redirectHint)
}

// ErrRedirectPatternNotRegistered: the host's domain has redirect-URI
// patterns and none is a prefix of the URL.
func ErrRedirectPatternNotRegistered() *Error {
	return newError("REDIRECT_URL_PATTERN_NOT_REGISTERED", "Redirect URL host is on a verified domain but does not match any registered redirect URI pattern.", redirectHint)
}

// The onboarding gate's errors.
func errRPTermsRequired() *Error {
	return newError("RP_TERMS_ACCEPTANCE_REQUIRED",
		"Accept the current relying-party integration terms before creating production verification sessions.",
		"An owner must accept the current Kayle ID Integration Terms in the organization settings.")
}

func errOnboardingIncomplete(hint string) *Error {
	return newError("ONBOARDING_INCOMPLETE", "Finish onboarding the organization before creating verification sessions.", hint)
}
