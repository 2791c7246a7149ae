package handlers

import (
	"errors"
	"strings"

	"github.com/labstack/echo/v4"

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
	return map[string]precheck{
		"listApiKeys":  s.keyGuard(false),
		"createApiKey": s.keyGuard(true),
		"updateApiKey": s.keyGuard(true),
		"deleteApiKey": s.keyGuard(true),
	}
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
	p, err := s.store.Authenticate(c.Request().Context(), strings.TrimSpace(token))
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

// AuthChallenge is the WWW-Authenticate value sent with every 401.
const AuthChallenge = `Bearer realm="kayle-id"`
