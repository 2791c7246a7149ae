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
			ts := openStore(t, kind, truststore.Options{Now: func() time.Time { return testNow }})
			p := newPKD(t, 3)
			// CRLF in one file, LF in the other.
			objects, mls := writeLDIF("\r\n", p.objects), writeLDIF("\n", p.masterLists)
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
			cs, err := ts.CSCAsBySubject(ctx, p.cscaUT.cert.RawSubject)
			if err != nil || len(cs) != 1 || !bytes.Equal(cs[0].DER, p.cscaUT.der) || cs[0].CountryCode != "UT" || cs[0].SerialNumberHex != "03e9" {
				t.Fatalf("CSCA by subject: %+v %v", cs, err)
			}
			if !cs[0].NotAfter.Equal(p.cscaUT.cert.NotAfter) {
				t.Fatalf("CSCA notAfter %v, want %v", cs[0].NotAfter, p.cscaUT.cert.NotAfter)
			}
			if cs, err := ts.CSCAsBySKI(ctx, p.cscaXX.cert.SubjectKeyId); err != nil || len(cs) != 1 || cs[0].CountryCode != "XX" {
				t.Fatalf("CSCA by SKI: %+v %v", cs, err)
			}
			if cs, err := ts.CSCAsByCountry(ctx, "XX"); err != nil || len(cs) != 1 {
				t.Fatalf("CSCA by country: %+v %v", cs, err)
			}
			d := p.dscs[1]
			serial := append([]byte{0}, d.cert.SerialNumber.Bytes()...) // the DER content octets: top bit set
			ds, err := ts.DSCsByIssuerSerial(ctx, d.cert.RawIssuer, serial)
			if err != nil || len(ds) != 1 || !bytes.Equal(ds[0].DER, d.der) || ds[0].SourceCountryCode != "UT" {
				t.Fatalf("DSC by issuer+serial: %+v %v", ds, err)
			}
			if ds, _ := ts.DSCsByIssuerSerial(ctx, d.cert.RawIssuer, d.cert.SerialNumber.Bytes()); len(ds) != 0 {
				t.Fatal("a serial without its leading 00 matched: the key is the INTEGER's content octets")
			}
			if ds, err := ts.DSCsBySKI(ctx, d.cert.SubjectKeyId); err != nil || len(ds) != 1 {
				t.Fatalf("DSC by SKI: %+v %v", ds, err)
			}
			crls, err := ts.CRLs(ctx, p.cscaUT.cert.RawSubject)
			if err != nil || len(crls) != 1 || !bytes.Equal(crls[0].DER, p.crl) {
				t.Fatalf("CRLs: %+v %v", crls, err)
			}
			for serial, want := range map[*big.Int]bool{p.revokedSerial: true, p.dscs[1].cert.SerialNumber: false} {
				got, err := ts.Revoked(ctx, crls[0].Fingerprint, append([]byte{0}, serial.Bytes()...))
				if err != nil || got != want {
					t.Fatalf("Revoked(%x) = %v %v, want %v", serial, got, err, want)
				}
			}
			st, err := ts.Status(ctx)
			if err != nil || st.Empty || st.ImportedAt == nil || st.StalestCRL == nil || st.Counts.DSCs != 3 {
				t.Fatalf("status %+v %v", st, err)
			}
			if want := testNow.AddDate(0, -1, 0).AddDate(0, 3, 0); !st.StalestCRL.NextUpdate.Equal(want) || st.StalestCRL.Overdue {
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
			p := newPKD(t, 2)
			importPKD(t, ts, writeLDIF("\n", p.objects), writeLDIF("\n", p.masterLists))
			newer := newCRL(t, p.cscaUT, 2, testNow, p.revokedSerial, p.dscs[1].cert.SerialNumber)
			refresh := []ldifEntry{{dn: "cn=x,o=crl,c=UT,dc=data", attrs: []ldifAttr{{"certificateRevocationList;binary", newer, "b64"}}}}
			rep := importPKD(t, ts, writeLDIF("\n", refresh), nil)
			if rep.CRLs.Stored != 1 || rep.Store.DSCs != 2 || rep.Store.CSCAs != 2 || rep.Store.CRLs != 1 || rep.Store.Revocations != 2 {
				t.Fatalf("refresh: %+v %+v", rep.CRLs, rep.Store)
			}
			crls, _ := ts.CRLs(ctx, p.cscaUT.cert.RawSubject)
			if len(crls) != 1 || !bytes.Equal(crls[0].DER, newer) {
				t.Fatalf("after refresh: %d CRLs", len(crls))
			}
			// The original file again: its CRL is older, so the newer stays.
			rep = importPKD(t, ts, writeLDIF("\n", p.objects), nil)
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
	ctx := context.Background()
	ts := openStore(t, testdb.SQLite, truststore.Options{})
	p := newPKD(t, 1)
	evil := newCSCA(t, "EV", "Injected CSCA", 666)
	content := cscaMasterList(p.cscaUT.der, p.cscaXX.der)
	tampered := signMasterList(t, p.signer, content, func(c []byte) []byte {
		return cscaMasterList(p.cscaUT.der, p.cscaXX.der, evil.der) // a CSCA added after signing
	})
	flipped := signMasterList(t, p.signer, content, func(c []byte) []byte { c[len(c)-5] ^= 1; return c })
	// A list signed by a signer no CSCA of the list issued.
	outsider := newCSCA(t, "OU", "Outsider", 9)
	strangerSigned := signMasterList(t, issue(t, outsider, "OU", "Signer", big.NewInt(3)), content, nil)
	entries := []ldifEntry{
		{dn: "cn=a,o=ml,c=UT,dc=data", attrs: []ldifAttr{{"pkdMasterListContent;binary", tampered, "b64"}}},
		{dn: "cn=b,o=ml,c=UT,dc=data", attrs: []ldifAttr{{"pkdMasterListContent;binary", flipped, "b64"}}},
		{dn: "cn=c,o=ml,c=OU,dc=data", attrs: []ldifAttr{{"CscaMasterListData", strangerSigned, "b64"}}},
	}
	_, err := ts.Import(ctx, truststore.Input{MasterLists: bytes.NewReader(writeLDIF("\n", entries))})
	if !errors.Is(err, truststore.ErrNoMasterList) {
		t.Fatalf("only refused lists: %v", err)
	}
	if st, _ := ts.Status(ctx); !st.Empty {
		t.Fatalf("a refused import wrote: %+v", st)
	}
	entries = append(entries, p.masterLists...)
	rep := importPKD(t, ts, nil, writeLDIF("\n", entries))
	if rep.MasterLists.Verified != 1 || len(rep.MasterLists.Refused) != 3 || rep.Store.CSCAs != 2 {
		t.Fatalf("mixed file: %+v %+v", rep.MasterLists, rep.Store)
	}
	for _, r := range rep.MasterLists.Refused {
		t.Logf("refused %s: %s", r.DN, r.Reason)
	}
	if cs, _ := ts.CSCAsBySubject(ctx, evil.cert.RawSubject); len(cs) != 0 {
		t.Fatal("the CSCA added after signing was imported")
	}
}
