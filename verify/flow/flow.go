package flow

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/kayle-id/orgs-api/sessions"
	"github.com/kayle-id/orgs-api/store"
	"github.com/kayle-id/orgs-api/verify/appattest"
	"github.com/kayle-id/orgs-api/verify/biometric"
	"github.com/kayle-id/orgs-api/verify/passiveauth"
	"github.com/kayle-id/orgs-api/verify/proto"
)

// Verifier is the biometric verifier as the flow calls it
// (*biometric.Client).
type Verifier interface {
	Prewarm(ctx context.Context) error
	Verify(ctx context.Context, in biometric.Input) (biometric.Verdict, error)
}

// Config is what every connection of a server shares.
type Config struct {
	Store *store.Store
	// TrustStore is passive authentication's trust anchors.
	TrustStore passiveauth.TrustStore
	// Revocation is passive authentication's revocation policy.
	Revocation passiveauth.RevocationPolicy
	// Verifier is the biometric verifier; nil fails every liveness check
	// as unavailable (no try spent).
	Verifier Verifier
	// Attest verifies App Attest assertions; with RequireAttestation off
	// the gate is skipped (upstream outside production).
	Attest             appattest.Config
	RequireAttestation bool
	// MinAppVersion refuses older apps at hello ("" = no check).
	MinAppVersion string
	// Production refuses the verifier's fallback face matches.
	Production bool
	// CheckTimeout bounds the document checks of one nfc_complete;
	// VerifierTimeout one liveness check's call; StoreTimeout each database
	// change.
	CheckTimeout, VerifierTimeout, StoreTimeout time.Duration
	// LivenessMaxDuration is livenessChallenge's capture deadline hint.
	LivenessMaxDuration time.Duration
	// BufferBudget bounds the uploads every socket holds together (each
	// also at most proto.MaxConnectionBytes); 0 means DefaultBufferBudget.
	BufferBudget int64
	Log          *slog.Logger

	held atomic.Int64 // the uploads held now, against BufferBudget
}

// DefaultBufferBudget is the uploads all sockets may hold at once: 32
// connections' whole budgets.
const DefaultBufferBudget = 32 * proto.MaxConnectionBytes

func (c *Config) defaults() {
	if c.CheckTimeout <= 0 {
		c.CheckTimeout = 10 * time.Second
	}
	if c.VerifierTimeout <= 0 {
		c.VerifierTimeout = 60 * time.Second
	}
	if c.StoreTimeout <= 0 {
		c.StoreTimeout = 10 * time.Second
	}
	if c.LivenessMaxDuration <= 0 {
		c.LivenessMaxDuration = 8 * time.Second
	}
	if c.BufferBudget <= 0 {
		c.BufferBudget = DefaultBufferBudget
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// Close is how the transport ends the socket after sending a reply.
type Close struct {
	Code   int
	Reason string
}

// WebSocket close codes the flow uses.
const (
	CloseNormal   = 1000
	ClosePolicy   = 1008
	CloseTooBig   = 1009
	CloseInternal = 1011
)

// Reply is what the transport sends for one message, in order, then the
// close if there is one.
type Reply struct {
	Frames [][]byte
	Close  *Close
}

var sessionIDPattern = regexp.MustCompile(`^vs_[A-Za-z0-9]{64}$`)

// Conn is one socket's state (behaviour notes §5.4). Not safe for
// concurrent use: the transport calls it from one goroutine.
type Conn struct {
	cfg       *Config
	id        string
	sessionID string
	orgID     uuid.UUID
	secret    []byte
	share     []shareField

	hello       bool
	phase       proto.Phase
	attestKeyID string
	asm         *proto.Assembler
	// aaChallenge is this connection's active-authentication challenge;
	// nonce its liveness nonce (nil once a check spent it).
	aaChallenge []byte
	nonce       []byte
	// nfcAssertion is the App Attest assertion nfc_complete carried.
	nfcAssertion []byte
	// verified is the snapshot of the artefacts that passed the document
	// checks on this connection; storedDigest the session's record of one
	// (an earlier connection's).
	verified     *artefacts
	storedDigest string
	// faceScore is set by a passed liveness check; shareSent once this
	// connection sent the share request; ready is the shareReady sent.
	faceScore *float64
	shareSent bool
	ready     []byte
	// prewarming is set while a verifier prewarm runs.
	prewarming atomic.Bool
}

// Open starts a connection for the session in the upgrade's path (§5.1).
// When the session cannot be verified the Reply carries the error message
// and a close, and the Conn is nil.
func Open(ctx context.Context, cfg *Config, sessionID string) (*Conn, Reply) {
	cfg.defaults()
	if !sessionIDPattern.MatchString(sessionID) {
		return nil, closing(CloseNormal, proto.CodeInvalidSessionID)
	}
	sctx, cancel := context.WithTimeout(ctx, cfg.StoreTimeout)
	defer cancel()
	v, err := cfg.Store.SocketSession(sctx, sessionID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, closing(CloseNormal, proto.CodeSessionNotFound)
	case err != nil:
		cfg.Log.Error("verify socket: reading the session", "session", sessionID, "err", err)
		return nil, closing(CloseInternal, proto.CodeInternalError)
	case !v.Active() || !v.ExpiresAt.After(cfg.Store.Now()):
		return nil, closing(CloseNormal, proto.CodeSessionExpired)
	}
	secret, err := cfg.Store.VerifySecret(sctx)
	if err != nil {
		cfg.Log.Error("verify socket: the auth secret", "err", err)
		return nil, closing(CloseInternal, proto.CodeInternalError)
	}
	return &Conn{cfg: cfg, id: hex.EncodeToString(randomBytes(16)), sessionID: sessionID, orgID: v.OrganizationID, secret: secret,
		share: shareRequest(v.ShareFields), asm: proto.NewAssembler(), phase: proto.PhaseNone}, Reply{}
}

// ID is the connection's id, as its claim on the session names it.
func (c *Conn) ID() string { return c.id }

// Closed releases the connection's claim and drops its buffers.
func (c *Conn) Closed(ctx context.Context) {
	c.cfg.held.Add(-int64(c.asm.Received()))
	c.asm = proto.NewAssembler()
	c.verified = nil
	if !c.hello {
		return
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.StoreTimeout)
	defer cancel()
	if err := c.cfg.Store.ReleaseSocket(sctx, c.sessionID, c.id); err != nil {
		c.cfg.Log.Warn("verify socket: releasing the claim", "session", c.sessionID, "err", err)
	}
}

// Text answers a text frame (§5.2).
func (c *Conn) Text() Reply { return c.errorReply(proto.CodeInvalidMessage) }

// TooLarge answers a frame over the limit (§5.2); the transport closes.
func (c *Conn) TooLarge() Reply { return closing(CloseTooBig, proto.CodeFrameTooLarge) }

// Handle answers one binary message.
func (c *Conn) Handle(ctx context.Context, frame []byte) (r Reply) {
	defer func() {
		if p := recover(); p != nil {
			c.cfg.Log.Error("verify socket: handler panic", "session", c.sessionID, "panic", p)
			r = closing(CloseInternal, proto.CodeInternalError)
		}
	}()
	m, err := proto.DecodeClient(frame)
	if err != nil {
		return c.errorReply(proto.CodeDecodeFailed)
	}
	if m.Kind != proto.ClientHello && !c.hello {
		return c.errorReply(proto.CodeHelloRequired)
	}
	var out *replies
	switch m.Kind {
	case proto.ClientHello:
		out = c.onHello(ctx, m.Hello)
	case proto.ClientPhase:
		out = c.onPhase(ctx, m.Phase)
	case proto.ClientData:
		out = c.onData(m.Data)
	case proto.ClientShareSelection:
		out = c.onShareSelection(ctx, m.ShareSelection)
	default:
		return c.errorReply(proto.CodeDecodeFailed)
	}
	return out.reply()
}

// replies collects one message's answers.
type replies struct {
	frames [][]byte
	close  *Close
	err    error
}

func (r *replies) add(frame []byte, err error) {
	if err != nil && r.err == nil {
		r.err = err
	}
	r.frames = append(r.frames, frame)
}

func (r *replies) reply() Reply {
	if r.err != nil {
		return closing(CloseInternal, proto.CodeInternalError)
	}
	return Reply{Frames: r.frames, Close: r.close}
}

func (r *replies) internal(err error) *replies {
	if r.err == nil {
		r.err = err
	}
	if r.err == nil {
		r.err = errors.New("flow: internal error")
	}
	return r
}

func (r *replies) fail(code string) *replies {
	return r.failWith(proto.NewError(code))
}

// failWith answers an error the protocol package built (its message may
// be JSON).
func (r *replies) failWith(err error) *replies {
	var pe *proto.Error
	if !errors.As(err, &pe) {
		return r.internal(err)
	}
	r.add(proto.EncodeError(pe))
	return r
}

func (r *replies) failClose(code string) *replies {
	r.fail(code)
	r.close = &Close{Code: ClosePolicy, Reason: code}
	return r
}

func (r *replies) ack(msg string) *replies {
	r.add(proto.EncodeAck(msg))
	return r
}

func closing(code int, errCode string) Reply {
	frame, _ := proto.EncodeError(proto.NewError(errCode))
	reason := errCode
	if code == CloseNormal {
		reason = proto.Describe(errCode)
	}
	return Reply{Frames: [][]byte{frame}, Close: &Close{Code: code, Reason: reason}}
}

func (c *Conn) errorReply(code string) Reply {
	frame, err := proto.EncodeError(proto.NewError(code))
	if err != nil {
		return closing(CloseInternal, proto.CodeInternalError)
	}
	return Reply{Frames: [][]byte{frame}}
}

func (c *Conn) storeCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.cfg.StoreTimeout)
}

// randomBytes is a fresh challenge.
func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// shareField is one entry of the share request.
type shareField = proto.ShareField

// shareRequest is the session's contract as the share request shows it
// (§5.11): document_photo left out, keys in byte order.
func shareRequest(c sessions.Contract) []shareField {
	out := make([]shareField, 0, len(c))
	for k, f := range c {
		if k == "document_photo" {
			continue
		}
		out = append(out, shareField{Key: k, Reason: f.Reason, Required: f.Required})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

// olderThan reports whether version is older than min, compared as
// upstream does (§5.5 step 4): dot-separated parts read for their leading
// digits, missing parts 0, the first three compared; either side empty or
// with a part without leading digits passes.
func olderThan(version, min string) bool {
	a, okA := versionParts(version)
	b, okB := versionParts(min)
	if !okA || !okB {
		return false
	}
	for i := range 3 {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

func versionParts(v string) ([3]int, bool) {
	var out [3]int
	if v == "" {
		return out, false
	}
	for i, p := range strings.Split(v, ".") {
		j := 0
		for j < len(p) && p[j] >= '0' && p[j] <= '9' {
			j++
		}
		if j == 0 {
			return out, false
		}
		n, err := strconv.Atoi(p[:j])
		if err != nil {
			return out, false
		}
		if i < 3 {
			out[i] = n
		}
	}
	return out, true
}

func sha(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}
