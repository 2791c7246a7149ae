package handlers

import (
	"errors"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/kayle-id/orgs-api/idp"
	"github.com/kayle-id/orgs-api/store"
)

// unauthorizedMessages words the 401 per operation where upstream does.
var unauthorizedMessages = map[string]string{
	"listAuditLogs":           "Sign in to view audit logs.",
	"updateBusinessDetails":   "Sign in to update business details.",
	"acceptVerificationTerms": "Sign in to accept verification terms.",
	"getRpTerms":              "Sign in to manage Kayle ID Integration Terms.",
	"acceptRpTerms":           "Sign in to manage Kayle ID Integration Terms.",
}

// precheck is a check upstream's router makes after authentication and
// before the request is validated, so its answer wins over a 400.
type precheck func(c echo.Context, p store.Principal) error

// prechecks are the operations' prechecks.
func (s *Server) prechecks() map[string]precheck {
	checks := map[string]precheck{
		"listApiKeys":  s.keyGuard(false),
		"createApiKey": s.keyGuard(true),
		"updateApiKey": s.keyGuard(true),
		"deleteApiKey": s.keyGuard(true),
	}
	for op, scope := range rpScopes {
		checks[op] = s.rpGuard(op, scope)
	}
	return checks
}

// Prechecked runs authenticate (the validator's hook, with whatever limits
// wrap it), then the operation's precheck.
func (s *Server) Prechecked(authenticate func(echo.Context, string) error) func(echo.Context, string) error {
	checks := s.prechecks()
	return func(c echo.Context, operationID string) error {
		if err := authenticate(c, operationID); err != nil {
			return err
		}
		check, ok := checks[operationID]
		if !ok {
			return nil
		}
		p, ok := PrincipalFrom(c.Request().Context())
		if !ok {
			return ErrUnauthorized
		}
		return check(c, p)
	}
}

// Authenticate resolves the request's bearer token and stores the principal
// in the request context. It is the validator's hook for operations whose
// contract requires bearerAuth, so a caller without a valid credential gets
// 401 before anything about the request is examined.
func (s *Server) Authenticate(c echo.Context, operationID string) error {
	unauthorized := ErrUnauthorized
	if msg, ok := unauthorizedMessages[operationID]; ok {
		unauthorized = unauthorized.WithMessage(msg)
	}
	values := c.Request().Header.Values(echo.HeaderAuthorization)
	if len(values) != 1 {
		// None, or an ambiguous repeat: refuse rather than guess which one counts.
		return unauthorized
	}
	scheme, token, ok := strings.Cut(values[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return unauthorized
	}
	token = strings.TrimSpace(token)
	var p store.Principal
	var err error
	if strings.HasPrefix(token, store.APIKeyPrefix) {
		// An API key: the relying-party API's credential, and nowhere else.
		if !RelyingPartyOperation(operationID) {
			return unauthorized
		}
		p, err = s.authenticateAPIKey(c, token)
	} else if s.verifier != nil && !strings.HasPrefix(token, store.TokenPrefix) {
		p, err = s.authenticateWithProvider(c, token, unauthorized)
	} else {
		p, err = s.store.Authenticate(c.Request().Context(), token)
	}
	if errors.Is(err, store.ErrUnauthenticated) {
		return unauthorized
	}
	if err != nil {
		return err
	}
	req := c.Request()
	// The caller's database work, however many requests it runs at once,
	// holds at most its share of the store's turns.
	ctx := store.WithShare(WithPrincipal(req.Context(), p), p.CallerKey())
	c.SetRequest(req.WithContext(ctx))
	return nil
}

// authenticateAPIKey finds the enabled key; a key of an organization
// scheduled for deletion is refused on every method (410), before any scope
// check, as upstream.
func (s *Server) authenticateAPIKey(c echo.Context, token string) (store.Principal, error) {
	k, err := s.store.AuthenticateAPIKey(c.Request().Context(), token)
	if errors.Is(err, store.ErrOrganizationFrozen) {
		return store.Principal{}, ErrFrozenForKeys
	}
	if err != nil {
		return store.Principal{}, err
	}
	return store.Principal{APIKey: &k}, nil
}

// authenticateWithProvider verifies a token of the identity provider (no
// database connection is held meanwhile), then finds or makes its user and
// session. A token failing a check is a 401 whose hint names the check; a
// provider that cannot be reached is a 503, never a 401.
func (s *Server) authenticateWithProvider(c echo.Context, token string, unauthorized *APIError) (store.Principal, error) {
	ctx := c.Request().Context()
	id, err := s.verifier.Verify(ctx, token)
	var rejected *idp.RejectedError
	switch {
	case errors.As(err, &rejected):
		return store.Principal{}, unauthorized.WithHint(rejected.Hint)
	case errors.Is(err, idp.ErrUnavailable):
		return store.Principal{}, ErrProviderUnavailable
	case err != nil:
		return store.Principal{}, err
	}
	p, err := s.store.AuthenticateExternal(ctx, store.ExternalIdentity{
		Issuer: id.Issuer, Subject: id.Subject, Email: id.Email, EmailVerified: id.EmailVerified,
		Name: id.Name, ProviderSession: id.SessionID, ExpiresAt: id.ExpiresAt,
	})
	if errors.Is(err, store.ErrInvalidIdentity) {
		return p, unauthorized.WithHint("The token's subject (sub) cannot be used: at most 255 characters, none of them control characters.")
	}
	return p, err
}

// AuthChallenge is the WWW-Authenticate value sent with every 401.
const AuthChallenge = `Bearer realm="kayle-id"`
