package server_test

import (
	"os"
	"testing"

	"github.com/kayle-id/orgs-api/internal/testdb"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 && !checkConformance(os.Stdout) {
		code = 1
	}
	testdb.Shutdown()
	os.Exit(code)
}
