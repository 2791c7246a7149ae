package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	api "github.com/kayle-id/orgs-api/gen/api"
	"github.com/kayle-id/orgs-api/internal/testdb"
	"github.com/kayle-id/orgs-api/store"
)

// SIGTERM during a load of writes: in-flight requests finish or fail
// cleanly, the process exits 0 within the shutdown timeout, and every
// committed change has its audit row (as many rows as successes).
func TestSIGTERMDuringWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("process test skipped in -short mode")
	}
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			ctx := context.Background()
			url := testdb.URL(t, kind)
			st, err := store.Open(ctx, url, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := st.CreateUser(ctx, "owner@example.com", "Owner"); err != nil {
				t.Fatal(err)
			}
			ownerTok, _ := st.CreateSession(ctx, "owner@example.com", nil, time.Hour)
			owner, _ := st.Authenticate(ctx, ownerTok.Token)
			org, err := st.CreateOrganization(ctx, owner.Actor(), store.NewOrganization{Name: "Load", Slug: "load"})
			if err != nil {
				t.Fatal(err)
			}
			ownerActor := owner.Actor()
			ownerActor.ActiveOrganizationID = &org.ID
			const workers = 12
			tokens := make([]string, workers)
			ids := make([]uuid.UUID, workers)
			for i := range workers {
				email := fmt.Sprintf("w%d@example.com", i)
				if _, err := st.CreateUser(ctx, email, "W"); err != nil {
					t.Fatal(err)
				}
				tok, _ := st.CreateSession(ctx, email, nil, time.Hour)
				p, _ := st.Authenticate(ctx, tok.Token)
				if _, err := st.Invite(ctx, ownerActor, email, store.RoleMember); err != nil {
					t.Fatal(err)
				}
				var invID string
				st.DB().QueryRow(`SELECT id FROM invitations WHERE email = $1`, email).Scan(&invID)
				m, err := st.AcceptInvitation(ctx, p.Actor(), uuid.MustParse(invID))
				if err != nil {
					t.Fatal(err)
				}
				tokens[i], ids[i] = tok.Token, m.ID
			}
			st.Close()

			addr := freeAddr(t)
			cmd := exec.Command(os.Args[0], "serve")
			cmd.Env = append(os.Environ(), "KAYLE_TEST_RUN_MAIN=1", "DATABASE_URL="+url, "KAYLE_ADDR="+addr,
				"KAYLE_SHUTDOWN_TIMEOUT=10s", "KAYLE_RATE_LIMIT=0", "KAYLE_RATE_LIMIT_IP=0", "KAYLE_PURGE_INTERVAL=0",
				"KAYLE_MAIL_DIR="+filepath.Join(t.TempDir(), "mail"), "KAYLE_STORAGE_URL="+filepath.Join(t.TempDir(), "objects"))
			logPath := filepath.Join(t.TempDir(), "serve.log")
			logFile, _ := os.Create(logPath)
			cmd.Stdout, cmd.Stderr = logFile, logFile
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			base := "http://" + addr
			waitReady(t, base, logPath)
			c, _ := api.NewClientWithResponses(base)
			var left, reinstated, fiveXX atomic.Int64
			var wg sync.WaitGroup
			stop := make(chan struct{})
			for i := range workers {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						r, err := c.LeaveOrganizationWithResponse(ctx, func(_ context.Context, req *http.Request) error {
							req.Header.Set("Authorization", "Bearer "+tokens[i])
							return nil
						})
						if err != nil {
							return // the server has gone
						}
						switch {
						case r.StatusCode() == 200:
							left.Add(1)
						case r.StatusCode() >= 500:
							fiveXX.Add(1)
						}
						rr, err := c.ReinstateMemberWithResponse(ctx, ids[i], func(_ context.Context, req *http.Request) error {
							req.Header.Set("Authorization", "Bearer "+ownerTok.Token)
							return nil
						})
						if err != nil {
							return
						}
						switch {
						case rr.StatusCode() == 200:
							reinstated.Add(1)
						case rr.StatusCode() >= 500:
							fiveXX.Add(1)
						}
					}
				}(i)
			}
			time.Sleep(700 * time.Millisecond)
			sent := time.Now()
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			select {
			case err := <-exited:
				if err != nil {
					log, _ := os.ReadFile(logPath)
					t.Fatalf("exit after SIGTERM: %v\n%s", err, log)
				}
			case <-time.After(15 * time.Second):
				t.Fatal("the process did not exit within the shutdown timeout")
			}
			took := time.Since(sent)
			close(stop)
			wg.Wait()
			if left.Load() == 0 || reinstated.Load() == 0 {
				t.Fatalf("no load reached the server (left %d, reinstated %d)", left.Load(), reinstated.Load())
			}
			if fiveXX.Load() > 0 {
				t.Fatalf("%d requests answered 5xx during shutdown", fiveXX.Load())
			}

			st, err = store.Open(ctx, url, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			var leftRows, reinRows, suspendedNow int
			st.DB().QueryRow(`SELECT COUNT(*) FROM audit_logs WHERE event = 'member.left'`).Scan(&leftRows)
			st.DB().QueryRow(`SELECT COUNT(*) FROM audit_logs WHERE event = 'member.reinstated'`).Scan(&reinRows)
			st.DB().QueryRow(`SELECT COUNT(*) FROM organization_members WHERE suspended_at IS NOT NULL`).Scan(&suspendedNow)
			if int64(leftRows) != left.Load() || int64(reinRows) != reinstated.Load() {
				t.Fatalf("audit rows left=%d reinstated=%d, successes left=%d reinstated=%d", leftRows, reinRows, left.Load(), reinstated.Load())
			}
			if leftRows-reinRows != suspendedNow {
				t.Fatalf("%d suspended rows, but %d leaves and %d reinstates were committed", suspendedNow, leftRows, reinRows)
			}
			t.Logf("%s: %d leaves, %d reinstates committed; exit %s after SIGTERM", kind, leftRows, reinRows, took.Round(time.Millisecond))
		})
	}
}
