package truststore_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"testing"

	"github.com/kayle-id/orgs-api/internal/testdb"
	"github.com/kayle-id/orgs-api/verify/lds"
	"github.com/kayle-id/orgs-api/verify/truststore"
	"github.com/kayle-id/orgs-api/verify/truststore/pkdtest"
)

// The size of the ICAO downloads: thousands of CSCAs (one master list
// carrying them all) and tens of thousands of DSCs.
const (
	largeCSCAs = 3000
	largeDSCs  = 30000
)

type largePKD struct {
	objects, masterLists []byte
	cscas                []*x509.Certificate
	dscs                 []*x509.Certificate
}

var (
	largeOnce sync.Once
	large     largePKD
)

// largeStore builds the files once per process (certificates share one
// key each side: only their names and serials differ).
func buildLarge(t testing.TB) largePKD {
	largeOnce.Do(func() {
		cscaKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		dscKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		root := pkdtest.NewCSCA(t, "UT", "Kayle Test CSCA", 1)
		var ders [][]byte
		for i := range largeCSCAs - 1 { // and the root: largeCSCAs
			tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(1000 + i)), Subject: pkix.Name{Country: []string{fmt.Sprintf("%c%c", 'A'+i%26, 'A'+i/26%26)}, CommonName: fmt.Sprintf("CSCA %d", i)},
				NotBefore: pkdtest.Now.AddDate(-1, 0, 0), NotAfter: pkdtest.Now.AddDate(10, 0, 0), IsCA: true, BasicConstraintsValid: true,
				KeyUsage: x509.KeyUsageCertSign, SubjectKeyId: []byte(fmt.Sprintf("csca-ski-%011d", i))}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, cscaKey.Public(), cscaKey)
			if err != nil {
				panic(err)
			}
			c, _ := x509.ParseCertificate(der)
			large.cscas = append(large.cscas, c)
			ders = append(ders, der)
		}
		// One list of all 3,000 (about 1.5 MB, past the 1 MiB an SOD may
		// be), with the signer's CSCA, as the ICAO's holds every state's.
		signer := pkdtest.Issue(t, root, "UT", "Master List Signer", big.NewInt(2))
		ml := pkdtest.SignMasterList(t, signer, pkdtest.CscaMasterList(append([][]byte{root.DER}, ders...)...), nil)
		if len(ml) <= lds.MaxObjectSize {
			t.Fatalf("the master list is %d bytes: not past an SOD's cap, so it tests nothing", len(ml))
		}
		lists := []pkdtest.Entry{{DN: "cn=ml,o=ml,c=UT,dc=data", Attrs: []pkdtest.Attr{pkdtest.B64("pkdMasterListContent", ml)}}}
		large.masterLists = pkdtest.WriteLDIF("\n", lists)
		var objects []pkdtest.Entry
		for i := range largeDSCs {
			issuer := large.cscas[i%len(large.cscas)]
			tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(0x100000 + i)), Subject: pkix.Name{Country: issuer.Subject.Country, CommonName: fmt.Sprintf("DSC %d", i)},
				NotBefore: pkdtest.Now.AddDate(-1, 0, 0), NotAfter: pkdtest.Now.AddDate(5, 0, 0), SubjectKeyId: []byte(fmt.Sprintf("dsc-ski-%012d", i))}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, dscKey.Public(), cscaKey)
			if err != nil {
				panic(err)
			}
			c, _ := x509.ParseCertificate(der)
			large.dscs = append(large.dscs, c)
			objects = append(objects, pkdtest.Entry{DN: fmt.Sprintf("cn=%d,o=dsc,c=%s,dc=data", i, issuer.Subject.Country[0]), Attrs: []pkdtest.Attr{pkdtest.B64("userCertificate;binary", der)}})
		}
		large.objects = pkdtest.WriteLDIF("\n", objects)
	})
	return large
}

func loadLarge(t testing.TB, kind testdb.Kind, opts truststore.Options) (*truststore.Store, *sql.DB, largePKD) {
	t.Helper()
	l := buildLarge(t)
	ts, db := openStoreDB(t, kind, opts)
	rep, err := ts.Import(context.Background(), truststore.Input{Objects: bytes.NewReader(l.objects), MasterLists: bytes.NewReader(l.masterLists)})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Store.CSCAs != largeCSCAs || rep.Store.DSCs != largeDSCs {
		t.Fatalf("large import: %+v", rep.Store)
	}
	return ts, db, l
}

// Lookups on a store the size of the ICAO downloads find the one row asked
// for through an index (the query plan says so), and the cache stays at
// its bound however many lookups are made.
func TestLargeStoreLookups(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 33,000 certificates")
	}
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			ctx := context.Background()
			ts, db, l := loadLarge(t, kind, truststore.Options{CacheSize: 100})
			for i := 0; i < len(l.dscs); i += 97 {
				d := l.dscs[i]
				got, err := ts.DSCsByIssuerSerial(ctx, d.RawIssuer, d.SerialNumber.Bytes())
				if err != nil || len(got) != 1 || !bytes.Equal(got[0].DER, d.Raw) {
					t.Fatalf("DSC %d: %d rows, %v", i, len(got), err)
				}
				cs, err := ts.CSCAsBySubject(ctx, d.RawIssuer)
				if err != nil || len(cs) != 1 {
					t.Fatalf("CSCA of DSC %d: %d rows, %v", i, len(cs), err)
				}
			}
			if n := ts.Cached(); n > 100 {
				t.Fatalf("cache holds %d lookups, bound 100", n)
			}
			plans := map[string]string{
				"SELECT der FROM trust_store_dscs WHERE issuer_key = 'ab' AND serial_number_hex = 'cd'": "trust_store_dscs_issuer_serial_idx",
				"SELECT der FROM trust_store_dscs WHERE ski_hex = 'ab'":                                 "trust_store_dscs_ski_idx",
				"SELECT der FROM trust_store_cscas WHERE subject_key = 'ab'":                            "trust_store_cscas_subject_idx",
			}
			if kind == testdb.SQLite { // PostgreSQL scans the large store's empty CRL table, rightly
				plans["SELECT der FROM trust_store_crls WHERE issuer_key = 'ab'"] = "trust_store_crls_issuer_idx"
			}
			if kind == testdb.Postgres {
				if _, err := db.Exec("ANALYZE"); err != nil {
					t.Fatal(err)
				}
			}
			for q, idx := range plans {
				explain := "EXPLAIN QUERY PLAN " + q
				if kind == testdb.Postgres {
					explain = "EXPLAIN " + q
				}
				rows, err := db.Query(explain)
				if err != nil {
					t.Fatal(err)
				}
				cols, _ := rows.Columns()
				var plan strings.Builder
				for rows.Next() {
					vals := make([]any, len(cols))
					ptrs := make([]any, len(cols))
					for i := range vals {
						ptrs[i] = &vals[i]
					}
					_ = rows.Scan(ptrs...)
					fmt.Fprintln(&plan, vals...)
				}
				rows.Close()
				if !strings.Contains(plan.String(), idx) {
					t.Errorf("%s: plan does not use %s:\n%s", q, idx, plan.String())
				}
			}
		})
	}
}

// BenchmarkLookup is one uncached passive-authentication lookup (the DSC
// by issuer and serial, then its CSCA by subject) on the large store.
func BenchmarkLookup(b *testing.B) {
	for _, kind := range testdb.Kinds {
		b.Run(string(kind), func(b *testing.B) {
			ctx := context.Background()
			ts, _, l := loadLarge(b, kind, truststore.Options{CacheSize: 1})
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				d := l.dscs[(i*7919)%len(l.dscs)]
				if got, err := ts.DSCsByIssuerSerial(ctx, d.RawIssuer, d.SerialNumber.Bytes()); err != nil || len(got) != 1 {
					b.Fatal(len(got), err)
				}
				if cs, err := ts.CSCAsBySubject(ctx, d.RawIssuer); err != nil || len(cs) != 1 {
					b.Fatal(len(cs), err)
				}
			}
		})
	}
}
