package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/kayle-id/orgs-api/internal/testdb"
	"github.com/kayle-id/orgs-api/server"
	"github.com/kayle-id/orgs-api/verify/truststore"
	"github.com/kayle-id/orgs-api/verify/truststore/pkdtest"
)

type readyAnswer struct {
	Status     string
	Reason     string
	TrustStore *struct {
		Empty      bool
		ImportedAt *time.Time
		StalestCRL *struct {
			NextUpdate time.Time
			Overdue    bool
		} `json:"stalestCrl"`
	}
}

func getReady(t *testing.T, base string) (int, readyAnswer) {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var a readyAnswer
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatalf("/readyz: %s", raw)
	}
	return resp.StatusCode, a
}

// /readyz reports the trust store: empty (ready, unless the store is
// required), then after an import its age and the CRL due first.
func TestReadyzTrustStore(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			fresh := func(c *server.Config) { c.TrustStatusTTL = time.Nanosecond }
			e := newEnv(t, kind, fresh)
			code, a := getReady(t, e.srv.URL)
			if code != 200 || a.TrustStore == nil || !a.TrustStore.Empty {
				t.Fatalf("empty store: %d %+v", code, a)
			}
			required := newEnv(t, kind, fresh, func(c *server.Config) { c.TrustStoreRequired = true })
			if code, a := getReady(t, required.srv.URL); code != 503 || a.Reason != "trust store empty" {
				t.Fatalf("required and empty: %d %+v", code, a)
			}
			p := pkdtest.New(t, 1)
			for _, env := range []*env{e, required} {
				ts := truststore.New(env.st.DB(), truststore.Dialect(env.st.Dialect()), truststore.Options{})
				if _, err := ts.Import(context.Background(), truststore.Input{
					Objects: bytes.NewReader(pkdtest.WriteLDIF("\n", p.Objects)), MasterLists: bytes.NewReader(pkdtest.WriteLDIF("\n", p.MasterLists)),
				}); err != nil {
					t.Fatal(err)
				}
				code, a := getReady(t, env.srv.URL)
				if code != 200 || a.TrustStore == nil || a.TrustStore.Empty || a.TrustStore.ImportedAt == nil || a.TrustStore.StalestCRL == nil {
					t.Fatalf("after import: %d %+v", code, a)
				}
				// pkdtest's CRL: this update a month before pkdtest.Now, next three months after it.
				if want := pkdtest.Now.AddDate(0, -1, 0).AddDate(0, 3, 0); !a.TrustStore.StalestCRL.NextUpdate.Equal(want) {
					t.Fatalf("stalest CRL next update %v, want %v", a.TrustStore.StalestCRL.NextUpdate, want)
				}
			}
		})
	}
}

// Probes within the TTL reuse the status read last: an import is seen only
// after it, so a flood of anonymous probes reads the store once per TTL.
func TestReadyzTrustStoreCached(t *testing.T) {
	e := newEnv(t, testdb.SQLite)
	if _, a := getReady(t, e.srv.URL); a.TrustStore == nil || !a.TrustStore.Empty {
		t.Fatalf("empty store: %+v", a)
	}
	p := pkdtest.New(t, 1)
	ts := truststore.New(e.st.DB(), truststore.Dialect(e.st.Dialect()), truststore.Options{})
	if _, err := ts.Import(context.Background(), truststore.Input{
		Objects: bytes.NewReader(pkdtest.WriteLDIF("\n", p.Objects)), MasterLists: bytes.NewReader(pkdtest.WriteLDIF("\n", p.MasterLists)),
	}); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if _, a := getReady(t, e.srv.URL); a.TrustStore == nil || !a.TrustStore.Empty {
			t.Fatalf("within the TTL the status was read again: %+v", a)
		}
	}
}
