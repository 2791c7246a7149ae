package cluster_test

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kayle-id/orgs-api/internal/cluster"
	"github.com/kayle-id/orgs-api/internal/testdb"
	"github.com/kayle-id/orgs-api/internal/whtest"
	"github.com/kayle-id/orgs-api/store"
)

// webhookKey is the data key the replicas and the seeding share.
const webhookKey = "cluster-test-webhook-data-key-0123456789"

// burst seeds an organization with three endpoints (each its own receiver
// and key) and n sessions already past their expiry, which each replica's
// expiry job ends: n events, 3n deliveries, fanned out in the transactions
// of the endings while the deliveries of the first ones are being sent.
func burst(t *testing.T, url string, n int) []*whtest.Receiver {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, url, store.Options{WebhookSecretKey: []byte(webhookKey)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	u, err := st.CreateUser(ctx, "owner-"+uuid.NewString()[:8]+"@example.com", "Owner")
	if err != nil {
		t.Fatal(err)
	}
	org, err := st.CreateOrganization(ctx, store.Actor{UserID: u.ID}, store.NewOrganization{Name: "Burst", Slug: "burst-" + uuid.NewString()[:8]})
	if err != nil {
		t.Fatal(err)
	}
	seed, err := whtest.NewSeed(st.DB(), st.Dialect() == store.Postgres, []byte(webhookKey), org.ID)
	if err != nil {
		t.Fatal(err)
	}
	var receivers []*whtest.Receiver
	for i := range 3 {
		key := whtest.NewKey()
		secret := fmt.Sprintf("whsec_burst%026d", i)
		r := whtest.NewReceiver(secret, key)
		// A little time per answer, so that two sends of one delivery at
		// once would overlap at the receiver.
		r.Delay = 2 * time.Millisecond
		t.Cleanup(r.Close)
		if _, err := seed.Endpoint(r.URL, secret, &key.PublicKey); err != nil {
			t.Fatal(err)
		}
		receivers = append(receivers, r)
	}
	if _, err := seed.Sessions(n, time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	return receivers
}

func webhookReplica(dir, bin, url, name, addr string) *cluster.Replica {
	return &cluster.Replica{Name: name, Addr: addr, Bin: bin, LogPath: filepath.Join(dir, name+".log"), Env: []string{
		"DATABASE_URL=" + url,
		"KAYLE_WEBHOOK_SECRET_KEY=" + webhookKey,
		"KAYLE_WEBHOOK_ALLOW_LOOPBACK=true",
		"KAYLE_WEBHOOK_RESCUE_AFTER=31s",
		"KAYLE_SESSION_EXPIRY_INTERVAL=100ms",
		"KAYLE_MAIL_DIR=" + filepath.Join(dir, "mail-"+name),
		"KAYLE_STORAGE_URL=" + filepath.Join(dir, "objects"),
	}}
}

func total(rs []*whtest.Receiver) (st whtest.Stats) {
	for _, r := range rs {
		s := r.Stats()
		st.Unique += s.Unique
		st.Accepted += s.Accepted
		st.Overlaps += s.Overlaps
		st.Refused += s.Refused
	}
	return st
}

// A kill -9 of the server in the middle of a burst loses no delivery: each
// committed ending has its deliveries and their jobs in the same
// transaction, and a run that was mid-attempt is rescued after the restart
// and sent again. On both databases.
func TestWebhookDeliveriesSurviveKill(t *testing.T) {
	if testing.Short() {
		t.Skip("kill test skipped in -short mode")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	bin := buildKayleid(t, root, t.TempDir())
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel() // most of it is waiting for the rescue
			const sessions = 600
			dir := t.TempDir()
			url := testdb.URL(t, kind)
			receivers := burst(t, url, sessions)
			addrs, err := cluster.FreeAddrs(1)
			if err != nil {
				t.Fatal(err)
			}
			r := webhookReplica(dir, bin, url, "r1", addrs[0])
			t.Cleanup(func() {
				_ = r.Stop(syscall.SIGTERM, 20*time.Second)
				if t.Failed() {
					t.Logf("r1 log tail:\n%s", tail(r.LogPath, 40))
				}
			})
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			if err := r.Start(); err != nil {
				t.Fatal(err)
			}
			// Mid-burst: some deliveries arrived, most have not.
			if err := poll(ctx, 2*time.Millisecond, func() error {
				if total(receivers).Unique < 300 {
					return fmt.Errorf("waiting")
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if err := r.Stop(syscall.SIGKILL, 10*time.Second); err == nil {
				t.Fatal("the server was not killed")
			}
			before := total(receivers)
			if before.Unique >= 3*sessions {
				t.Fatalf("the burst was over before the kill (%d delivered): nothing tested", before.Unique)
			}
			if err := r.Start(); err != nil {
				t.Fatal(err)
			}
			for _, rc := range receivers {
				if err := rc.WaitUnique(ctx, sessions); err != nil {
					t.Fatalf("after the restart: %v", err)
				}
			}
			after := total(receivers)
			t.Logf("%d deliveries; %d had arrived at the kill; %d resent after it (at least once)", after.Unique, before.Unique, after.Accepted-after.Unique)
			if after.Refused > 0 {
				t.Errorf("%d requests failed the receiver's signature or decryption", after.Refused)
			}
			var left int
			s, err := store.Open(ctx, url, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.DB().QueryRow(`SELECT COUNT(*) FROM webhook_deliveries WHERE status <> 'succeeded'`).Scan(&left); err != nil {
				t.Fatal(err)
			}
			if left != 0 {
				// The receivers' counts come first: a row may lag its answer.
				_ = poll(ctx, 50*time.Millisecond, func() error {
					if err := s.DB().QueryRow(`SELECT COUNT(*) FROM webhook_deliveries WHERE status <> 'succeeded'`).Scan(&left); err != nil || left != 0 {
						return fmt.Errorf("%d deliveries not succeeded", left)
					}
					return nil
				})
				if left != 0 {
					t.Errorf("%d deliveries are not succeeded although every one arrived", left)
				}
			}
		})
	}
}

// Two replicas share the deliveries of one burst, and no delivery is sent
// by both at once (nor twice at all, with no crash in between).
func TestWebhookDeliveriesSharedByReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("replica test skipped in -short mode")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := buildKayleid(t, root, dir)
	const sessions = 500
	url := testdb.URL(t, testdb.Postgres)
	receivers := burst(t, url, sessions)
	addrs, err := cluster.FreeAddrs(2)
	if err != nil {
		t.Fatal(err)
	}
	rs := []*cluster.Replica{webhookReplica(dir, bin, url, "r1", addrs[0]), webhookReplica(dir, bin, url, "r2", addrs[1])}
	for _, r := range rs {
		t.Cleanup(func() {
			_ = r.Stop(syscall.SIGTERM, 20*time.Second)
			if t.Failed() {
				t.Logf("%s log tail:\n%s", r.Name, tail(r.LogPath, 40))
			}
		})
		if err := r.Start(); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, rc := range receivers {
		if err := rc.WaitUnique(ctx, sessions); err != nil {
			t.Fatal(err)
		}
	}
	// Late duplicates would arrive within a poll or two.
	time.Sleep(500 * time.Millisecond)
	st := total(receivers)
	if st.Accepted != st.Unique || st.Overlaps != 0 || st.Refused != 0 {
		t.Errorf("with two replicas: %+v, want every delivery once", st)
	}
	// Both replicas worked: the queue's jobs record which client ran them.
	var workers int
	s, err := store.Open(ctx, url, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.DB().QueryRow(`SELECT COUNT(DISTINCT attempted_by[array_length(attempted_by, 1)]) FROM river_job WHERE kind = 'webhook_delivery'`).Scan(&workers); err != nil {
		t.Fatal(err)
	}
	if workers != 2 {
		t.Errorf("%d replicas worked the queue, want both", workers)
	}
}
