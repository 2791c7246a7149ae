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
	"listAuditLogs": "Sign in to view audit logs.",
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
	if s.verifier != nil && !strings.HasPrefix(token, store.TokenPrefix) {
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
	c.SetRequest(req.WithContext(WithPrincipal(req.Context(), p)))
	return nil
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
