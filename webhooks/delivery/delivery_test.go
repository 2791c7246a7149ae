package delivery_test

import (
	"context"
	"crypto/rsa"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"

	"github.com/kayle-id/orgs-api/egress"
	"github.com/kayle-id/orgs-api/internal/dnstest"
	"github.com/kayle-id/orgs-api/internal/testdb"
	"github.com/kayle-id/orgs-api/internal/whtest"
	"github.com/kayle-id/orgs-api/store"
	"github.com/kayle-id/orgs-api/webhooks"
	"github.com/kayle-id/orgs-api/webhooks/delivery"
)

// dataKey is the webhook data key of the test stores; the tests seal
// endpoints' secrets under it as the store would.
var dataKey = []byte("delivery-test-data-key-0123456789abcdef")

// fixture is a store with one organization, over a real database.
type fixture struct {
	t  *testing.T
	st *store.Store
	*whtest.Seed
}

func newFixture(t *testing.T, kind testdb.Kind) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, testdb.URL(t, kind), store.Options{WebhookSecretKey: dataKey, MaxOpenConns: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	u, err := st.CreateUser(ctx, fmt.Sprintf("owner-%s@example.com", uuid.NewString()[:8]), "Owner")
	if err != nil {
		t.Fatal(err)
	}
	org, err := st.CreateOrganization(ctx, store.Actor{UserID: u.ID}, store.NewOrganization{Name: "Acme", Slug: "acme-" + uuid.NewString()[:8]})
	if err != nil {
		t.Fatal(err)
	}
	seed, err := whtest.NewSeed(st.DB(), st.Dialect() == store.Postgres, dataKey, org.ID)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, st: st, Seed: seed}
}

func (f *fixture) endpoint(url, secret string, key *rsa.PublicKey) string {
	f.t.Helper()
	id, err := f.Endpoint(url, secret, key)
	if err != nil {
		f.t.Fatal(err)
	}
	return id
}

// session adds an active session and returns its id.
func (f *fixture) session() string {
	f.t.Helper()
	ids, err := f.Sessions(1, time.Now().Add(time.Hour))
	if err != nil {
		f.t.Fatal(err)
	}
	return ids[0]
}

func (f *fixture) cancel(id string) {
	f.t.Helper()
	if err := f.st.CancelVerificationSession(context.Background(), store.RPCaller{OrganizationID: f.Org}, id); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) start(o delivery.Options) {
	f.t.Helper()
	o.AllowLoopback = true
	if o.PollInterval == 0 {
		o.PollInterval = 20 * time.Millisecond
	}
	r, err := delivery.New(f.st, o)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = r.Stop(ctx)
	})
}

type deliveryRow struct {
	status, reason         string
	attempts               int
	payload, held, nextSet bool
	lastCode               *int
}

func (f *fixture) delivery(endpoint string) (string, deliveryRow) {
	f.t.Helper()
	var id string
	var r deliveryRow
	var reason *string
	var payload, held *string
	var next *time.Time
	err := f.QueryRow(`SELECT id, status, payload_retention_reason, attempt_count, payload, held_payload, next_attempt_at, last_status_code
		FROM webhook_deliveries WHERE webhook_endpoint_id = ?`, endpoint).Scan(&id, &r.status, &reason, &r.attempts, &payload, &held, &next, &r.lastCode)
	if err != nil {
		f.t.Fatal(err)
	}
	if reason != nil {
		r.reason = *reason
	}
	r.payload, r.held, r.nextSet = payload != nil, held != nil, next != nil
	return id, r
}

func (f *fixture) waitFor(endpoint string, ok func(deliveryRow) bool, within time.Duration) deliveryRow {
	f.t.Helper()
	deadline := time.Now().Add(within)
	for {
		_, r := f.delivery(endpoint)
		if ok(r) {
			return r
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("delivery never reached the state wanted; last: %+v", r)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// receiver is a whtest.Receiver answering with statuses in turn (200 once
// they run out), its requests on a channel.
func receiver(t *testing.T, secret string, priv *rsa.PrivateKey, statuses ...int) (string, <-chan whtest.Request) {
	t.Helper()
	ch := make(chan whtest.Request, 100)
	r := whtest.NewReceiver(secret, priv)
	r.Status = func(n int64) int {
		if int(n) <= len(statuses) {
			return statuses[n-1]
		}
		return http.StatusOK
	}
	r.Seen = func(got whtest.Request) { ch <- got }
	t.Cleanup(r.Close)
	return r.URL, ch
}

func recv(t *testing.T, ch <-chan whtest.Request, within time.Duration) whtest.Request {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(within):
		t.Fatal("no delivery arrived")
	}
	return whtest.Request{}
}

func forEachDB(t *testing.T, fn func(t *testing.T, kind testdb.Kind)) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			fn(t, kind)
		})
	}
}

// A cancelled session reaches the endpoint as upstream sends it: signed,
// encrypted to the endpoint's key, the exact payload bytes; the delivery
// ends succeeded with its payload scrubbed.
func TestDeliveredAsUpstream(t *testing.T) {
	forEachDB(t, func(t *testing.T, kind testdb.Kind) {
		f := newFixture(t, kind)
		priv := whtest.NewKey()
		url, ch := receiver(t, "whsec_0123456789abcdefghijklmnopqrstuv", priv)
		ep := f.endpoint(url, "whsec_0123456789abcdefghijklmnopqrstuv", &priv.PublicKey)
		sess := f.session()
		f.cancel(sess)
		id, r := f.delivery(ep)
		if r.status != store.DeliveryPending || r.reason != store.ReasonPendingDelivery || !r.payload || !r.nextSet {
			t.Fatalf("delivery after the commit = %+v, want pending with its payload and next attempt", r)
		}
		f.start(delivery.Options{})
		got := recv(t, ch, 10*time.Second)
		if got.Err != nil {
			t.Fatalf("receiver refused the delivery: %v", got.Err)
		}
		var eventID string
		if err := f.QueryRow(`SELECT id FROM events WHERE trigger_id = ?`, sess).Scan(&eventID); err != nil {
			t.Fatal(err)
		}
		want := `{"data":{"outcome":"not_verified","reason":"cancelled","nfc_tries_used":0,"liveness_tries_used":0},` +
			`"metadata":{"contract_version":1,"event_id":"` + eventID + `","verification_session_id":"` + sess + `"},"type":"verification.session.cancelled"}`
		if string(got.Plaintext) != want {
			t.Errorf("plaintext:\n got %s\nwant %s", got.Plaintext, want)
		}
		if got.DeliveryID != id || got.Event != webhooks.EventCancelled || got.ContentType != "application/jose" || got.UserAgent != "" {
			t.Errorf("headers: %+v", got)
		}
		r = f.waitFor(ep, func(r deliveryRow) bool { return r.status == store.DeliverySucceeded }, 5*time.Second)
		if r.payload || r.reason != store.ReasonDelivered || r.attempts != 1 || r.lastCode == nil || *r.lastCode != 200 || r.nextSet {
			t.Errorf("delivered row = %+v", r)
		}
	})
}

// A failed attempt waits for the schedule's next slot (5 s) with the row
// showing it, and the next attempt is signed anew.
func TestRetriedOnSchedule(t *testing.T) {
	forEachDB(t, func(t *testing.T, kind testdb.Kind) {
		f := newFixture(t, kind)
		priv := whtest.NewKey()
		secret := "whsec_retryretryretryretryretryretryre"
		url, ch := receiver(t, secret, priv, http.StatusServiceUnavailable)
		ep := f.endpoint(url, secret, &priv.PublicKey)
		f.start(delivery.Options{})
		f.cancel(f.session())
		first := recv(t, ch, 10*time.Second)
		r := f.waitFor(ep, func(r deliveryRow) bool { return r.attempts == 1 }, 5*time.Second)
		if r.status != store.DeliveryPending || r.lastCode == nil || *r.lastCode != 503 || !r.nextSet || !r.payload {
			t.Fatalf("after a 503: %+v", r)
		}
		start := time.Now()
		second := recv(t, ch, 15*time.Second)
		if waited := time.Since(start); waited < 4*time.Second {
			t.Errorf("second attempt after %v, want the schedule's 5 s", waited)
		}
		if second.Err != nil || first.DeliveryID != second.DeliveryID || string(first.Plaintext) != string(second.Plaintext) {
			t.Errorf("retry differs: %+v vs %+v", first, second)
		}
		f.waitFor(ep, func(r deliveryRow) bool { return r.status == store.DeliverySucceeded && r.attempts == 2 }, 5*time.Second)
	})
}

// An endpoint without an active key never receives plaintext: its
// delivery is held, visibly, and nothing is sent.
func TestHeldWithoutKey(t *testing.T) {
	forEachDB(t, func(t *testing.T, kind testdb.Kind) {
		f := newFixture(t, kind)
		priv := whtest.NewKey()
		url, ch := receiver(t, "whsec_heldheldheldheldheldheldheldhel", priv)
		ep := f.endpoint(url, "whsec_heldheldheldheldheldheldheldhel", nil)
		f.start(delivery.Options{})
		f.cancel(f.session())
		_, r := f.delivery(ep)
		if r.status != store.DeliveryPending || r.reason != store.ReasonNoActiveKey || r.payload || !r.held {
			t.Fatalf("delivery without a key = %+v, want pending, held, reason no_active_key", r)
		}
		select {
		case got := <-ch:
			t.Fatalf("an endpoint without a key received %+v", got)
		case <-time.After(500 * time.Millisecond):
		}
	})
}

// A name that resolves to a private address is refused when the attempt
// dials, after resolution: no connection is made, and the attempt is
// recorded failed with the address named.
func TestPrivateAddressRefusedAtDial(t *testing.T) {
	forEachDB(t, func(t *testing.T, kind testdb.Kind) {
		dns, err := dnstest.Start()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(dns.Close)
		dns.SetAddrs("hooks.example.test", netip.MustParseAddr("10.0.0.7"))
		f := newFixture(t, kind)
		priv := whtest.NewKey()
		ep := f.endpoint("https://hooks.example.test/k", "whsec_privateprivateprivateprivatepr", &priv.PublicKey)
		resolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "udp", dns.Addr)
		}}
		f.start(delivery.Options{Client: egress.New(egress.Options{Resolver: resolver, Timeout: 5 * time.Second})})
		f.cancel(f.session())
		r := f.waitFor(ep, func(r deliveryRow) bool { return r.attempts == 1 }, 10*time.Second)
		if r.status != store.DeliveryPending || r.lastCode != nil {
			t.Errorf("after the refused dial: %+v", r)
		}
		id, _ := f.delivery(ep)
		var msg string
		if err := f.QueryRow(`SELECT error FROM webhook_delivery_attempts WHERE webhook_delivery_id = ?`, id).Scan(&msg); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(msg, "address refused") || !strings.Contains(msg, "10.0.0.7") {
			t.Errorf("attempt error = %q, want the refused address named", msg)
		}
	})
}

// One receiver that never answers within the attempt's deadline holds at
// most its endpoint's slots; the others' deliveries go on at full speed.
func TestHangingEndpointDoesNotSlowOthers(t *testing.T) {
	f := newFixture(t, testdb.Postgres)
	const events = 150
	var healthy []*whtest.Receiver
	for i := range 2 {
		key := whtest.NewKey()
		secret := fmt.Sprintf("whsec_healthy%024d", i)
		r := whtest.NewReceiver(secret, key)
		t.Cleanup(r.Close)
		f.endpoint(r.URL, secret, &key.PublicKey)
		healthy = append(healthy, r)
	}
	key := whtest.NewKey()
	hung := whtest.NewReceiver("whsec_hunghunghunghunghunghunghunghung", key)
	hung.Delay = time.Minute // until the sender gives up
	t.Cleanup(hung.Close)
	f.endpoint(hung.URL, "whsec_hunghunghunghunghunghunghunghung", &key.PublicKey)
	if _, err := f.Sessions(events, time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	const perEndpoint = 4
	f.start(delivery.Options{Workers: 16, PerEndpoint: perEndpoint})
	start := time.Now()
	if _, err := f.st.ExpireDue(context.Background(), 100, events, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, r := range healthy {
		if err := r.WaitUnique(ctx, events); err != nil {
			t.Fatalf("a healthy endpoint, beside one that hangs: %v", err)
		}
	}
	took := time.Since(start)
	if st := hung.Stats(); st.Peak > perEndpoint || st.Peak == 0 {
		t.Errorf("the hanging endpoint had %d requests at once, want 1..%d", st.Peak, perEndpoint)
	}
	t.Logf("%d deliveries to the healthy endpoints in %v while the third hung", 2*events, took)
}

// Sending throughput on PostgreSQL: b.N deliveries (to 3 endpoints whose
// receivers verify every signature) committed first, then sent by one
// runner at its defaults. The whole pipeline is in-process here; make bench
// runs internal/tools/webhookbench for the figures of a server process.
func BenchmarkDeliveryThroughput(b *testing.B) {
	ctx := context.Background()
	st, err := store.Open(ctx, testdb.URL(b, testdb.Postgres), store.Options{WebhookSecretKey: dataKey})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	u, _ := st.CreateUser(ctx, "bench@example.com", "B")
	org, err := st.CreateOrganization(ctx, store.Actor{UserID: u.ID}, store.NewOrganization{Name: "B", Slug: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	seed, _ := whtest.NewSeed(st.DB(), true, dataKey, org.ID)
	var rs []*whtest.Receiver
	for i := range 3 {
		key := whtest.NewKey()
		secret := fmt.Sprintf("whsec_bench%027d", i)
		r := whtest.NewReceiver(secret, key)
		r.VerifyOnly = true
		defer r.Close()
		if _, err := seed.Endpoint(r.URL, secret, &key.PublicKey); err != nil {
			b.Fatal(err)
		}
		rs = append(rs, r)
	}
	events := max(1, b.N/3)
	if _, err := seed.Sessions(events, time.Now().Add(-time.Minute)); err != nil {
		b.Fatal(err)
	}
	if _, err := st.ExpireDue(ctx, 100, events, nil); err != nil {
		b.Fatal(err)
	}
	r, err := delivery.New(st, delivery.Options{AllowLoopback: true})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	if err := r.Start(ctx); err != nil {
		b.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	for _, rc := range rs {
		if err := rc.WaitUnique(wctx, events); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(3*events)/b.Elapsed().Seconds(), "deliveries/s")
	_ = r.Stop(ctx)
}

// The payload sweep ends a pending delivery whose retention ran out in a
// visible final state (failed, reason expired), never pending forever; and
// the event's 30-day retention waits for its deliveries' payloads to go.
func TestPayloadSweepEndsDeliveries(t *testing.T) {
	forEachDB(t, func(t *testing.T, kind testdb.Kind) {
		ctx := context.Background()
		f := newFixture(t, kind)
		priv := whtest.NewKey()
		withKey := f.endpoint("https://hooks.example.com/a", "whsec_sweepsweepsweepsweepsweepsweepsw", &priv.PublicKey)
		held := f.endpoint("https://hooks.example.com/b", "whsec_sweepsweepsweepsweepsweepsweepsw", nil)
		sess := f.session()
		f.cancel(sess)
		old := time.Now().Add(-40 * 24 * time.Hour).UTC()
		if err := f.Exec(`UPDATE events SET created_at = ?`, old); err != nil {
			t.Fatal(err)
		}
		if err := f.Exec(`UPDATE webhook_deliveries SET payload_expires_at = ?`, old); err != nil {
			t.Fatal(err)
		}
		// The event is past its 30 days, but its deliveries still hold
		// their payloads: it stays.
		res, err := f.st.SweepRetention(ctx, store.RetentionOptions{}, nil)
		if err != nil || res.EventsDeleted != 0 {
			t.Fatalf("retention before the sweep: %+v, %v; want the event kept", res, err)
		}
		n, err := f.st.SweepWebhookPayloads(ctx, 1, 100)
		if err != nil || n != 2 {
			t.Fatalf("sweep: %d, %v; want both deliveries, one per batch", n, err)
		}
		for _, ep := range []string{withKey, held} {
			if _, r := f.delivery(ep); r.status != store.DeliveryFailed || r.reason != store.ReasonExpired || r.payload || r.held || r.nextSet {
				t.Errorf("after the sweep: %+v, want failed, expired, nothing held", r)
			}
		}
		if n, err := f.st.SweepWebhookPayloads(ctx, 10, 100); err != nil || n != 0 {
			t.Errorf("second sweep: %d, %v; want nothing left", n, err)
		}
		res, err = f.st.SweepRetention(ctx, store.RetentionOptions{}, nil)
		if err != nil || res.EventsDeleted != 1 {
			t.Fatalf("retention after the sweep: %+v, %v; want the event deleted", res, err)
		}
		var left int
		if err := f.QueryRow(`SELECT COUNT(*) FROM webhook_deliveries`).Scan(&left); err != nil || left != 0 {
			t.Errorf("%d deliveries left with their event gone (%v)", left, err)
		}
	})
}

// A key added to an endpoint whose deliveries were held releases them:
// encrypted to the new key, started, received, decrypted with its private
// half.
func TestHeldReleasedByNewKey(t *testing.T) {
	forEachDB(t, func(t *testing.T, kind testdb.Kind) {
		f := newFixture(t, kind)
		priv := whtest.NewKey()
		secret := "whsec_releasereleasereleasereleasere"
		url, ch := receiver(t, secret, priv)
		ep := f.endpoint(url, secret, nil)
		f.start(delivery.Options{})
		sess := f.session()
		f.cancel(sess)
		if _, r := f.delivery(ep); !r.held || r.reason != store.ReasonNoActiveKey {
			t.Fatalf("before the key: %+v, want held", r)
		}
		pub, err := jose.JSONWebKey{Key: &priv.PublicKey}.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.st.CreateWebhookKey(context.Background(), store.RPCaller{OrganizationID: f.Org}, ep,
			store.NewWebhookKey{KeyID: "k-release", Algorithm: "RSA-OAEP-256", KeyType: "RSA", JWK: pub}); err != nil {
			t.Fatal(err)
		}
		got := recv(t, ch, 10*time.Second)
		if got.Err != nil || !strings.Contains(string(got.Plaintext), `"verification_session_id":"`+sess+`"`) {
			t.Fatalf("released delivery: %+v (%s)", got, got.Plaintext)
		}
		r := f.waitFor(ep, func(r deliveryRow) bool { return r.status == store.DeliverySucceeded }, 5*time.Second)
		if r.held || r.payload || r.reason != store.ReasonDelivered {
			t.Errorf("after the release: %+v", r)
		}
	})
}

// A retry of a delivery waiting for its next scheduled attempt starts a new
// run that supersedes the scheduled one: the receiver gets the retry at
// once, and nothing when the old run's time comes.
func TestRetrySupersedesScheduledRun(t *testing.T) {
	forEachDB(t, func(t *testing.T, kind testdb.Kind) {
		f := newFixture(t, kind)
		priv := whtest.NewKey()
		secret := "whsec_supersedesupersedesupersedesup"
		url, ch := receiver(t, secret, priv, http.StatusServiceUnavailable)
		ep := f.endpoint(url, secret, &priv.PublicKey)
		f.start(delivery.Options{})
		f.cancel(f.session())
		recv(t, ch, 10*time.Second)
		f.waitFor(ep, func(r deliveryRow) bool { return r.attempts == 1 && r.status == store.DeliveryPending }, 5*time.Second)
		id, _ := f.delivery(ep)
		if _, err := f.st.RetryWebhookDelivery(context.Background(), store.RPCaller{OrganizationID: f.Org}, id); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if got := recv(t, ch, 3*time.Second); got.Err != nil || got.DeliveryID != id {
			t.Fatalf("retry: %+v", got)
		}
		if waited := time.Since(start); waited > 2*time.Second {
			t.Errorf("the retry came after %v, want at once (not at the 5 s of the old schedule)", waited)
		}
		f.waitFor(ep, func(r deliveryRow) bool { return r.status == store.DeliverySucceeded && r.attempts == 1 }, 5*time.Second)
		// The old run was due 5 s after the first attempt.
		select {
		case got := <-ch:
			t.Fatalf("the superseded run sent again: %+v", got)
		case <-time.After(6 * time.Second):
		}
	})
}
