// Package whtest is what tests and benchmarks of the webhook pipeline
// share: rows seeded the way the API stores them (an endpoint's secret
// sealed under the configured data key, its key normalised), and a real
// receiver on loopback that checks every request the way upstream's
// documentation tells customers to and decrypts it with go-jose.
package whtest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"

	"github.com/kayle-id/orgs-api/webhooks"
)

// Seed writes rows straight into a migrated database.
type Seed struct {
	DB       *sql.DB
	Postgres bool
	Box      *webhooks.SecretBox
	Org      uuid.UUID
}

// NewSeed seals with the data key material key (the store's
// Options.WebhookSecretKey / KAYLE_WEBHOOK_SECRET_KEY).
func NewSeed(db *sql.DB, postgres bool, key []byte, org uuid.UUID) (*Seed, error) {
	box, err := webhooks.NewSecretBox(key)
	if err != nil {
		return nil, err
	}
	return &Seed{DB: db, Postgres: postgres, Box: box, Org: org}, nil
}

func (s *Seed) ph(q string) string {
	if !s.Postgres {
		return q
	}
	n := 0
	var b strings.Builder
	for _, r := range q {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Exec runs q with ? placeholders on either database.
func (s *Seed) Exec(q string, args ...any) error {
	_, err := s.DB.Exec(s.ph(q), args...)
	return err
}

// QueryRow runs q with ? placeholders on either database.
func (s *Seed) QueryRow(q string, args ...any) *sql.Row { return s.DB.QueryRow(s.ph(q), args...) }

// Endpoint adds an enabled endpoint subscribed to every event type, with
// key as its active key when not nil.
func (s *Seed) Endpoint(url, secret string, key *rsa.PublicKey) (string, error) {
	id, _ := webhooks.NewID(webhooks.EndpointIDPrefix, webhooks.ShortIDChars)
	sealed, err := s.Box.Seal(secret)
	if err != nil {
		return "", err
	}
	now := time.Now().UTC()
	types, _ := json.Marshal(webhooks.EventTypes)
	if err := s.Exec(`INSERT INTO webhook_endpoints (id, organization_id, labels, url, enabled, subscribed_event_types,
		undelivered_payload_retention_hours, signing_secret_ciphertext, created_at, updated_at)
		VALUES (?, ?, '[]', ?, ?, ?, 72, ?, ?, ?)`, id, s.Org.String(), url, true, string(types), sealed, now, now); err != nil {
		return "", err
	}
	if key != nil {
		if err := s.Key(id, key); err != nil {
			return "", err
		}
	}
	return id, nil
}

// Key adds key as the endpoint's active key (kid "k1").
func (s *Seed) Key(endpoint string, key *rsa.PublicKey) error {
	pub, err := jose.JSONWebKey{Key: key}.MarshalJSON()
	if err != nil {
		return err
	}
	jwk, err := webhooks.CheckJWK(pub)
	if err != nil {
		return err
	}
	id, _ := webhooks.NewID(webhooks.KeyIDPrefix, webhooks.ShortIDChars)
	now := time.Now().UTC()
	return s.Exec(`INSERT INTO webhook_encryption_keys (id, webhook_endpoint_id, key_id, algorithm, key_type, jwk, is_active, created_at, updated_at)
		VALUES (?, ?, 'k1', 'RSA-OAEP-256', 'RSA', ?, ?, ?, ?)`, id, endpoint, string(jwk.Normalized()), true, now, now)
}

// Sessions adds n active sessions expiring at expires and returns their
// ids (past expires: the expiry job ends them, each with one event).
func (s *Seed) Sessions(n int, expires time.Time) ([]string, error) {
	ids := make([]string, n)
	now := time.Now().UTC()
	for i := range ids {
		ids[i] = "vs_" + strings.ReplaceAll(uuid.NewString(), "-", "")
		if err := s.Exec(`INSERT INTO verification_sessions (id, organization_id, status, share_fields, cancel_token_hash, expires_at, created_at, updated_at)
			VALUES (?, ?, 'created', '{}', 'x', ?, ?, ?)`, ids[i], s.Org.String(), expires.UTC(), now, now); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// NewKey is a fresh RSA-2048 key pair.
func NewKey() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}

// Request is one request as the receiver saw it.
type Request struct {
	DeliveryID, Event, ContentType, UserAgent string
	Plaintext                                 []byte
	// Err is why the receiver refused it (signature, decryption); nil when
	// it verified and decrypted.
	Err error
	At  time.Time
}

// Receiver is a webhook receiver on loopback.
type Receiver struct {
	URL string
	// Status answers each request (200 when nil); Delay is waited before
	// answering.
	Status func(n int64) int
	Delay  time.Duration
	// Seen is called with every request (from the handler's goroutine).
	Seen func(Request)

	srv    *httptest.Server
	secret string
	key    *rsa.PrivateKey
	n      atomic.Int64

	mu       sync.Mutex
	counts   map[string]int
	inFlight map[string]int
	overlaps int
	refused  int
	current  int
	peak     int
}

// NewReceiver starts a receiver for one endpoint's secret and key.
func NewReceiver(secret string, key *rsa.PrivateKey) *Receiver {
	r := &Receiver{secret: secret, key: key, counts: map[string]int{}, inFlight: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	r.URL = r.srv.URL + "/hooks"
	return r
}

// Close stops the receiver.
func (r *Receiver) Close() { r.srv.Close() }

func (r *Receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	got := Request{DeliveryID: req.Header.Get("X-Kayle-Delivery-Id"), Event: req.Header.Get("X-Kayle-Event"),
		ContentType: req.Header.Get("Content-Type"), UserAgent: req.Header.Get("User-Agent"), At: time.Now()}
	got.Err = webhooks.Verify(req.Header.Get("X-Kayle-Signature"), body, r.secret, time.Now(), webhooks.DefaultTolerance)
	if got.Err == nil {
		obj, err := jose.ParseEncrypted(string(body), []jose.KeyAlgorithm{jose.RSA_OAEP_256}, []jose.ContentEncryption{jose.A256GCM})
		if err == nil {
			got.Plaintext, err = obj.Decrypt(r.key)
		}
		got.Err = err
	}
	r.mu.Lock()
	r.current++
	r.peak = max(r.peak, r.current)
	r.inFlight[got.DeliveryID]++
	if r.inFlight[got.DeliveryID] > 1 {
		r.overlaps++
	}
	r.mu.Unlock()
	if r.Delay > 0 {
		select {
		case <-time.After(r.Delay):
		case <-req.Context().Done():
		}
	}
	status := http.StatusOK
	if got.Err != nil {
		status = http.StatusBadRequest
	} else if r.Status != nil {
		status = r.Status(r.n.Add(1))
	}
	r.mu.Lock()
	r.current--
	r.inFlight[got.DeliveryID]--
	if got.Err != nil {
		r.refused++
	} else if status >= 200 && status < 300 {
		r.counts[got.DeliveryID]++
	}
	r.mu.Unlock()
	if r.Seen != nil {
		r.Seen(got)
	}
	w.WriteHeader(status)
}

// Stats are the receiver's counts so far.
type Stats struct {
	// Unique is how many deliveries it accepted at least once; Accepted
	// counts every accepted request (Accepted - Unique are duplicates).
	Unique, Accepted int
	// Overlaps counts requests that arrived while another request of the
	// same delivery was still being answered (two senders at once).
	Overlaps int
	// Refused counts requests whose signature or encryption failed.
	Refused int
	// Peak is the most requests it was answering at once.
	Peak int
}

// Stats reports the counts.
func (r *Receiver) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := Stats{Unique: len(r.counts), Overlaps: r.overlaps, Refused: r.refused, Peak: r.peak}
	for _, n := range r.counts {
		st.Accepted += n
	}
	return st
}

// WaitUnique waits until n deliveries were accepted, or ctx ends.
func (r *Receiver) WaitUnique(ctx context.Context, n int) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		if st := r.Stats(); st.Unique >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d deliveries arrived: %w", r.Stats().Unique, n, ctx.Err())
		case <-t.C:
		}
	}
}
