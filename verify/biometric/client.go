package biometric

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/kayle-id/orgs-api/egress"
)

// The contract's limits (upstream packages/config/src/biometric-verifier.ts).
const (
	MaxDG2   = 4 << 20  // raw DG2 bytes
	MaxVideo = 16 << 20 // liveness video
	// MaxNonce bounds the challenge nonce; the flow sends 4 bytes.
	MaxNonce = 64
	// MaxAnswer is how much of a /verify or /health answer is read. A
	// verdict is a few hundred bytes; a development verifier's debug
	// timeline can be larger, and is refused beyond this.
	MaxAnswer = 64 << 10

	// AuthHeader carries the shared secret beside Authorization: Bearer;
	// the verifier accepts either.
	AuthHeader = "X-Kayle-Biometric-Verifier-Auth"
)

// Defaults of Config.
const (
	DefaultReadyWait      = 20 * time.Second // upstream: 80 tries 250 ms apart
	DefaultTimeout        = 60 * time.Second
	DefaultPrewarmTimeout = 5 * time.Second
	DefaultReadyFor       = 5 * time.Second
	// readyInterval is the pause between /health polls.
	readyInterval = 250 * time.Millisecond
	// healthTry bounds one /health request within the ReadyWait budget,
	// so one hanging answer does not use the whole budget.
	healthTry = 2 * time.Second
)

var (
	// ErrUnavailable is every failure that is not a verdict: the
	// verifier down, not ready, slow, refusing our secret, or answering
	// outside the contract. Callers fail closed on it without counting
	// it against the person.
	ErrUnavailable = errors.New("biometric: verifier unavailable")
	// ErrInvalidInput is an input outside the contract's limits (empty
	// or oversized DG2 or video, a missing or oversized nonce, a
	// threshold outside 0–1). It also wraps ErrUnavailable, since no
	// verdict was given; a caller that must count a phone's oversized
	// upload as its failed try checks ErrInvalidInput first.
	ErrInvalidInput = errors.New("biometric: invalid input")
)

// Config configures New.
type Config struct {
	// BaseURL is the verifier, e.g. http://127.0.0.1:8787; its path, if
	// any, prefixes /health, /prewarm and /verify.
	BaseURL *url.URL
	// Secret is sent as Authorization: Bearer and as AuthHeader.
	Secret string
	// HTTPClient is used as given except that redirects are never
	// followed; nil is an egress client honouring AllowPrivate.
	HTTPClient *http.Client
	// AllowPrivate admits a verifier on loopback, RFC 1918, CGNAT or ULA
	// addresses (the usual deployment); link-local and cloud metadata
	// stay refused. Ignored when HTTPClient is set.
	AllowPrivate bool
	// ReadyWait is the total budget for polling /health before /verify;
	// 0 is DefaultReadyWait.
	ReadyWait time.Duration
	// ReadyFor is how long a ready answer is trusted, so concurrent
	// verifications share one poll; 0 is DefaultReadyFor.
	ReadyFor time.Duration
	// Timeout is the /verify deadline; 0 is DefaultTimeout.
	Timeout time.Duration
	// PrewarmTimeout is the /prewarm deadline; 0 is DefaultPrewarmTimeout.
	PrewarmTimeout time.Duration
}

// Input is one liveness check.
type Input struct {
	DG2, Video, Nonce []byte
	// Threshold is the face-match threshold (verify/mrz's
	// FaceMatchThreshold), sent as decimal text.
	Threshold float64
}

// Verdict is the verifier's well-formed answer. Scores are nil when the
// verifier gave none.
type Verdict struct {
	LivenessPassed, FaceMatchPassed, PADPassed, UsedFallback bool
	LivenessScore, FaceMatchScore, PADScore                  *float64
	Reason                                                   string
	// FaceMatchAlignment is "mesh", "yunet" or "" (none produced).
	FaceMatchAlignment string
}

// Client calls one verifier. It is safe for concurrent use.
type Client struct {
	health, prewarm, verify string
	secret                  string
	hc                      *http.Client
	readyWait, readyFor     time.Duration
	timeout, prewarmTimeout time.Duration

	mu         sync.Mutex
	readyUntil time.Time
	poll       *poll // the /health poll in flight, shared by its waiters
}

type poll struct {
	done chan struct{}
	err  error
}

// New checks c and makes a Client.
func New(c Config) (*Client, error) {
	if c.BaseURL == nil || (c.BaseURL.Scheme != "http" && c.BaseURL.Scheme != "https") || c.BaseURL.Host == "" {
		return nil, errors.New("biometric: BaseURL must be an absolute http or https URL")
	}
	if c.BaseURL.User != nil || c.BaseURL.RawQuery != "" || c.BaseURL.Fragment != "" {
		return nil, errors.New("biometric: BaseURL must not carry credentials, a query or a fragment")
	}
	if c.Secret == "" {
		return nil, errors.New("biometric: Secret is required")
	}
	if strings.ContainsAny(c.Secret, "\x00\r\n") || strings.TrimSpace(c.Secret) != c.Secret {
		// The verifier trims the bearer token; a secret that does not
		// survive a header round trip could never match.
		return nil, errors.New("biometric: Secret must be a header-safe value without surrounding spaces")
	}
	for _, d := range []time.Duration{c.ReadyWait, c.ReadyFor, c.Timeout, c.PrewarmTimeout} {
		if d < 0 {
			return nil, errors.New("biometric: durations must not be negative")
		}
	}
	cl := &Client{
		secret:         c.Secret,
		readyWait:      or(c.ReadyWait, DefaultReadyWait),
		readyFor:       or(c.ReadyFor, DefaultReadyFor),
		timeout:        or(c.Timeout, DefaultTimeout),
		prewarmTimeout: or(c.PrewarmTimeout, DefaultPrewarmTimeout),
	}
	cl.health = c.BaseURL.JoinPath("health").String()
	cl.prewarm = c.BaseURL.JoinPath("prewarm").String()
	cl.verify = c.BaseURL.JoinPath("verify").String()
	if c.HTTPClient != nil {
		hc := *c.HTTPClient
		hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		cl.hc = &hc
	} else {
		cl.hc = egress.New(egress.Options{
			AllowLoopback: c.AllowPrivate,
			AllowPrivate:  c.AllowPrivate,
			// A backstop only: each call below has its own deadline.
			Timeout:        max(cl.timeout, cl.prewarmTimeout, healthTry),
			MaxIdlePerHost: 32,
		})
	}
	return cl, nil
}

func or(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

func unavailable(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrUnavailable}, args...)...)
}

func (c *Client) newRequest(ctx context.Context, method, u string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.secret)
	req.Header.Set(AuthHeader, c.secret)
	req.Header.Set("Accept", "application/json")
	return req, nil
}

// Prewarm asks the verifier to start loading its models. Callers run it
// in the background and only log the result.
func (c *Client) Prewarm(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.prewarmTimeout)
	defer cancel()
	req, err := c.newRequest(ctx, http.MethodPost, c.prewarm, nil)
	if err != nil {
		return unavailable("prewarm: %w", err)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return unavailable("prewarm: %w", err)
	}
	egress.Discard(resp)
	if resp.StatusCode/100 != 2 {
		return unavailable("prewarm: status %d", resp.StatusCode)
	}
	return nil
}

// Verify runs one liveness check: it waits for /health (shared with
// concurrent callers, within ReadyWait and ctx), then posts the inputs
// to /verify within Timeout. A well-formed answer is a Verdict, passed or
// not; anything else is an error wrapping ErrUnavailable.
func (c *Client) Verify(ctx context.Context, in Input) (Verdict, error) {
	if err := in.check(); err != nil {
		return Verdict{}, err
	}
	if err := c.waitReady(ctx); err != nil {
		return Verdict{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	body, err := newBody(in)
	if err != nil {
		return Verdict{}, unavailable("verify: %w", err)
	}
	req, err := c.newRequest(ctx, http.MethodPost, c.verify, body.reader())
	if err != nil {
		return Verdict{}, unavailable("verify: %w", err)
	}
	req.ContentLength = body.size
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(body.reader()), nil }
	req.Header.Set("Content-Type", body.contentType)
	resp, err := c.hc.Do(req)
	if err != nil {
		c.forgetReady()
		return Verdict{}, unavailable("verify: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		if resp.StatusCode >= 500 {
			c.forgetReady()
		}
		egress.Discard(resp)
		return Verdict{}, unavailable("verify: status %d", resp.StatusCode)
	}
	raw, err := readAnswer(resp)
	if err != nil {
		return Verdict{}, unavailable("verify: %w", err)
	}
	v, err := decodeVerdict(raw)
	if err != nil {
		return Verdict{}, unavailable("verify: %w", err)
	}
	if strings.HasPrefix(v.Reason, unavailableReason) {
		// The verifier's worker answers 200 with this reason when its
		// model container failed: an outage, not the person's verdict.
		c.forgetReady()
		return Verdict{}, unavailable("verify: the verifier reports %q", v.Reason)
	}
	if v.FaceMatchPassed && v.FaceMatchScore == nil {
		// The flow needs the score (risk score); upstream throws here.
		return Verdict{}, unavailable("verify: face match passed without a score")
	}
	if v.FaceMatchPassed && *v.FaceMatchScore < in.Threshold-thresholdSlack {
		return Verdict{}, unavailable("verify: face match passed with score %v below the threshold %v sent", *v.FaceMatchScore, in.Threshold)
	}
	return v, nil
}

// unavailableReason prefixes the reason the verifier's worker gives when
// its container could not answer (apps/biometric-verifier matcher.ts).
const unavailableReason = "biometric_verifier_unavailable"

// thresholdSlack allows for a verifier that rounds its reported score.
const thresholdSlack = 1e-3

func (in Input) check() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %w: "+format, append([]any{ErrUnavailable, ErrInvalidInput}, args...)...)
	}
	switch {
	case len(in.DG2) == 0 || len(in.DG2) > MaxDG2:
		return bad("DG2 is %d bytes (1 to %d)", len(in.DG2), MaxDG2)
	case len(in.Video) == 0 || len(in.Video) > MaxVideo:
		return bad("video is %d bytes (1 to %d)", len(in.Video), MaxVideo)
	case len(in.Nonce) == 0 || len(in.Nonce) > MaxNonce:
		return bad("nonce is %d bytes (1 to %d)", len(in.Nonce), MaxNonce)
	case math.IsNaN(in.Threshold) || in.Threshold < 0 || in.Threshold > 1:
		return bad("threshold %v is not in 0–1", in.Threshold)
	}
	return nil
}

// readAnswer reads a JSON answer of at most MaxAnswer bytes.
func readAnswer(resp *http.Response) ([]byte, error) {
	mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return nil, fmt.Errorf("answer content type %q is not application/json", resp.Header.Get("Content-Type"))
	}
	if resp.ContentLength > MaxAnswer {
		return nil, fmt.Errorf("answer of %d bytes is over %d", resp.ContentLength, MaxAnswer)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, MaxAnswer+1))
	if err != nil {
		return nil, fmt.Errorf("reading the answer: %w", err)
	}
	if len(raw) > MaxAnswer {
		return nil, fmt.Errorf("answer is over %d bytes", MaxAnswer)
	}
	return raw, nil
}

// waitReady returns once /health said ready within the last ReadyFor.
// Concurrent callers share one poll, which runs on its own ReadyWait
// budget so that one caller giving up does not fail the others; each
// caller still stops waiting when its ctx ends.
func (c *Client) waitReady(ctx context.Context) error {
	c.mu.Lock()
	if time.Now().Before(c.readyUntil) {
		c.mu.Unlock()
		return nil
	}
	p := c.poll
	if p == nil {
		p = &poll{done: make(chan struct{})}
		c.poll = p
		go c.runPoll(p)
	}
	c.mu.Unlock()
	select {
	case <-p.done:
		return p.err
	case <-ctx.Done():
		return unavailable("waiting for /health: %w", ctx.Err())
	}
}

func (c *Client) runPoll(p *poll) {
	ctx, cancel := context.WithTimeout(context.Background(), c.readyWait)
	defer cancel()
	var last error
	for tries := 1; ; tries++ {
		last = c.healthOnce(ctx)
		var blocked *egress.BlockedError
		if last == nil || errors.As(last, &blocked) {
			break // ready, or an address no retry will admit
		}
		t := time.NewTimer(readyInterval)
		select {
		case <-t.C:
			continue
		case <-ctx.Done():
			t.Stop()
		}
		last = unavailable("not ready after %d /health tries in %v: %w", tries, c.readyWait, last)
		break
	}
	if last != nil && !errors.Is(last, ErrUnavailable) {
		last = unavailable("/health: %w", last)
	}
	c.mu.Lock()
	if last == nil {
		c.readyUntil = time.Now().Add(c.readyFor)
	}
	c.poll = nil
	c.mu.Unlock()
	p.err = last
	close(p.done)
}

// healthOnce is one GET /health: ready is a 2xx JSON answer whose
// data.ready is true.
func (c *Client) healthOnce(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, healthTry)
	defer cancel()
	req, err := c.newRequest(ctx, http.MethodGet, c.health, nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		egress.Discard(resp)
		return fmt.Errorf("/health status %d", resp.StatusCode)
	}
	raw, err := readAnswer(resp)
	if err != nil {
		return err
	}
	if !healthReady(raw) {
		return errors.New("/health does not say data.ready true")
	}
	return nil
}

// forgetReady makes the next Verify poll /health again, after an answer
// that suggests the verifier went away.
func (c *Client) forgetReady() {
	c.mu.Lock()
	c.readyUntil = time.Time{}
	c.mu.Unlock()
}
