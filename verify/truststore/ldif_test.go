package truststore_test

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/kayle-id/orgs-api/verify/truststore"
)

func readAll(t *testing.T, in string, lim truststore.Limits) ([]*truststore.Record, error) {
	t.Helper()
	r := truststore.NewLDIFReader(strings.NewReader(in), lim)
	var out []*truststore.Record
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, rec)
	}
}

// RFC 2849's own examples (§ "Examples of LDAP Data Interchange Format"),
// with the forms it allows for each value.
func TestLDIFForms(t *testing.T) {
	// Example 2 of RFC 2849 (a folded value), example 3 (base64 values),
	// in CRLF, with comments between and in records, a folded dn and
	// several blank lines between records.
	in := "version: 1\r\n" +
		"# a comment\r\n" +
		" that is folded\r\n" +
		"dn:cn=Barbara Jensen, ou=Product Development, dc=airius, \r\n" +
		" dc=com\r\n" +
		"objectclass: top\r\n" +
		"# a comment inside a record\r\n" +
		"description:Babs is a big sailing fan, and travels extensively in sea\r\n" +
		" rch of perfect sailing conditions.\r\n" +
		"title:Product Manager, Rod and Reel Division\r\n" +
		"\r\n\r\n" +
		"dn:: b3U95Za25qWt6YOoLG89QWlyaXVz\r\n" +
		"ou;lang-ja:: 5Za25qWt6YOo\r\n" +
		"description:: V2hhdCBhIGNhcmVmdWwgcmVhZGVyIHlvdSBhcmUhICBUaGlzIHZhbHVl\r\n" +
		" IGlzIGJhc2UtNjQtZW5jb2RlZCBiZWNhdXNlIGl0IGhhcyBhIGNvbnRyb2wgY2hhcmFjdG\r\n" +
		" VyIGluIGl0IChhIENSKS4NICBCeSB0aGUgd2F5LCB5b3Ugc2hvdWxkIHJlYWxseSBnZXQg\r\n" +
		" b3V0IG1vcmUu\r\n" +
		"empty:\r\n" +
		"\r\n" +
		"dn: cn=change\r\n" +
		"changetype: add\r\n" +
		"cn: change\r\n"
	recs, err := readAll(t, in, truststore.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 {
		t.Fatalf("%d records", len(recs))
	}
	if recs[0].DN != "cn=Barbara Jensen, ou=Product Development, dc=airius, dc=com" {
		t.Fatalf("folded dn: %q", recs[0].DN)
	}
	if got := string(recs[0].Values("DESCRIPTION")[0]); got != "Babs is a big sailing fan, and travels extensively in search of perfect sailing conditions." {
		t.Fatalf("folded value: %q", got)
	}
	if recs[1].DN != "ou=営業部,o=Airius" || string(recs[1].Values("ou")[0]) != "営業部" || recs[1].Attrs[0].Options[0] != "lang-ja" {
		t.Fatalf("base64 dn and value: %q %+v", recs[1].DN, recs[1].Attrs[0])
	}
	if got := string(recs[1].Values("description")[0]); got != "What a careful reader you are!  This value is base-64-encoded because it has a control character in it (a CR).\r  By the way, you should really get out more." {
		t.Fatalf("folded base64: %q", got)
	}
	if v := recs[1].Values("empty"); len(v) != 1 || len(v[0]) != 0 {
		t.Fatalf("empty value: %q", v)
	}
	if recs[2].DN != "cn=change" || len(recs[2].Attrs) != 1 {
		t.Fatalf("changetype add: %+v", recs[2])
	}
}

func TestLDIFRefusals(t *testing.T) {
	for name, c := range map[string]struct {
		in   string
		lim  truststore.Limits
		want error
	}{
		"file URL":          {"dn: cn=a\nuserCertificate;binary:< file:///etc/passwd\n", truststore.Limits{}, truststore.ErrLDIFURL},
		"bad base64":        {"dn: cn=a\nx:: !!!\n", truststore.Limits{}, truststore.ErrLDIF},
		"no dn":             {"cn: a\n", truststore.Limits{}, truststore.ErrLDIF},
		"version 2":         {"version: 2\ndn: cn=a\n", truststore.Limits{}, truststore.ErrLDIF},
		"no colon":          {"dn: cn=a\nnocolon\n", truststore.Limits{}, truststore.ErrLDIF},
		"bad attribute":     {"dn: cn=a\nbad name: x\n", truststore.Limits{}, truststore.ErrLDIF},
		"changetype delete": {"dn: cn=a\nchangetype: delete\n", truststore.Limits{}, truststore.ErrLDIF},
		"long line":         {"dn: cn=a\nx: " + strings.Repeat("a", 200) + "\n", truststore.Limits{MaxLine: 100}, truststore.ErrLDIFLimit},
		"long folded line":  {"dn: cn=a\nx: " + strings.Repeat("a\n ", 200) + "\n", truststore.Limits{MaxLine: 100}, truststore.ErrLDIFLimit},
		"big record":        {"dn: cn=a\n" + strings.Repeat("x: 0123456789\n", 50), truststore.Limits{MaxRecord: 300}, truststore.ErrLDIFLimit},
		"many attributes":   {"dn: cn=a\n" + strings.Repeat("x: 1\n", 11), truststore.Limits{MaxAttrs: 10}, truststore.ErrLDIFLimit},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := readAll(t, c.in, c.lim)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

// The PKD files in the other value form RFC 2849 allows: a DER value is
// never a SAFE-STRING, but the certificate-less entries' attributes are
// plain, and values may come with no space after the colon.
func TestLDIFNoFill(t *testing.T) {
	recs, err := readAll(t, "dn:cn=a\nx::AAEC\ny:plain\n", truststore.Limits{})
	if err != nil || !bytes.Equal(recs[0].Values("x")[0], []byte{0, 1, 2}) || string(recs[0].Values("y")[0]) != "plain" {
		t.Fatalf("%+v %v", recs, err)
	}
}
