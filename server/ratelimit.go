package server

import (
	"crypto/sha256"
	"fmt"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"

	"github.com/kayle-id/orgs-api/handlers"
	"github.com/kayle-id/orgs-api/validator"
)

// RateLimit configures the abuse limits on write endpoints. A zero Rate
// turns that limit off.
type RateLimit struct {
	PerCredential rate.Limit // requests per second per bearer credential
	PerIP         rate.Limit // requests per second per client address
	Burst         int        // requests allowed at once before the rate applies
}

// limiters keeps one token bucket per key, forgetting idle ones.
type limiters struct {
	mu      sync.Mutex
	limit   rate.Limit
	burst   int
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

const idleBucket = 10 * time.Minute

func newLimiters(limit rate.Limit, burst int) *limiters {
	if limit <= 0 {
		return nil
	}
	if burst <= 0 {
		burst = int(math.Max(1, float64(limit)))
	}
	return &limiters{limit: limit, burst: burst, buckets: map[string]*bucket{}, swept: time.Now()}
}

// wait reports how long key must wait before its next request; 0 means go.
func (l *limiters) wait(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > idleBucket {
		for k, b := range l.buckets {
			if now.Sub(b.seen) > idleBucket {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{lim: rate.NewLimiter(l.limit, l.burst)}
		l.buckets[key] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d
	}
	return 0
}

// ErrRateLimited is the 429 answer; Retry-After says when to come back.
var ErrRateLimited = &handlers.APIError{Status: http.StatusTooManyRequests, Code: "RATE_LIMITED",
	Message: "Too many requests.", Hint: "Wait for the number of seconds in the Retry-After header, then retry.",
	Docs: handlers.DocsBase + "rate_limited"}

// guard wraps authentication with the write endpoints' limits: per address
// before the credential is checked (so guessing tokens is slow too), per
// credential after.
func (rl RateLimit) guard(authenticate func(echo.Context, string) error) func(echo.Context, string) error {
	perIP, perCred := newLimiters(rl.PerIP, rl.Burst), newLimiters(rl.PerCredential, rl.Burst)
	if perIP == nil && perCred == nil {
		return authenticate
	}
	limited := func(c echo.Context, d time.Duration) error {
		c.Response().Header().Set("Retry-After", fmt.Sprint(int(math.Ceil(d.Seconds()))))
		return ErrRateLimited
	}
	return func(c echo.Context, op string) error {
		route, ok := validator.RouteFrom(c.Request().Context())
		write := ok && route.Method != http.MethodGet && route.Method != http.MethodHead
		now := time.Now()
		if write && perIP != nil {
			if d := perIP.wait(c.RealIP(), now); d > 0 {
				return limited(c, d)
			}
		}
		if err := authenticate(c, op); err != nil {
			return err
		}
		if write && perCred != nil {
			sum := sha256.Sum256([]byte(c.Request().Header.Get(echo.HeaderAuthorization)))
			if d := perCred.wait(string(sum[:]), now); d > 0 {
				return limited(c, d)
			}
		}
		return nil
	}
}
