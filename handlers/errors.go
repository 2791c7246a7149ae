package handlers

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/kayle-id/orgs-api/domains"
	api "github.com/kayle-id/orgs-api/gen/api"
	"github.com/kayle-id/orgs-api/logo"
	"github.com/kayle-id/orgs-api/store"
)

// DocsBase is where every error's docs link points; the anchor names the error family.
const DocsBase = "https://kayle.id/docs/api/errors#"

// APIError is one answer of the error vocabulary: an HTTP status and the
// four strings of the envelope's error object. It is built here, once, and
// picked by name everywhere else.
type APIError struct {
	Status  int
	Code    string
	Message string
	Hint    string
	Docs    string
	// Details, when set, is sent as the error's details object (upstream's
	// domain errors carry one).
	Details map[string]any
	// RetryAfter, when set, is sent as the Retry-After header.
	RetryAfter time.Duration
}

func (e *APIError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// Object is the error object of the envelope.
func (e *APIError) Object() api.ErrorObject {
	o := api.ErrorObject{Code: e.Code, Message: e.Message, Hint: e.Hint, Docs: e.Docs}
	if e.Details != nil {
		d := e.Details
		o.Details = &d
	}
	return o
}

// Envelope is the whole error body: {"data": null, "error": {...}}.
func (e *APIError) Envelope() api.ErrorEnvelope { return api.ErrorEnvelope{Error: e.Object()} }

// WithMessage returns a copy with another message (the same error, worded
// for a different operation).
func (e *APIError) WithMessage(msg string) *APIError { c := *e; c.Message = msg; return &c }

// WithHint returns a copy with another hint.
func (e *APIError) WithHint(hint string) *APIError { c := *e; c.Hint = hint; return &c }

// WithRetryAfter returns a copy that asks the caller to come back after d.
func (e *APIError) WithRetryAfter(d time.Duration) *APIError { c := *e; c.RetryAfter = d; return &c }

// RetryAfterHeader is the Retry-After value for d: whole seconds, at least one.
func RetryAfterHeader(d time.Duration) string {
	return strconv.Itoa(max(1, int(math.Ceil(d.Seconds()))))
}

// unavailableRetry is how long a 503 of this server asks callers to wait.
const unavailableRetry = 2 * time.Second

func newErr(status int, code, anchor, message, hint string) *APIError {
	return &APIError{Status: status, Code: code, Message: message, Hint: hint, Docs: DocsBase + anchor}
}

// The vocabulary. Messages, hints and anchors reproduce upstream's where
// upstream has them.
var (
	ErrUnauthorized = newErr(http.StatusUnauthorized, "UNAUTHORIZED", "unauthorized",
		"Unauthorized", "Send a valid session token in the Authorization header, using the Bearer scheme.")

	ErrSelectOrgToManage = newErr(http.StatusForbidden, "FORBIDDEN", "forbidden",
		"Select an organization to manage members.", "The active session must have an organization selected.")
	ErrNotAMember = newErr(http.StatusForbidden, "FORBIDDEN", "forbidden",
		"You are not a member of this organization.", "Switch to an organization where you have an active membership.")
	ErrLastOwnerLeave = newErr(http.StatusConflict, "LAST_OWNER", "conflict",
		"You are the only active owner of this organization. Promote another member to owner before leaving.",
		"Assign owner role to another active member, then retry.")
	ErrFrozen = newErr(http.StatusGone, "ORGANIZATION_FROZEN", "organization_frozen",
		"This organization is scheduled for deletion and cannot be modified.", "Cancel the pending deletion before leaving.")

	ErrCannotSuspend = newErr(http.StatusForbidden, "FORBIDDEN", "forbidden",
		"Only an owner or admin can suspend members.", "Ask an owner or admin of this organization to suspend the member.")
	ErrMemberNotFound = newErr(http.StatusNotFound, "MEMBER_NOT_FOUND", "not_found",
		"Member not found in this organization.", "The member may already be suspended or no longer belong to this organization.")
	ErrLastOwnerSuspend = newErr(http.StatusConflict, "LAST_OWNER", "conflict",
		"This member is the only active owner. Promote another member to owner before suspending them.",
		"Assign owner role to another active member, then retry.")

	ErrCannotReinstate = newErr(http.StatusForbidden, "FORBIDDEN", "forbidden",
		"Only an owner or admin can reinstate members.", "Ask an owner or admin of this organization to reinstate the member.")
	ErrOwnerToReinstateOwner = newErr(http.StatusForbidden, "FORBIDDEN", "forbidden",
		"Only an owner can reinstate an owner.", "Ask an owner of this organization to reinstate the member.")
	ErrNotSuspended = newErr(http.StatusNotFound, "MEMBER_NOT_FOUND", "not_found",
		"Member is not currently suspended.", "Confirm the member id and that the row is suspended.")
	ErrActiveMembershipConflict = newErr(http.StatusConflict, "ACTIVE_MEMBERSHIP_CONFLICT", "conflict",
		"This user already has another active membership in this organization.",
		"Suspend or remove the conflicting active membership before reinstating this one.")

	ErrCannotChangeRole = newErr(http.StatusForbidden, "FORBIDDEN", "forbidden",
		"Only an owner or admin can change member roles.", "Ask an owner or admin of this organization to change the role.")
	ErrOwnerRoleByOwners = newErr(http.StatusForbidden, "FORBIDDEN", "forbidden",
		"Only an owner can grant or remove the owner role.", "Ask an owner of this organization to change the role.")
	ErrLastOwnerDemote = newErr(http.StatusConflict, "LAST_OWNER", "conflict",
		"This member is the only active owner. Promote another member to owner before changing their role.",
		"Assign owner role to another active member, then retry.")

	ErrCannotInvite = newErr(http.StatusForbidden, "FORBIDDEN", "forbidden",
		"Only an owner or admin can invite members.", "Ask an owner or admin of this organization to send the invitation.")
	ErrOwnerToInviteOwner = newErr(http.StatusForbidden, "FORBIDDEN", "forbidden",
		"Only an owner can invite an owner.", "Invite the person with another role, or ask an owner to invite them.")
	ErrAlreadyMember = newErr(http.StatusConflict, "ALREADY_MEMBER", "conflict",
		"This person already has an active membership in this organization.", "No invitation is needed.")
	ErrInvitationPending = newErr(http.StatusConflict, "INVITATION_PENDING", "conflict",
		"An invitation for this email is already pending.", "Ask the person to accept the pending invitation.")
	ErrSelectOrgForInvitations = newErr(http.StatusForbidden, "FORBIDDEN", "forbidden",
		"Select an organization to view invitations.", "The active session must have an organization selected.")
	ErrCannotViewInvitations = newErr(http.StatusForbidden, "FORBIDDEN", "forbidden",
		"Only an owner or admin can view invitations.", "Ask an owner or admin of this organization to list them.")
	ErrCannotCancelInvitation = newErr(http.StatusForbidden, "FORBIDDEN", "forbidden",
		"Only an owner or admin can cancel invitations.", "Ask an owner or admin of this organization to cancel it.")
	ErrInvitationNotFound = newErr(http.StatusNotFound, "INVITATION_NOT_FOUND", "not_found",
		"Invitation not found.", "The invitation may have expired, been used, or be addressed to another email.")
	ErrEmailNotVerified = newErr(http.StatusForbidden, "EMAIL_NOT_VERIFIED", "forbidden",
		"Your identity provider has not verified your email address, so it cannot accept invitations.",
		"Verify your email address with your identity provider, sign in again, then accept the invitation.")

	ErrSelectOrgToView = newErr(http.StatusForbidden, "FORBIDDEN", "forbidden",
		"Select an organization to view members.", "The active session must have an organization selected.")
	ErrSelectOrgForAudit = newErr(http.StatusForbidden, "FORBIDDEN", "forbidden",
		"Select an organization to view audit logs.", "The active session must have an organization selected.")
	ErrCannotViewAudit = newErr(http.StatusForbidden, "FORBIDDEN", "forbidden",
		"Only an owner or admin can view audit logs.", "Ask an owner or admin of this organization to share the log.")

	ErrOrgNotFound = newErr(http.StatusNotFound, "ORGANIZATION_NOT_FOUND", "not_found",
		"Organization not found.", "Check the organization id; you can only select organizations you belong to.")

	ErrOrganizationLimit = newErr(http.StatusForbidden, "ORGANIZATION_LIMIT_REACHED", "forbidden",
		"You own as many organizations as one account may.", "Delete an organization you no longer need, or hand it to another owner, then retry.")
	ErrSlugTaken = newErr(http.StatusBadRequest, "SLUG_TAKEN", "bad_request",
		"That slug is already in use.", "Choose a different slug.")
	ErrInvalidOrganizationName = newErr(http.StatusBadRequest, "INVALID_ORGANIZATION_NAME", "bad_request",
		"Organization name must be between 1 and 120 characters and cannot contain control characters.",
		"Send a name of 1 to 120 characters, without line breaks or other control characters.")
	ErrInvalidCursor = newErr(http.StatusBadRequest, "INVALID_CURSOR", "bad_request",
		"starting_after does not name a row of this list.", "Pass the next_cursor of the previous page, or omit starting_after.")

	ErrGoneHardDelete = newErr(http.StatusGone, "MEMBERSHIP_HARD_DELETE_BLOCKED", "gone",
		"This endpoint has been replaced by the suspension flow. Membership rows are preserved so audit-log entries keep attributing past actions to the user.",
		"Use DELETE /v1/auth/orgs/members/{id} (admin/owner) or POST /v1/auth/orgs/members/leave (self).")

	ErrUnavailable = newErr(http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE", "service_unavailable",
		"The service is temporarily unavailable.", "Retry the request in a few seconds.").WithRetryAfter(unavailableRetry)
	ErrBusy = newErr(http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE", "service_unavailable",
		"The server is busy.", "Retry the request in a few seconds.").WithRetryAfter(unavailableRetry)
	ErrBodyTimeout = newErr(http.StatusRequestTimeout, "REQUEST_TIMEOUT", "bad_request",
		"The request body did not arrive in time.", "Send the whole body at once, then retry.")
	ErrProviderUnavailable = newErr(http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE", "service_unavailable",
		"The identity provider cannot be reached to check the token.", "Retry the request in a few seconds.").WithRetryAfter(unavailableRetry)
	ErrInternal = newErr(http.StatusInternalServerError, "INTERNAL_SERVER_ERROR", "internal_server_error",
		"An unexpected error occurred.", "Retry later; if it persists, contact support with the request id.")
)

// Organization-deletion errors share upstream's hint rule and docs anchor.
const (
	deletionHint     = "See the docs for the recovery path for this error."
	deletionCodeHint = "Request a new code to try again."
)

func deletionErr(status int, code, message, hint string) *APIError {
	return newErr(status, code, "organization_deletion", message, hint)
}

var (
	ErrDeletionOrgNotFound       = deletionErr(http.StatusNotFound, "ORGANIZATION_NOT_FOUND", "Organization not found.", deletionHint)
	ErrDeletionNotAMember        = deletionErr(http.StatusForbidden, "NOT_A_MEMBER", "You are not a member of this organization.", deletionHint)
	ErrDeletionRequestOwnerOnly  = deletionErr(http.StatusForbidden, "FORBIDDEN", "Only an owner can request organization deletion.", deletionHint)
	ErrDeletionConfirmOwnerOnly  = deletionErr(http.StatusForbidden, "FORBIDDEN", "Only an owner can confirm organization deletion.", deletionHint)
	ErrDeletionCancelRole        = deletionErr(http.StatusForbidden, "FORBIDDEN", "Only owners or admins can cancel a scheduled deletion.", deletionHint)
	ErrAlreadyScheduled          = deletionErr(http.StatusConflict, "ALREADY_SCHEDULED", "This organization is already scheduled for deletion.", deletionHint)
	ErrAlreadyScheduledToRequest = ErrAlreadyScheduled.WithMessage("This organization is already scheduled for deletion. Cancel it first to start over.")
	ErrNotScheduled              = deletionErr(http.StatusNotFound, "NOT_SCHEDULED", "This organization is not scheduled for deletion.", deletionHint)
	ErrNoPendingCode             = deletionErr(http.StatusBadRequest, "INVALID_CODE", "No pending confirmation code for this organization. Request a new code.", deletionCodeHint)
	ErrInvalidCode               = deletionErr(http.StatusBadRequest, "INVALID_CODE", "Confirmation code does not match.", deletionCodeHint)
	ErrCodeExpired               = deletionErr(http.StatusBadRequest, "CODE_EXPIRED", "Confirmation code has expired. Request a new code.", deletionCodeHint)
	// Same code as any wrong code, so clients need nothing new; the message
	// says the code is spent (the right one too, once spent).
	ErrCodeAttemptsExhausted = deletionErr(http.StatusBadRequest, "INVALID_CODE",
		fmt.Sprintf("After %d wrong attempts this confirmation code no longer works. Request a new code.", store.MaxDeletionCodeAttempts), deletionCodeHint)
	// Upstream documents a 500 for this operation, and a relay that fails
	// is the server's failure, not the caller's.
	ErrCodeNotSent = deletionErr(http.StatusInternalServerError, "CODE_NOT_SENT",
		"The confirmation code could not be mailed, so no code was issued.", deletionCodeHint)
)

// Organization administration: API keys, logos, business details, terms.
var (
	// ErrNoOrganizationForKeys is upstream's bare 403 of the API-key routes,
	// given the envelope's hint and docs.
	ErrNoOrganizationForKeys = newErr(http.StatusForbidden, "FORBIDDEN", "forbidden",
		"Forbidden", "The active session must have an organization selected.")
	// ErrFrozenForKeys is the 410 of the API-key routes and the logo upload;
	// upstream links it to a page of its own.
	ErrFrozenForKeys = &APIError{Status: http.StatusGone, Code: "ORGANIZATION_FROZEN",
		Message: "This organization is scheduled for deletion. API keys and verification flows are disabled until the deletion is canceled.",
		Hint:    "Cancel the pending deletion from the dashboard, then retry.", Docs: "https://kayle.id/docs/errors/organization-frozen"}
	ErrCannotListKeys   = keysForbidden("You are not authorized to list API keys")
	ErrCannotCreateKeys = keysForbidden("You are not authorized to create API keys")
	ErrCannotUpdateKeys = keysForbidden("You are not authorized to update API keys")
	ErrCannotDeleteKeys = keysForbidden("You are not authorized to delete API keys")
	ErrKeyNotFound      = newErr(http.StatusBadRequest, "API_KEY_NOT_FOUND", "api_key_not_found",
		"API key not found", "Confirm the API key ID belongs to this organization.")
	ErrKeyNotDeleted = newErr(http.StatusBadRequest, "API_KEY_NOT_DELETED", "api_key_not_deleted",
		"API key not found", "Confirm the API key ID belongs to this organization.")
	ErrKeyLimit = newErr(http.StatusBadRequest, "API_KEY_LIMIT_REACHED", "bad_request",
		"This organization has the most API keys allowed.", "Delete an API key you no longer use, then retry.")
	// Unexpected failures of the API-key routes, worded as upstream's.
	ErrKeysListFailed = newErr(http.StatusInternalServerError, "INTERNAL_SERVER_ERROR", "internal_server_error",
		"An unexpected error occurred", "Please try again later.")
	ErrKeysChangeFailed = newErr(http.StatusInternalServerError, "INTERNAL_SERVER_ERROR", "internal_server_error",
		"An unexpected error occurred", "Please try again in a few moments.")

	ErrCannotUploadLogo = newErr(http.StatusForbidden, "FORBIDDEN", "forbidden",
		"Only an owner or admin can upload an organization logo.", "Sign in as an organization owner or admin.")
	ErrLogoUploadFailed = newErr(http.StatusInternalServerError, "INTERNAL_SERVER_ERROR", "internal_server_error",
		"Failed to upload organization logo.", "Please try again in a few moments.")
	ErrLogoNotUploaded = newErr(http.StatusBadRequest, "INVALID_ORGANIZATION_LOGO", "bad_request",
		"Organization logo must be uploaded through the logo endpoint.", "Upload the image with POST /v1/auth/orgs/logo and send the URL it returns.")

	ErrSelectOrgForUpdate = newErr(http.StatusForbidden, "FORBIDDEN", "forbidden",
		"Select an organization to update it.", "The active session must have an organization selected.")
	ErrCannotUpdateOrg = newErr(http.StatusForbidden, "FORBIDDEN", "forbidden",
		"Only an owner or admin can update the organization.", "Ask an owner or admin of this organization to update it.")
	// ErrUpdateOrgNotFound answers a named organization the caller has no
	// active membership of, whether or not it exists (upstream: 400
	// USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION for both).
	ErrUpdateOrgNotFound = newErr(http.StatusNotFound, "ORGANIZATION_NOT_FOUND", "not_found",
		"Organization not found.", "Check the organizationId; you can only update organizations you are an active member of.")

	ErrSelectOrgForBusiness = newErr(http.StatusForbidden, "FORBIDDEN", "forbidden",
		"Select an organization to update business details.", "The active session must have an organization selected.")
	ErrCannotUpdateBusiness = newErr(http.StatusForbidden, "FORBIDDEN", "forbidden",
		"Only an owner can update business details.", "Ask an owner of this organization to update them.")
	ErrBusinessNotFound = newErr(http.StatusNotFound, "ORGANIZATION_NOT_FOUND", "not_found",
		"Organization not found.", "Provide an existing organization ID.")
	ErrBusinessUpdateFailed = newErr(http.StatusInternalServerError, "INTERNAL_SERVER_ERROR", "internal_server_error",
		"Failed to update business details.", "Please try again in a few moments.")

	ErrVerificationOrgNotFound = ErrBusinessNotFound
	ErrAlreadyVerified         = newErr(http.StatusConflict, "ORGANIZATION_ALREADY_VERIFIED", "conflict",
		"Organization is already verified.", "Verified organizations do not need to re-accept the verification terms.")
	ErrCannotAcceptVerification = newErr(http.StatusForbidden, "FORBIDDEN", "forbidden",
		"Only an owner can accept verification terms.", "Ask an owner of this organization to accept the terms.")
	ErrVerificationTermsFailed = newErr(http.StatusInternalServerError, "INTERNAL_SERVER_ERROR", "internal_server_error",
		"Failed to record verification terms acceptance.", "Please try again in a few moments.")

	ErrSelectOrgForRPTerms = newErr(http.StatusForbidden, "FORBIDDEN", "forbidden",
		"Select an organization to manage Kayle ID Integration Terms.", "The active session must have an organization selected.")
	ErrCannotAcceptRPTerms = newErr(http.StatusForbidden, "FORBIDDEN", "forbidden",
		"Only an owner can accept Kayle ID Integration Terms.", "Ask an owner of this organization to accept the current Kayle ID Integration Terms.")
	ErrRPTermsFailed = newErr(http.StatusInternalServerError, "INTERNAL_SERVER_ERROR", "internal_server_error",
		"Failed to record Kayle ID Integration Terms acceptance.", "Please try again in a few moments.")
)

func keysForbidden(message string) *APIError {
	return newErr(http.StatusForbidden, "FORBIDDEN", "forbidden", message, "Please contact an administrator to request access.")
}

// invalidLogo is a logo refused by upstream's checks (or by a decoder).
func invalidLogo(p *logo.Problem) *APIError {
	return newErr(http.StatusBadRequest, "INVALID_LOGO", "invalid_logo", p.Error(),
		"Provide a PNG, JPEG, GIF, or WebP image under 1 MiB whose content type matches its bytes.")
}

// invalidBusinessDetail names the business detail refused and why.
func invalidBusinessDetail(field string) *APIError {
	msg, ok := businessDetailMessages[field]
	if !ok {
		msg = "Business type must be one of: sole, business."
	}
	return newErr(http.StatusBadRequest, "INVALID_BUSINESS_DETAILS", "bad_request", msg, "Check the "+field+" value and resubmit.")
}

var businessDetailMessages = map[string]string{
	"businessName":               "Legal name must be between 1 and 200 characters and cannot contain control characters.",
	"businessJurisdiction":       "Jurisdiction must be between 1 and 120 characters and cannot contain control characters.",
	"businessRegistrationNumber": "Registration number must be between 1 and 100 characters and cannot contain control characters.",
}

// metadataMessages are upstream's messages for a metadata value refused,
// by key; a key not here (or none) gets the generic message.
var metadataMessages = map[string]string{
	"":                  "Organization metadata may only include supported public profile and RP compliance fields.",
	"website":           "Organization website must be a valid http:// or https:// URL without embedded credentials.",
	"privacyPolicyUrl":  "Privacy policy link must be a valid http:// or https:// URL without embedded credentials.",
	"termsOfServiceUrl": "Terms of service link must be a valid http:// or https:// URL without embedded credentials.",
	"fallbackIdvUrl":    "Fallback IDV link must be a valid http:// or https:// URL without embedded credentials.",
	"appealUrl":         "Appeal or human review link must be a valid http:// or https:// URL without embedded credentials.",
	"complaintsUrl":     "Complaints link must be a valid http:// or https:// URL without embedded credentials.",
	"supportEmail":      "Support email must be a valid email address.",
}

// metadataLabels name the keys in this server's own messages (limits
// upstream does not have).
var metadataLabels = map[string]string{
	"article6Basis": "Article 6 basis", "article9Condition": "Article 9 condition",
	"controllerJurisdiction": "Controller jurisdiction", "description": "Description",
	"legalControllerName": "Legal controller name", "website": "Organization website",
	"privacyPolicyUrl": "Privacy policy link", "termsOfServiceUrl": "Terms of service link",
	"fallbackIdvUrl": "Fallback IDV link", "appealUrl": "Appeal or human review link", "complaintsUrl": "Complaints link",
}

// invalidMetadata is the answer to metadata the store refused.
func invalidMetadata(e *store.MetadataError) *APIError {
	msg, ok := metadataMessages[e.Field]
	hint := "Send only the supported metadata keys, each a string, null or (usesKayleForConsequentialDecisions) a boolean."
	if e.Field != "" {
		hint = "Check the " + e.Field + " value and resubmit."
	}
	if e.TooLong {
		for _, k := range store.MetadataKeys {
			if k.Name != e.Field {
				continue
			}
			msg, ok = fmt.Sprintf("%s must be at most %d characters.", metadataLabels[k.Name], k.Max), true
			if k.Text() {
				msg = fmt.Sprintf("%s must be at most %d characters of valid text, without control characters other than tabs and line breaks.", metadataLabels[k.Name], k.Max)
			}
		}
	}
	if !ok {
		msg = metadataMessages[""]
	}
	return newErr(http.StatusBadRequest, "INVALID_ORGANIZATION_METADATA", "bad_request", msg, hint)
}

// BadRequest is the answer to input that breaks the contract; reason says what.
func BadRequest(reason string) *APIError {
	return newErr(http.StatusBadRequest, "BAD_REQUEST", "bad_request", reason, "Fix the request to match the API reference, then retry.")
}

// failure is an unexpected error answered with an operation's own wording:
// errors.As finds the answer, the error handler logs the cause with the
// request id. Handlers make one with answerAs or unexpectedAs.
type failure struct {
	answer *APIError
	cause  error
}

func (f *failure) Error() string   { return f.cause.Error() }
func (f *failure) Unwrap() []error { return []error{f.answer, f.cause} }

// answerAs answers e, whatever the cause; the cause is logged, not shown.
// For failures of another service that the operation documents as its own
// (a relay that did not take the mail, a bucket that did not take the logo).
func answerAs(e *APIError, cause error) error { return &failure{answer: e, cause: cause} }

// unexpectedAs answers e for an error the operation does not name, except
// that a database that cannot be reached, or a request whose time ran out
// or whose caller left, keeps its own answer (503).
func unexpectedAs(e *APIError, err error) error {
	if errors.Is(err, store.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return err
	}
	return answerAs(e, err)
}

// Domain and redirect-URI errors. Upstream's domain service answers with
// docs links without an anchor and (domain operations only) a details
// object; its gates (no organization selected, frozen) use the usual
// vocabulary.
const (
	// DocsPlain is the docs link of upstream's domain and redirect-URI errors.
	DocsPlain = "https://kayle.id/docs/api/errors"

	domainHint          = "Refresh the Domains page and try again."
	challengeHint       = "Start a new challenge from the Domains page."
	coverHint           = "Verify a domain that covers this URL's host first."
	apexInvalidHint     = "Provide a registrable domain such as `acme.co`. Subdomains and bare public suffixes are not accepted."
	invalidPatternHint  = "Provide a fully-qualified https:// URL whose host is one of your verified domains or a subdomain of one."
	propagationHint     = "Wait for DNS to propagate (typically a few minutes) and verify again."
	internalDomainHint  = "Please try again in a few moments."
	msgNotPropagated    = "We couldn't find the verification TXT record yet. DNS may take a few minutes to propagate."
	msgValueMismatch    = "Verification TXT record value does not match. Check the record and try again."
	msgOwnerForDomains  = "Only an owner can manage verified domains."
	takeoverMessageTail = " currently has an active verification for this domain. Acknowledge the takeover to continue."
)

func domainErr(status int, code, message, hint string) *APIError {
	return &APIError{Status: status, Code: code, Message: message, Hint: hint, Docs: DocsPlain, Details: map[string]any{}}
}

func redirectErr(status int, code, message, hint string) *APIError {
	return &APIError{Status: status, Code: code, Message: message, Hint: hint, Docs: DocsPlain}
}

var (
	ErrSelectOrgForDomains = newErr(http.StatusForbidden, "FORBIDDEN", "forbidden",
		"Select an organization to manage verified domains.", "The active session must have an organization selected.")
	ErrSelectOrgForRedirects = newErr(http.StatusForbidden, "FORBIDDEN", "forbidden",
		"Select an organization to manage redirect URIs.", "The active session must have an organization selected.")
	ErrFrozenDomains   = ErrFrozen.WithHint("Cancel the pending deletion before managing verified domains.")
	ErrFrozenRedirects = ErrFrozen.WithHint("Cancel the pending deletion before managing redirect URIs.")

	ErrDomainOwnerOnly   = domainErr(http.StatusForbidden, "FORBIDDEN", msgOwnerForDomains, "Ask an owner of this organization to perform this action.")
	ErrApexInvalid       = domainErr(http.StatusBadRequest, "APEX_INVALID", "", apexInvalidHint)
	ErrChallengeNotFound = domainErr(http.StatusNotFound, "CHALLENGE_NOT_FOUND", "Challenge not found. Start a new DNS challenge.", challengeHint)
	ErrChallengeExpired  = domainErr(http.StatusBadRequest, "CHALLENGE_EXPIRED", "Challenge has expired. Start a new DNS challenge.", challengeHint)
	ErrDNSNotPropagated  = domainErr(http.StatusConflict, "DNS_NOT_PROPAGATED", msgNotPropagated, propagationHint)
	ErrDNSValueMismatch  = domainErr(http.StatusConflict, "DNS_NOT_PROPAGATED", msgValueMismatch, propagationHint)
	ErrDNSLookupFailed   = domainErr(http.StatusServiceUnavailable, "DNS_LOOKUP_FAILED",
		"DNS lookup failed. Please try again in a moment.", "Network error reaching the DNS resolver. Try again shortly.").WithRetryAfter(dnsRetryAfter)
	ErrDNSBadResponse = domainErr(http.StatusBadGateway, "DNS_BAD_RESPONSE",
		"The DNS resolver sent an answer that could not be read.", "The resolver this server uses is misbehaving. Try again later; if it persists, tell the operator.")
	ErrDomainNotFound    = domainErr(http.StatusNotFound, "DOMAIN_NOT_FOUND", "Verified domain not found.", domainHint)
	ErrDomainRateLimited = newErr(http.StatusTooManyRequests, "RATE_LIMITED", "rate_limited",
		"Too many domain verification requests for this organization.", "Wait for the number of seconds in the Retry-After header, then retry.")

	ErrRedirectOwnerOnly = redirectErr(http.StatusForbidden, "FORBIDDEN", msgOwnerForDomains, domainHint)
	ErrInvalidPattern    = newErr(http.StatusBadRequest, "INVALID_PATTERN", "bad_request", "", invalidPatternHint)
	ErrPatternUncovered  = redirectErr(http.StatusUnprocessableEntity, "DOMAIN_NOT_FOUND",
		"Pattern host does not match any of your verified domains.", coverHint)
	ErrRedirectURINotFound = redirectErr(http.StatusNotFound, "DOMAIN_NOT_FOUND", "Redirect URI not found.", coverHint)
	ErrRedirectURILimit    = redirectErr(http.StatusBadRequest, "REDIRECT_URI_LIMIT",
		fmt.Sprintf("This organization already has the most redirect URIs allowed (%d).", domains.MaxRedirectURIs), "Remove a redirect URI you no longer use, then add this one.")
)

// ErrApexTakeoverRequired names the organization holding the apex.
func ErrApexTakeoverRequired(holder string) *APIError {
	e := domainErr(http.StatusConflict, "APEX_TAKEOVER_REQUIRED", holder+takeoverMessageTail,
		"Another organization currently holds an active verification for this domain. Re-submit with `acknowledge_takeover: true` to transfer it.")
	e.Details = map[string]any{"conflictingOrganizationName": holder}
	return e
}

// internalErr is upstream's 500 for a failure inside a domain or
// redirect-URI operation, worded per operation.
func internalErr(message string) *APIError {
	return newErr(http.StatusInternalServerError, "INTERNAL_SERVER_ERROR", "internal_server_error", message, internalDomainHint)
}

// Relying-party API errors (verification sessions and analytics). The 403s
// are upstream's bare ones, given the envelope's hint and docs.
var (
	ErrRPNoOrganization = newErr(http.StatusForbidden, "FORBIDDEN", "forbidden",
		"Forbidden", "Select an active organization for this session, or call with an API key.")
	ErrRPForbidden = newErr(http.StatusForbidden, "FORBIDDEN", "forbidden",
		"Forbidden", "API keys need the operation's scope; dashboard users need an active membership (owner or admin to change sessions).")
	ErrSessionNotFound = &APIError{Status: http.StatusNotFound, Code: "NOT_FOUND", Message: "Session not found.",
		Hint: "The session with the given ID was not found.", Docs: "https://kayle.id/docs/api/sessions#get-by-id"}
	ErrSessionNotFoundForCancel = &APIError{Status: http.StatusNotFound, Code: "NOT_FOUND", Message: "Session not found.",
		Hint: "The session with the given ID was not found.", Docs: "https://kayle.id/docs/api/sessions#cancel-by-id"}
	ErrWebhookEndpointUnavailable = &APIError{Status: http.StatusBadRequest, Code: "WEBHOOK_ENDPOINT_UNAVAILABLE",
		Message: "Webhook endpoint is unavailable.",
		Hint:    "Provide enabled webhook endpoint IDs that belong to this organization, or omit `webhook_endpoint_id` to fan out to all enabled subscribed endpoints.",
		Docs:    "https://kayle.id/docs/api/sessions#create"}
	ErrUnverifiedOrgLimit = &APIError{Status: http.StatusTooManyRequests, Code: "ORG_NOT_VERIFIED_LIMIT_EXCEEDED",
		Message: "Unverified organizations are limited to 5 identity-revealing sessions per 24 hours.",
		Hint:    "Verify the organization in the platform settings, or wait until the rolling window resets. Age-gate-only sessions remain available.",
		Docs:    "https://kayle.id/docs/api/sessions#create"}
	// ErrRPInternal is the 500 these operations document, fixed strings.
	ErrRPInternal = &APIError{Status: http.StatusInternalServerError, Code: "INTERNAL_SERVER_ERROR",
		Message: "Internal server error.", Hint: "The server encountered an error.", Docs: "https://kayle.id/docs/api/errors"}
	// ErrSessionNotActive is the sandbox completion of a session that has
	// already ended (ours: upstream has no such operation).
	ErrSessionNotActive = newErr(http.StatusConflict, "SESSION_NOT_ACTIVE", "conflict",
		"The session has already ended.", "Only a created or in-progress session can be completed; create a new one.")
)

// Webhook and event errors, with upstream's codes, messages, hints and
// docs links (its own https://kayle.id/docs/api/webhooks/... set).
const (
	webhookDocs          = "https://kayle.id/docs/api/webhooks/"
	endpointNotFoundMsg  = "Webhook endpoint not found."
	endpointNotFoundHint = "The webhook endpoint with the given ID was not found."
	keyNotFoundMsg       = "Webhook encryption key not found."
	keyNotFoundHint      = "The webhook encryption key with the given ID was not found."
	eventNotFoundMsg     = "Webhook event not found."
	eventNotFoundHint    = "The webhook event with the given ID was not found."
)

func webhookErr(status int, code, message, hint, docs string) *APIError {
	return &APIError{Status: status, Code: code, Message: message, Hint: hint, Docs: webhookDocs + docs}
}

var (
	ErrEndpointNotFoundGet    = webhookErr(http.StatusNotFound, "NOT_FOUND", endpointNotFoundMsg, endpointNotFoundHint, "endpoints#get-by-id")
	ErrEndpointNotFoundUpdate = webhookErr(http.StatusNotFound, "NOT_FOUND", endpointNotFoundMsg, endpointNotFoundHint, "endpoints#update")
	ErrEndpointNotFoundDelete = webhookErr(http.StatusNotFound, "NOT_FOUND", endpointNotFoundMsg, endpointNotFoundHint, "endpoints#delete")
	ErrEndpointNotFoundReveal = webhookErr(http.StatusNotFound, "NOT_FOUND", endpointNotFoundMsg, endpointNotFoundHint, "endpoints#reveal-signing-secret")
	ErrEndpointNotFoundRotate = webhookErr(http.StatusNotFound, "NOT_FOUND", endpointNotFoundMsg, endpointNotFoundHint, "endpoints#rotate-signing-secret")
	ErrEndpointNotFoundKeys   = webhookErr(http.StatusNotFound, "NOT_FOUND", endpointNotFoundMsg, endpointNotFoundHint, "keys#create")
	ErrKeyNotFoundDeactivate  = webhookErr(http.StatusNotFound, "NOT_FOUND", keyNotFoundMsg, keyNotFoundHint, "keys#deactivate")
	ErrKeyNotFoundReactivate  = webhookErr(http.StatusNotFound, "NOT_FOUND", keyNotFoundMsg, keyNotFoundHint, "keys#reactivate")
	ErrDeliveryNotFound       = webhookErr(http.StatusNotFound, "NOT_FOUND", "Webhook delivery not found.",
		"The webhook delivery with the given ID was not found.", "deliveries#retry")
	ErrEventNotFoundGet    = webhookErr(http.StatusNotFound, "NOT_FOUND", eventNotFoundMsg, eventNotFoundHint, "events#get-by-id")
	ErrEventNotFoundReplay = webhookErr(http.StatusNotFound, "NOT_FOUND", eventNotFoundMsg, eventNotFoundHint, "events#replay")
	// ErrEndpointUpdateEmpty is upstream's envelope for an update naming no
	// field (the backticks are literal).
	ErrEndpointUpdateEmpty = webhookErr(http.StatusBadRequest, "BAD_REQUEST", "Bad request.",
		"At least one of `name`, `labels`, `url`, `enabled`, `subscribed_event_types` or `undelivered_payload_retention_hours` must be provided.",
		"endpoints#update")
	ErrWebhookKeyRejected = webhookErr(http.StatusBadRequest, "BAD_REQUEST", "Bad request.",
		"Provide an RSA-OAEP-256 public JWK without private key material.", "keys#create")
	ErrDeliveryInProgress = webhookErr(http.StatusConflict, "CONFLICT", "Webhook delivery cannot be retried.",
		"The webhook delivery is already in progress.", "deliveries#retry")
	ErrEventNotReplayable = webhookErr(http.StatusConflict, "CONFLICT", "Webhook event cannot be replayed.",
		"Only webhook events with replayable deliveries can be replayed.", "events#replay")
	ErrPayloadExpired = webhookErr(http.StatusConflict, "WEBHOOK_PAYLOAD_EXPIRED", "Webhook payload is no longer retained.",
		"Payload expired; create a new verification session or handle the event manually.", "deliveries#payload-retention")
	// ErrDeliveryHeld is ours: upstream loses the events of an endpoint
	// without a key, here they wait for one.
	ErrDeliveryHeld = webhookErr(http.StatusConflict, "CONFLICT", "Webhook delivery cannot be retried.",
		"The webhook delivery is waiting for an active encryption key on its endpoint; add or reactivate a key and it is sent.", "deliveries#retry")
	// The limits are ours (upstream has none).
	ErrWebhookEndpointLimit = webhookErr(http.StatusConflict, "WEBHOOK_ENDPOINT_LIMIT_REACHED",
		fmt.Sprintf("This organization already has the most webhook endpoints allowed (%d).", store.MaxWebhookEndpointsPerOrg),
		"Delete a webhook endpoint you no longer use, then retry.", "endpoints#create")
	ErrWebhookKeyLimit = webhookErr(http.StatusConflict, "WEBHOOK_KEY_LIMIT_REACHED",
		fmt.Sprintf("This webhook endpoint already has the most encryption keys allowed (%d).", store.MaxWebhookKeysPerEndpoint),
		"Reactivate one of the endpoint's keys instead, or create a new endpoint.", "keys#create")
)
