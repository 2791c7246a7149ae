package store

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers compare with errors.Is; each names one rule the
// store enforced inside the transaction that would have changed the state.
var (
	ErrNotFound               = errors.New("store: not found")
	ErrUnauthenticated        = errors.New("store: no valid session")
	ErrNoActiveOrganization   = errors.New("store: session has no active organization")
	ErrOrganizationNotFound   = errors.New("store: organization not found")
	ErrOrganizationFrozen     = errors.New("store: organization is scheduled for deletion")
	ErrNotMember              = errors.New("store: caller has no active membership")
	ErrForbidden              = errors.New("store: caller's role may not do this")
	ErrOwnerRequired          = errors.New("store: only an owner may do this")
	ErrLastOwner              = errors.New("store: the organization would have no active owner")
	ErrMemberNotFound         = errors.New("store: member not found in this organization")
	ErrMemberNotSuspended     = errors.New("store: member is not suspended")
	ErrActiveMembershipExists = errors.New("store: user already has an active membership")
	ErrEmailTaken             = errors.New("store: email already registered")
	ErrSlugTaken              = errors.New("store: slug already in use")
	ErrOrganizationLimit      = errors.New("store: the user owns as many organizations as allowed")
	ErrInvitationNotFound     = errors.New("store: invitation not found")
	ErrInvitationPending      = errors.New("store: an invitation for this email is pending")
	ErrInvitationRevoked      = errors.New("store: the invitation's sender can no longer grant its role")
	ErrAlreadyScheduled       = errors.New("store: deletion already scheduled")
	ErrNotScheduled           = errors.New("store: deletion not scheduled")
	ErrInvalidCode            = errors.New("store: invalid deletion code")
	ErrCodeExpired            = errors.New("store: deletion code expired")
	ErrCodeAttemptsExhausted  = errors.New("store: too many wrong deletion codes tried")
	ErrNotDelivered           = errors.New("store: the deletion code could not be delivered")
	// ErrNoPendingCode is the ErrInvalidCode of a caller who has no
	// delivered code for the organization.
	ErrNoPendingCode = fmt.Errorf("%w: no pending code", ErrInvalidCode)
	ErrInvalidCursor = errors.New("store: unknown pagination cursor")
	ErrUnavailable   = errors.New("store: database unavailable")

	ErrChallengeNotFound   = errors.New("store: no such DNS challenge in this organization")
	ErrChallengeExpired    = errors.New("store: DNS challenge expired")
	ErrTakeoverRequired    = errors.New("store: another organization holds this domain")
	ErrDomainNotFound      = errors.New("store: no such verified domain in this organization")
	ErrNoVerifiedDomain    = errors.New("store: no active verified domain covers this host")
	ErrRedirectURINotFound = errors.New("store: no such redirect URI in this organization")
	ErrRedirectURILimit    = errors.New("store: the organization has the most redirect URIs allowed")
	ErrRateLimited         = errors.New("store: rate limit reached")
	ErrInvalidIdentity     = errors.New("store: identity provider's issuer or subject cannot be kept")
	ErrAPIKeyNotFound      = errors.New("store: API key not found in this organization")
	ErrAPIKeyLimit         = errors.New("store: the organization has as many API keys as allowed")
	ErrAlreadyVerified     = errors.New("store: organization already verified")

	ErrWebhookEndpointUnavailable = errors.New("store: a webhook target is not an enabled endpoint of this organization")
	ErrUnverifiedOrgLimit         = errors.New("store: unverified organizations may create 5 identity-revealing sessions per 24 hours")
	ErrSessionNotActive           = errors.New("store: the verification session has already ended")
)
