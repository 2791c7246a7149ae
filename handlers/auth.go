package handlers

import (
	"errors"
	"strings"

	"github.com/labstack/echo/v4"

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
