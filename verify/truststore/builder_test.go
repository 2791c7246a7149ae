package truststore_test

import (
	"context"
	"database/sql"
	"os"
	"testing"

	"github.com/kayle-id/orgs-api/internal/testdb"
	"github.com/kayle-id/orgs-api/store"
	"github.com/kayle-id/orgs-api/verify/truststore"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testdb.Shutdown()
	os.Exit(code)
}

// openStore migrates a fresh database of the kind and returns its trust store.
func openStore(t testing.TB, kind testdb.Kind, opts truststore.Options) *truststore.Store {
	t.Helper()
	ts, _ := openStoreDB(t, kind, opts)
	return ts
}

func openStoreDB(t testing.TB, kind testdb.Kind, opts truststore.Options) (*truststore.Store, *sql.DB) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, testdb.URL(t, kind), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return truststore.New(st.DB(), truststore.Dialect(st.Dialect()), opts), st.DB()
}
