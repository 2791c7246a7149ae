package server

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"

	"github.com/kayle-id/orgs-api/handlers"
	"github.com/kayle-id/orgs-api/store"
	"github.com/kayle-id/orgs-api/validator"
)

// The public verify routes' limits and error wording. They carry no
// credential, so they are limited per client address on a budget of their
// own (not the per-address budget of failed authentication, which a verify
// page polling its status would spend for everyone behind its address).

const (
	// DefaultVerifyRate and DefaultVerifyBurst are each client address's
	// budget on /v1/verify: a page polling its status every second and a
	// phone's calls fit many times over.
	DefaultVerifyRate  = 10
	DefaultVerifyBurst = 120
	// attestChallengeRate and attestChallengeBurst are upstream's App
	// Attest challenge limit: 20 per 60 seconds per address.
	attestChallengeRate  = rate.Limit(20.0 / 60)
	attestChallengeBurst = 20
	verifyPrefix         = "/v1/verify/"
	attestChallengeRoute = "/v1/verify/attest/challenge"
)

// verifyLimiters are the verify routes' per-address limiters.
type verifyLimiters struct {
	perAddress, attestChallenge *limiter
}

func newVerifyLimiters(cfg Config) verifyLimiters {
	r, burst := cfg.VerifyRateLimit, cfg.VerifyBurst
	if r == 0 {
		r = DefaultVerifyRate
	}
	if burst <= 0 {
		burst = DefaultVerifyBurst
	}
	if r < 0 {
		r = 0 // off
	}
	return verifyLimiters{perAddress: newLimiter(r, burst), attestChallenge: newLimiter(attestChallengeRate, attestChallengeBurst)}
}

// isVerifyRoute reports whether echo routed c to a /v1/verify route.
func isVerifyRoute(c echo.Context) bool { return strings.HasPrefix(c.Path(), verifyPrefix) }

// limit holds each client address to its budget on the verify routes:
// upstream's 20 per 60 seconds for App Attest challenges (its code,
// ATTEST_CHALLENGE_RATE_LIMITED), the verify budget for the others. It runs
// after the validator, so its answers are held to the contract and counted
// under their operation, and a malformed request (refused without a
// database read) spends nothing; with upgrades it runs before the socket's
// hand-over instead, for the WebSocket upgrades only.
func (l verifyLimiters) limit(upgrades bool) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			upgrade := c.Path() == handlers.VerifySocketRoute && handlers.IsWebSocketUpgrade(c.Request())
			if !isVerifyRoute(c) || upgrade != upgrades {
				return next(c)
			}
			key := addressKey(c.RealIP())
			if c.Path() == attestChallengeRoute {
				if d := l.attestChallenge.take(key, time.Now()); d > 0 {
					return handlers.ErrAttestChallengeRateLimited.WithRetryAfter(d)
				}
			} else if l.perAddress != nil {
				c.Set(verifySpentKey, true)
				if d := l.perAddress.take(key, time.Now()); d > 0 {
					return ErrRateLimited.WithRetryAfter(d)
				}
			}
			// No credential names the caller: its address's share of the
			// database turns is what one client may hold.
			req := c.Request()
			c.SetRequest(req.WithContext(store.WithShare(req.Context(), "addr:"+key)))
			return next(c)
		}
	}
}

// verifySpentKey marks a verify request that limit spent its token on.
const verifySpentKey = "verify-budget-spent"

// malformed holds the requests limit never sees (those the validator or
// the body's decoding refused) to the same budget: an address in debt is
// refused before its body is read, and each such request is charged once
// it is over. Without it a stream of malformed bodies would be bounded by
// nothing but the in-flight cap.
func (l verifyLimiters) malformed(v *validator.Validator) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		if l.perAddress == nil {
			return next
		}
		return func(c echo.Context) error {
			if !isVerifyRoute(c) || c.Path() == attestChallengeRoute ||
				c.Path() == handlers.VerifySocketRoute && handlers.IsWebSocketUpgrade(c.Request()) {
				return next(c)
			}
			key := addressKey(c.RealIP())
			if d := l.perAddress.check(key, time.Now()); d > 0 {
				// Answered before the validator: named under its operation
				// all the same.
				if route, ok := v.Route(c); ok {
					c.SetRequest(c.Request().WithContext(validator.WithRoute(c.Request().Context(), route)))
				}
				return ErrRateLimited.WithRetryAfter(d)
			}
			err := next(c)
			if spent, _ := c.Get(verifySpentKey).(bool); !spent {
				l.perAddress.charge(key, time.Now())
			}
			return err
		}
	}
}

// verifyRequestError is the verify routes' answer to a request the
// contract (or the body's decoding) refused: upstream's INVALID_SESSION_ID
// or INVALID_REQUEST in place of this server's BAD_REQUEST and 415.
func verifyRequestError(c echo.Context, err error) (*handlers.APIError, bool) {
	route, ok := validator.RouteFrom(c.Request().Context())
	if !ok || !handlers.VerifyOperation(route.Operation.OperationID) {
		return nil, false
	}
	var reqErr *validator.RequestError
	var httpErr *echo.HTTPError
	switch {
	case errors.As(err, &reqErr):
	case errors.As(err, &httpErr) && (httpErr.Code == http.StatusBadRequest || httpErr.Code == http.StatusUnsupportedMediaType):
	default:
		return nil, false
	}
	hasID := route.Operation.Parameters.GetByInAndName("path", "id") != nil
	return handlers.VerifyRequestError(c.Param("id"), hasID), true
}
