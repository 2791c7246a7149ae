package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/kayle-id/orgs-api/internal/scenario"
	"github.com/kayle-id/orgs-api/store"
)

// storeAdmin makes users and tokens directly in the store, as the CLI does.
type storeAdmin struct{ st *store.Store }

func (a storeAdmin) NewUser(ctx context.Context, email, name string) error {
	_, err := a.st.CreateUser(ctx, email, name)
	return err
}

func (a storeAdmin) Token(ctx context.Context, email string) (string, error) {
	t, err := a.st.CreateSession(ctx, email, nil, time.Hour)
	return t.Token, err
}

// The conformance scenario (what `make contract` replays through Prism)
// passes against the server itself, on both databases.
func TestConformanceScenario(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		res, err := scenario.Run(context.Background(), scenario.Options{BaseURL: e.srv.URL, Admin: storeAdmin{e.st}, MailDir: e.outbox})
		if err != nil {
			t.Fatal(err)
		}
		if res.Calls < 80 {
			t.Fatalf("the scenario made only %d calls", res.Calls)
		}
	})
}
