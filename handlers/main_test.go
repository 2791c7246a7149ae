package handlers_test

import (
	"os"
	"testing"

	"github.com/kayle-id/orgs-api/internal/testdb"
)

// TestMain stops the throwaway PostgreSQL cluster the tests may start.
func TestMain(m *testing.M) {
	code := m.Run()
	testdb.Shutdown()
	os.Exit(code)
}
