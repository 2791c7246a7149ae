package server_test

import (
	"context"
	"testing"

	"github.com/kayle-id/orgs-api/internal/scenario"
)

// The conformance scenario (what `make contract` replays through Prism)
// passes against the server itself, on both databases.
func TestConformanceScenario(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		res, err := scenario.Run(context.Background(), scenario.Options{BaseURL: e.srv.URL, Admin: scenario.StoreAdmin{Store: e.st}, MailDir: e.outbox})
		if err != nil {
			t.Fatal(err)
		}
		if res.Calls < 80 {
			t.Fatalf("the scenario made only %d calls", res.Calls)
		}
	})
}
