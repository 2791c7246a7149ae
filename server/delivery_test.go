package server_test

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	api "github.com/kayle-id/orgs-api/gen/api"
	"github.com/kayle-id/orgs-api/internal/testdb"
	"github.com/kayle-id/orgs-api/internal/testnet"
	"github.com/kayle-id/orgs-api/mail"
	"github.com/kayle-id/orgs-api/server"
	"github.com/kayle-id/orgs-api/store"
	"github.com/kayle-id/orgs-api/validator"
)

// relay is an SMTP server that hands each message it receives to the test
// and answers the end of DATA with whatever the test replies.
type relay struct {
	addr     string
	messages chan string
	replies  chan string
}

func newRelay(t *testing.T) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	r := &relay{addr: ln.Addr().String(), messages: make(chan string, 10), replies: make(chan string, 10)}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go r.serve(conn)
		}
	}()
	return r
}

func (r *relay) serve(conn net.Conn) {
	defer conn.Close()
	br := bufio.NewReader(conn)
	say := func(s string) { conn.Write([]byte(s + "\r\n")) }
	say("220 relay ESMTP")
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		switch cmd := strings.ToUpper(strings.TrimSpace(line)); {
		case cmd == "DATA":
			say("354 go on")
			var msg strings.Builder
			for {
				l, err := br.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				msg.WriteString(l)
			}
			r.messages <- msg.String()
			say(<-r.replies)
		case cmd == "QUIT":
			say("221 bye")
			return
		default:
			say("250 ok")
		}
	}
}

// code reads the deletion code out of a message the relay received.
func (r *relay) code(t *testing.T) string {
	t.Helper()
	select {
	case msg := <-r.messages:
		m := codeLine.FindStringSubmatch(msg)
		if m == nil {
			t.Fatalf("no code in %q", msg)
		}
		return m[1]
	case <-time.After(10 * time.Second):
		t.Fatal("the relay received no message")
		return ""
	}
}

func smtpServer(t *testing.T, st *store.Store, addr string, timeout time.Duration) *api.ClientWithResponses {
	t.Helper()
	mailer, err := mail.NewSMTP("smtp://"+addr, "Kayle ID <no-reply@kayle.id>", nil)
	if err != nil {
		t.Fatal(err)
	}
	app, err := server.New(server.Config{Validation: validator.Full, Metrics: conformance, RequestTimeout: timeout,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, st, mailer)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(app)
	t.Cleanup(srv.Close)
	c, _ := api.NewClientWithResponses(srv.URL)
	return c
}

func countRows(t *testing.T, st *store.Store, q string) int {
	t.Helper()
	var n int
	if err := st.DB().QueryRow(q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A relay that accepts and never answers holds neither a database
// connection nor the database's write lock: other users keep creating and
// reading while deletion requests wait on it, each of those ends within its
// request timeout with a clear answer, and nothing usable is left behind.
func TestStalledRelay(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			// A pool smaller than the number of stalled deliveries.
			st, err := store.Open(ctx, testdb.URL(t, kind), store.Options{MaxOpenConns: 2})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			if _, err := st.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			newUser := func(email string) (string, store.Principal) {
				if _, err := st.CreateUser(ctx, email, "U"); err != nil {
					t.Fatal(err)
				}
				tok, err := st.CreateSession(ctx, email, nil, time.Hour)
				if err != nil {
					t.Fatal(err)
				}
				p, err := st.Authenticate(ctx, tok.Token)
				if err != nil {
					t.Fatal(err)
				}
				return tok.Token, p
			}
			type owner struct {
				token string
				org   uuid.UUID
			}
			var owners []owner
			for i := range 3 {
				tok, p := newUser("owner" + string(rune('a'+i)) + "@example.com")
				org, err := st.CreateOrganization(ctx, p.Actor(), store.NewOrganization{Name: "O", Slug: "stalled-" + string(rune('a'+i))})
				if err != nil {
					t.Fatal(err)
				}
				owners = append(owners, owner{tok, org.ID})
			}
			other, _ := newUser("other@example.com")
			const timeout = 2 * time.Second
			// An SMTP relay that accepts connections and never says a word.
			c := smtpServer(t, st, testnet.Silent(t), timeout)

			var wg sync.WaitGroup
			for _, o := range owners {
				wg.Add(1)
				go func() {
					defer wg.Done()
					start := time.Now()
					r, err := c.RequestOrganizationDeletionWithResponse(ctx, api.RequestOrganizationDeletionJSONRequestBody{OrganizationId: o.org}, bearer(o.token))
					if err != nil {
						t.Error(err)
						return
					}
					if d := time.Since(start); d > timeout+time.Second {
						t.Errorf("a deletion request waited %s on the relay; the request timeout is %s", d, timeout)
					}
					if r.StatusCode() != 500 || !strings.Contains(string(r.Body), `"CODE_NOT_SENT"`) {
						t.Errorf("stalled delivery: %d %s", r.StatusCode(), r.Body)
					}
				}()
			}
			time.Sleep(500 * time.Millisecond) // the three are waiting on the relay
			start := time.Now()
			cr, err := c.CreateOrganizationWithResponse(ctx, api.CreateOrganizationJSONRequestBody{Name: "Busy", Slug: "busy"}, bearer(other))
			if err != nil || cr.StatusCode() != 200 {
				t.Fatalf("another user's create while deliveries stall: %v %d %s", err, cr.StatusCode(), cr.Body)
			}
			lr, err := c.ListOwnedOrganizationsWithResponse(ctx, bearer(other))
			if err != nil || lr.StatusCode() != 200 {
				t.Fatalf("another user's read while deliveries stall: %v %d %s", err, lr.StatusCode(), lr.Body)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("other users waited %s behind the stalled deliveries", d)
			}
			wg.Wait()
			if n := countRows(t, st, `SELECT COUNT(*) FROM organization_deletion_codes`); n != 0 {
				t.Errorf("%d codes left behind by failed deliveries", n)
			}
			if n := countRows(t, st, `SELECT COUNT(*) FROM audit_logs WHERE event = 'organization.deletion.requested'`); n != 0 {
				t.Errorf("%d deletion requests audited that were never delivered", n)
			}
		})
	}
}

// A code is usable only once it has been mailed: not while the mail is
// still on its way, and never when the relay refused it.
func TestCodeUsableOnlyOnceMailed(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		owner := e.person("owner")
		orgID := e.org(owner, "mailed-"+string(e.kind))
		relay := newRelay(t)
		c := smtpServer(t, e.st, relay.addr, 10*time.Second)
		request := func() chan *api.RequestOrganizationDeletionResponse {
			out := make(chan *api.RequestOrganizationDeletionResponse, 1)
			go func() {
				r, err := c.RequestOrganizationDeletionWithResponse(ctx, api.RequestOrganizationDeletionJSONRequestBody{OrganizationId: orgID}, bearer(owner.Token))
				if err != nil {
					t.Error(err)
				}
				out <- r
			}()
			return out
		}
		confirm := func(code string) *api.ConfirmOrganizationDeletionResponse {
			r, err := c.ConfirmOrganizationDeletionWithResponse(ctx, api.ConfirmOrganizationDeletionJSONRequestBody{OrganizationId: orgID, Code: code}, bearer(owner.Token))
			if err != nil {
				t.Fatal(err)
			}
			return r
		}

		// Refused by the relay: 500, and the code it carried never works.
		done := request()
		refused := relay.code(t)
		relay.replies <- "554 no thanks"
		wantError(t, <-done, 500, "CODE_NOT_SENT", "")
		wantError(t, confirm(refused), 400, "INVALID_CODE", "")

		// In flight: the code is not usable until the relay has taken it.
		done = request()
		code := relay.code(t)
		wantError(t, confirm(code), 400, "INVALID_CODE", "")
		relay.replies <- "250 queued"
		r := <-done
		wantStatus(t, r, 200)
		wantStatus(t, confirm(code), 200)
		if n := countRows(t, e.st, `SELECT COUNT(*) FROM audit_logs WHERE event = 'organization.deletion.requested'`); n != 1 {
			t.Fatalf("%d deletion requests audited, want the one delivered", n)
		}
	})
}
