package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kayle-id/orgs-api/internal/testdb"
	"github.com/kayle-id/orgs-api/verify/truststore/pkdtest"
)

// `trust import` end to end: the synthetic PKD pair imports on both
// databases, twice with the same counts; a missing file and no file at all
// are refused with a message.
func TestTrustImport(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			p := pkdtest.New(t, 2)
			objects, mls := filepath.Join(dir, "icaopkd-001-complete-1.ldif"), filepath.Join(dir, "icaopkd-002-complete-1.ldif")
			if err := os.WriteFile(objects, pkdtest.WriteLDIF("\r\n", p.Objects), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(mls, pkdtest.WriteLDIF("\n", p.MasterLists), 0o600); err != nil {
				t.Fatal(err)
			}
			env := map[string]string{"DATABASE_URL": testdb.URL(t, kind), "KAYLE_CREATE_DB": "true"}
			for i := range 2 {
				r := kayleid(t, env, "trust", "import", "--objects", objects, "--master-lists", mls)
				var rep struct {
					MasterLists struct{ Verified, CSCAs int }
					Objects     struct{ DSCs, CRLs int }
					Store       struct{ CSCAs, DSCs, CRLs, Revocations int }
				}
				if r.code != 0 || json.Unmarshal([]byte(r.stdout), &rep) != nil {
					t.Fatalf("import %d: %+v", i, r)
				}
				if rep.MasterLists.Verified != 1 || rep.MasterLists.CSCAs != 2 || rep.Objects.DSCs != 2 || rep.Objects.CRLs != 1 ||
					rep.Store.CSCAs != 2 || rep.Store.DSCs != 2 || rep.Store.CRLs != 1 || rep.Store.Revocations != 1 {
					t.Fatalf("import %d: %s", i, r.stdout)
				}
			}
			if r := kayleid(t, env, "trust", "import"); r.code == 0 || !strings.Contains(r.stderr, "--objects") {
				t.Fatalf("no file: %+v", r)
			}
			if r := kayleid(t, env, "trust", "import", "--objects", filepath.Join(dir, "missing.ldif")); r.code == 0 || !strings.Contains(r.stderr, "missing.ldif") {
				t.Fatalf("missing file: %+v", r)
			}
		})
	}
}
