package truststore_test

import (
	"bytes"
	"context"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/kayle-id/orgs-api/internal/testdb"
	"github.com/kayle-id/orgs-api/verify/truststore"
	"github.com/kayle-id/orgs-api/verify/truststore/pkdtest"
)

func importPKD(t *testing.T, ts *truststore.Store, objects, mls []byte) *truststore.Report {
	t.Helper()
	in := truststore.Input{}
	if objects != nil {
		in.Objects = bytes.NewReader(objects)
	}
	if mls != nil {
		in.MasterLists = bytes.NewReader(mls)
	}
	rep, err := ts.Import(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// The synthetic pair imports on both databases, twice to the same store;
// every lookup passive authentication needs finds its row.
func TestImportPKDPair(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			ts := openStore(t, kind, truststore.Options{Now: func() time.Time { return pkdtest.Now }})
			p := pkdtest.New(t, 3)
			// CRLF in one file, LF in the other.
			objects, mls := pkdtest.WriteLDIF("\r\n", p.Objects), pkdtest.WriteLDIF("\n", p.MasterLists)
			var first *truststore.Report
			for i := range 2 {
				rep := importPKD(t, ts, objects, mls)
				if rep.MasterLists.Read != 1 || rep.MasterLists.Verified != 1 || len(rep.MasterLists.Refused) != 0 || rep.MasterLists.CSCAs != 2 {
					t.Fatalf("import %d: master lists %+v", i, rep.MasterLists)
				}
				if o := rep.Objects; o.DSCs != 3 || o.CRLs != 1 || o.Revocations != 1 || o.IgnoredBCSC != 1 || o.Other != 1 {
					t.Fatalf("import %d: objects %+v", i, o)
				}
				if rep.Store != (truststore.StoreCounts{CSCAs: 2, DSCs: 3, CRLs: 1, Revocations: 1}) {
					t.Fatalf("import %d: store %+v", i, rep.Store)
				}
				if i == 0 {
					first = rep
					if rep.CRLs.Stored != 1 {
						t.Fatalf("first import CRLs %+v", rep.CRLs)
					}
				} else if rep.CRLs.Unchanged != 1 || rep.CRLs.Stored != 0 {
					t.Fatalf("second import CRLs %+v (first %+v)", rep.CRLs, first.CRLs)
				}
			}
			cs, err := ts.CSCAsBySubject(ctx, p.CSCAUT.Cert.RawSubject)
			if err != nil || len(cs) != 1 || !bytes.Equal(cs[0].DER, p.CSCAUT.DER) || cs[0].CountryCode != "UT" || cs[0].SerialNumberHex != "03e9" {
				t.Fatalf("CSCA by subject: %+v %v", cs, err)
			}
			if !cs[0].NotAfter.Equal(p.CSCAUT.Cert.NotAfter) {
				t.Fatalf("CSCA notAfter %v, want %v", cs[0].NotAfter, p.CSCAUT.Cert.NotAfter)
			}
			if cs, err := ts.CSCAsBySKI(ctx, p.CSCAXX.Cert.SubjectKeyId); err != nil || len(cs) != 1 || cs[0].CountryCode != "XX" {
				t.Fatalf("CSCA by SKI: %+v %v", cs, err)
			}
			if cs, err := ts.CSCAsByCountry(ctx, "XX"); err != nil || len(cs) != 1 {
				t.Fatalf("CSCA by country: %+v %v", cs, err)
			}
			d := p.DSCs[1]
			serial := append([]byte{0}, d.Cert.SerialNumber.Bytes()...) // the DER content octets: top bit set
			ds, err := ts.DSCsByIssuerSerial(ctx, d.Cert.RawIssuer, serial)
			if err != nil || len(ds) != 1 || !bytes.Equal(ds[0].DER, d.DER) || ds[0].SourceCountryCode != "UT" {
				t.Fatalf("DSC by issuer+serial: %+v %v", ds, err)
			}
			if ds, _ := ts.DSCsByIssuerSerial(ctx, d.Cert.RawIssuer, d.Cert.SerialNumber.Bytes()); len(ds) != 0 {
				t.Fatal("a serial without its leading 00 matched: the key is the INTEGER's content octets")
			}
			if ds, err := ts.DSCsBySKI(ctx, d.Cert.SubjectKeyId); err != nil || len(ds) != 1 {
				t.Fatalf("DSC by SKI: %+v %v", ds, err)
			}
			crls, err := ts.CRLs(ctx, p.CSCAUT.Cert.RawSubject)
			if err != nil || len(crls) != 1 || !bytes.Equal(crls[0].DER, p.CRL) {
				t.Fatalf("CRLs: %+v %v", crls, err)
			}
			for serial, want := range map[*big.Int]bool{p.RevokedSerial: true, p.DSCs[1].Cert.SerialNumber: false} {
				got, err := ts.Revoked(ctx, crls[0].Fingerprint, append([]byte{0}, serial.Bytes()...))
				if err != nil || got != want {
					t.Fatalf("Revoked(%x) = %v %v, want %v", serial, got, err, want)
				}
			}
			st, err := ts.Status(ctx)
			if err != nil || st.Empty || st.ImportedAt == nil || st.StalestCRL == nil || st.Counts.DSCs != 3 {
				t.Fatalf("status %+v %v", st, err)
			}
			if want := pkdtest.Now.AddDate(0, -1, 0).AddDate(0, 3, 0); !st.StalestCRL.NextUpdate.Equal(want) || st.StalestCRL.Overdue {
				t.Fatalf("stalest CRL %+v, want next update %v", st.StalestCRL, want)
			}
		})
	}
}

// A CRL refresh (an objects file with CRLs only) replaces the issuer's CRL
// and keeps the DSCs; an older CRL does not replace a newer one.
func TestCRLRefresh(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			ts := openStore(t, kind, truststore.Options{})
			p := pkdtest.New(t, 2)
			importPKD(t, ts, pkdtest.WriteLDIF("\n", p.Objects), pkdtest.WriteLDIF("\n", p.MasterLists))
			newer := pkdtest.NewCRL(t, p.CSCAUT, 2, pkdtest.Now, p.RevokedSerial, p.DSCs[1].Cert.SerialNumber)
			refresh := []pkdtest.Entry{{DN: "cn=x,o=crl,c=UT,dc=data", Attrs: []pkdtest.Attr{pkdtest.B64("certificateRevocationList;binary", newer)}}}
			rep := importPKD(t, ts, pkdtest.WriteLDIF("\n", refresh), nil)
			if rep.CRLs.Stored != 1 || rep.Store.DSCs != 2 || rep.Store.CSCAs != 2 || rep.Store.CRLs != 1 || rep.Store.Revocations != 2 {
				t.Fatalf("refresh: %+v %+v", rep.CRLs, rep.Store)
			}
			crls, _ := ts.CRLs(ctx, p.CSCAUT.Cert.RawSubject)
			if len(crls) != 1 || !bytes.Equal(crls[0].DER, newer) {
				t.Fatalf("after refresh: %d CRLs", len(crls))
			}
			// The original file again: its CRL is older, so the newer stays.
			rep = importPKD(t, ts, pkdtest.WriteLDIF("\n", p.Objects), nil)
			if rep.CRLs.KeptNewer != 1 || rep.Store.Revocations != 2 {
				t.Fatalf("old CRL re-imported: %+v %+v", rep.CRLs, rep.Store)
			}
		})
	}
}

// A master list whose content was changed after signing is refused and
// none of its certificates is taken; a file of only refused lists changes
// nothing.
func TestTamperedMasterListRefused(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			testTamperedMasterListRefused(t, kind)
		})
	}
}

func testTamperedMasterListRefused(t *testing.T, kind testdb.Kind) {
	ctx := context.Background()
	ts := openStore(t, kind, truststore.Options{})
	p := pkdtest.New(t, 1)
	evil := pkdtest.NewCSCA(t, "EV", "Injected CSCA", 666)
	content := pkdtest.CscaMasterList(p.CSCAUT.DER, p.CSCAXX.DER)
	tampered := pkdtest.SignMasterList(t, p.Signer, content, func(c []byte) []byte {
		return pkdtest.CscaMasterList(p.CSCAUT.DER, p.CSCAXX.DER, evil.DER) // a CSCA added after signing
	})
	flipped := pkdtest.SignMasterList(t, p.Signer, content, func(c []byte) []byte { c[len(c)-5] ^= 1; return c })
	// A list signed by a signer no CSCA of the list issued.
	outsider := pkdtest.NewCSCA(t, "OU", "Outsider", 9)
	strangerSigned := pkdtest.SignMasterList(t, pkdtest.Issue(t, outsider, "OU", "Signer", big.NewInt(3)), content, nil)
	entries := []pkdtest.Entry{
		{DN: "cn=a,o=ml,c=UT,dc=data", Attrs: []pkdtest.Attr{pkdtest.B64("pkdMasterListContent;binary", tampered)}},
		{DN: "cn=b,o=ml,c=UT,dc=data", Attrs: []pkdtest.Attr{pkdtest.B64("pkdMasterListContent;binary", flipped)}},
		{DN: "cn=c,o=ml,c=OU,dc=data", Attrs: []pkdtest.Attr{pkdtest.B64("CscaMasterListData", strangerSigned)}},
	}
	_, err := ts.Import(ctx, truststore.Input{MasterLists: bytes.NewReader(pkdtest.WriteLDIF("\n", entries))})
	if !errors.Is(err, truststore.ErrNoMasterList) {
		t.Fatalf("only refused lists: %v", err)
	}
	if st, _ := ts.Status(ctx); !st.Empty {
		t.Fatalf("a refused import wrote: %+v", st)
	}
	entries = append(entries, p.MasterLists...)
	rep := importPKD(t, ts, nil, pkdtest.WriteLDIF("\n", entries))
	if rep.MasterLists.Verified != 1 || len(rep.MasterLists.Refused) != 3 || rep.Store.CSCAs != 2 {
		t.Fatalf("mixed file: %+v %+v", rep.MasterLists, rep.Store)
	}
	for _, r := range rep.MasterLists.Refused {
		t.Logf("refused %s: %s", r.DN, r.Reason)
	}
	if cs, _ := ts.CSCAsBySubject(ctx, evil.Cert.RawSubject); len(cs) != 0 {
		t.Fatal("the CSCA added after signing was imported")
	}
}

// The store answers passive authentication's lookups with the DER it
// imported: the CSCA by subject, SKI and country, the DSC by issuer and
// serial and by SKI, the CSCA's CRL by issuer.
func TestPassiveAuthLookups(t *testing.T) {
	for _, kind := range testdb.Kinds {
		t.Run(string(kind), func(t *testing.T) {
			ctx := context.Background()
			ts := openStore(t, kind, truststore.Options{Now: func() time.Time { return pkdtest.Now }})
			p := pkdtest.New(t, 2)
			importPKD(t, ts, pkdtest.WriteLDIF("\n", p.Objects), pkdtest.WriteLDIF("\n", p.MasterLists))
			pa := ts.PassiveAuth()
			csca, dsc := p.CSCAUT, p.DSCs[1]
			one := func(name string, got [][]byte, err error, want []byte) {
				t.Helper()
				if err != nil || len(got) != 1 || !bytes.Equal(got[0], want) {
					t.Errorf("%s: %d results (%v), want the imported DER once", name, len(got), err)
				}
			}
			got, err := pa.CSCAsBySubject(ctx, csca.Cert.RawSubject)
			one("CSCA by subject", got, err, csca.DER)
			got, err = pa.CSCAsBySKI(ctx, csca.Cert.SubjectKeyId)
			one("CSCA by SKI", got, err, csca.DER)
			got, err = pa.DSCsBySKI(ctx, dsc.Cert.SubjectKeyId)
			one("DSC by SKI", got, err, dsc.DER)
			serial := dsc.Cert.SerialNumber.Bytes()
			if serial[0]&0x80 != 0 {
				serial = append([]byte{0}, serial...)
			}
			got, err = pa.DSCsByIssuerSerial(ctx, dsc.Cert.RawIssuer, serial)
			one("DSC by issuer and serial", got, err, dsc.DER)
			got, err = pa.CRLsByIssuer(ctx, csca.Cert.RawSubject)
			one("CRL by issuer", got, err, p.CRL)
			if got, err := pa.CSCAsByCountry(ctx, "UT"); err != nil || len(got) != 1 {
				t.Errorf("CSCAs of UT: %d (%v), want 1", len(got), err)
			}
			if got, err := pa.DSCsBySKI(ctx, []byte("unknown")); err != nil || len(got) != 0 {
				t.Errorf("unknown SKI: %d (%v), want none", len(got), err)
			}
		})
	}
}
