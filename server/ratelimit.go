package server

import (
	"math"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"golang.org/x/time/rate"

	"github.com/kayle-id/orgs-api/handlers"
	"github.com/kayle-id/orgs-api/internal/keyed"
)

// RateLimit configures the abuse limits. A zero rate turns that limit off.
type RateLimit struct {
	PerCredential     rate.Limit // write requests per second per user (see store.Principal.CallerKey)
	PerCredentialRead rate.Limit // read requests (GET, HEAD) per second per user
	// PerIP limits, per client address, the requests that end without a
	// valid credential, whatever their method: failed authentication,
	// anonymous calls, unknown paths. IPv6 addresses count per /64.
	PerIP rate.Limit
	Burst int // requests allowed at once before a rate applies
}

// ErrRateLimited is the 429 answer; Retry-After says when to come back.
var ErrRateLimited = &handlers.APIError{Status: http.StatusTooManyRequests, Code: "RATE_LIMITED",
	Message: "Too many requests.", Hint: "Wait for the number of seconds in the Retry-After header, then retry.",
	Docs: handlers.DocsBase + "rate_limited"}

// errTooManyAtOnce answers a request beyond its address's or credential's
// number in flight (see limitInFlight).
var errTooManyAtOnce = ErrRateLimited.WithMessage("Too many requests at once.").
	WithHint("Wait for answers to the requests already sent before sending more.").WithRetryAfter(time.Second)

// limits are the server's limiters; nil ones are off.
type limits struct {
	perAddress, perWrite, perRead *limiter
	// Requests in flight per client address until they are authenticated
	// (and per IPv6 /48, netShare times as many), and per credential after
	// (see limitInFlight).
	perAddressInFlight, perNetInFlight, perCredentialInFlight *keyed.Limiter
}

// newLimits makes the limiters cfg asks for.
func newLimits(cfg Config) limits {
	rl := cfg.RateLimit
	return limits{
		perAddress:            newLimiter(rl.PerIP, rl.Burst),
		perWrite:              newLimiter(rl.PerCredential, rl.Burst),
		perRead:               newLimiter(rl.PerCredentialRead, rl.Burst),
		perAddressInFlight:    inFlight(cfg.MaxInFlightPerAddress),
		perNetInFlight:        inFlight(netShare * cfg.MaxInFlightPerAddress),
		perCredentialInFlight: inFlight(cfg.MaxInFlightPerCredential),
	}
}

// addressKey is what the per-address limits count by (see addressKeys).
func addressKey(ip string) string {
	addr, _ := clientKeys(ip)
	return addr
}

// clientKeys are addressKeys of a textual address; one key for every
// address that does not parse: limited more, never less.
func clientKeys(ip string) (addr, wide string) {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return "unparsed", ""
	}
	return addressKeys(a)
}

// addressKeys are the two keys a client address counts under, one within
// the other: addr, an IPv4 address or an IPv6 address's /64, which a single
// client usually holds whole; and for IPv6 wide, its /48, which one client
// often holds whole too (65,536 /64s), "" for IPv4.
func addressKeys(a netip.Addr) (addr, wide string) {
	a = a.Unmap().WithZone("")
	if a.Is4() {
		return a.String(), ""
	}
	p64, _ := a.Prefix(64)
	p48, _ := a.Prefix(48)
	return p64.String(), p48.String()
}

// addresses limits, per client address, requests without a valid
// credential. The budget is checked before anything else is done, so a
// spent one refuses even a valid credential from that address (guessing
// tokens must not be told which guess worked); it is charged once the
// request is over, and only when no one was authenticated, so users
// sharing an address do not spend each other's budget.
func (l limits) addresses() echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		if l.perAddress == nil {
			return next
		}
		return func(c echo.Context) error {
			if isVerifyRoute(c) {
				return next(c) // on its own budget (verifyLimiters)
			}
			key := addressKey(c.RealIP())
			if d := l.perAddress.check(key, time.Now()); d > 0 {
				return ErrRateLimited.WithRetryAfter(d)
			}
			err := next(c)
			if _, ok := handlers.PrincipalFrom(c.Request().Context()); !ok {
				l.perAddress.charge(key, time.Now())
			}
			return err
		}
	}
}

// guard wraps authentication with the per-credential limits: one rate for
// writes, a separate one for reads, and a number in flight. Once the
// caller is known, the request gives up its address's in-flight slot for
// one of its credential's.
func (l limits) guard(authenticate func(echo.Context, string) error) func(echo.Context, string) error {
	if l.perWrite == nil && l.perRead == nil && l.perAddressInFlight == nil && l.perCredentialInFlight == nil {
		return authenticate
	}
	return func(c echo.Context, op string) error {
		if err := authenticate(c, op); err != nil {
			return err
		}
		p, ok := handlers.PrincipalFrom(c.Request().Context())
		if !ok {
			return nil
		}
		key := p.CallerKey()
		if s, ok := c.Get(slotKey).(*slot); ok {
			s.release()
			if g := l.perCredentialInFlight; g != nil && !s.take(g, key) {
				return errTooManyAtOnce
			}
		}
		lim := l.perWrite
		if m := c.Request().Method; m == http.MethodGet || m == http.MethodHead {
			lim = l.perRead
		}
		if lim == nil {
			return nil
		}
		if d := lim.take(key, time.Now()); d > 0 {
			return ErrRateLimited.WithRetryAfter(d)
		}
		return nil
	}
}

// inFlight holds each key to n requests in flight; nil (no cap) for n <= 0.
func inFlight(n int) *keyed.Limiter {
	if n <= 0 {
		return nil
	}
	return keyed.New(n)
}

// slot is the in-flight place a request holds: under its address (and
// its /48), or under its credential; the zero value holds none.
type slot struct{ held []hold }

type hold struct {
	l   *keyed.Limiter
	key string
}

// take adds one of key's places in l to what s holds; false, adding
// nothing, when key has none left.
func (s *slot) take(l *keyed.Limiter, key string) bool {
	if !l.TryAcquire(key) {
		return false
	}
	s.held = append(s.held, hold{l, key})
	return true
}

func (s *slot) release() {
	for _, h := range s.held {
		h.l.Release(h.key)
	}
	s.held = s.held[:0]
}

// limiter keeps a token bucket per key. Its memory is bounded: a bucket
// that has refilled is forgotten (it is no different from a new one), and
// while maxKeys buckets are still refilling a new key is refused.
type limiter struct {
	mu      sync.Mutex
	rate    float64 // tokens per second
	burst   float64
	maxKeys int
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	tokens float64 // below zero: a debt, see charge
	at     time.Time
}

const (
	maxBuckets = 1 << 16
	sweepEvery = time.Minute
	// minSweepGap bounds how often a full table is swept, so that a flood
	// of new keys cannot make every request pay for a sweep.
	minSweepGap = time.Second
)

func newLimiter(r rate.Limit, burst int) *limiter {
	if r <= 0 {
		return nil
	}
	if burst <= 0 {
		burst = int(math.Max(1, float64(r)))
	}
	return &limiter{rate: float64(r), burst: float64(burst), maxKeys: maxBuckets, buckets: map[string]*bucket{}, swept: time.Now()}
}

func (l *limiter) level(b *bucket, now time.Time) float64 {
	return math.Min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.rate)
}

// until is how long a bucket at level takes to hold a whole token.
func (l *limiter) until(level float64) time.Duration {
	return time.Duration((1 - level) / l.rate * float64(time.Second))
}

// take spends one of key's tokens, or reports how long to wait for one.
func (l *limiter) take(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.bucket(key, now)
	if !ok {
		return minSweepGap
	}
	lv := l.level(b, now)
	if lv < 1 {
		return l.until(lv)
	}
	b.tokens, b.at = lv-1, now
	return 0
}

// check reports how long key must wait for a token, spending nothing.
func (l *limiter) check(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= l.maxKeys {
			l.sweep(now)
		}
		if len(l.buckets) >= l.maxKeys {
			return minSweepGap
		}
		return 0
	}
	if lv := l.level(b, now); lv < 1 {
		return l.until(lv)
	}
	return 0
}

// charge spends a token after the fact, going into debt when there is
// none: requests checked at the same moment and charged once they are over
// are paid back before that key is let through again, so over time they
// cannot exceed the rate. (The debt is bounded by the requests in flight:
// a key in debt is refused at the check, and only checked requests are
// charged.)
func (l *limiter) charge(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, ok := l.bucket(key, now); ok {
		b.tokens, b.at = l.level(b, now)-1, now
	}
}

// bucket finds or makes key's bucket; false when the table is full.
func (l *limiter) bucket(key string, now time.Time) (*bucket, bool) {
	if now.Sub(l.swept) >= sweepEvery {
		l.sweep(now)
	}
	if b, ok := l.buckets[key]; ok {
		return b, true
	}
	if len(l.buckets) >= l.maxKeys {
		l.sweep(now)
		if len(l.buckets) >= l.maxKeys {
			return nil, false
		}
	}
	b := &bucket{tokens: l.burst, at: now}
	l.buckets[key] = b
	return b, true
}

// sweep forgets the buckets that have refilled, at most once per minSweepGap.
func (l *limiter) sweep(now time.Time) {
	if now.Sub(l.swept) < minSweepGap {
		return
	}
	for k, b := range l.buckets {
		if l.level(b, now) >= l.burst {
			delete(l.buckets, k)
		}
	}
	l.swept = now
}
