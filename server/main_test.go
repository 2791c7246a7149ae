package server_test

import (
	"os"
	"testing"

	"github.com/kayle-id/orgs-api/internal/testdb"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testdb.Shutdown()
	os.Exit(code)
}
