package domains

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// requireNode finds node, the independent implementation the WHATWG
// parser is compared with; without it the test is skipped, except under
// CI where a missing tool is a failure.
func requireNode(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("node is required under CI: ", err)
		}
		t.Skip("node not installed")
	}
	return node
}

// webURLCorpus is the hostile and ordinary input the parser is compared on.
var webURLCorpus = []string{
	"https://app.acme.co/done", "https://App.Acme.co", "HTTPS://APP.ACME.CO:443/A?B#C", "https://acme.co:0443/", "https://acme.co:/x",
	"https://acme.co:8443", "https://acme.co:65535/", "https://acme.co:65536/", "https://acme.co:1x/", "http://acme.co:80/", "http://acme.co:443/",
	"https://evil.com\\@acme.co/", "https://evil.com\\\\acme.co", "https:\\\\acme.co\\a\\b", "https:acme.co", "https:///acme.co", "https:/\\/acme.co/x",
	"https://user@acme.co/", "https://user:pass@acme.co/", "https://:pass@acme.co/", "https://@acme.co/", "https://:@acme.co/", "https://a@b@acme.co/",
	"https://@/", "https://user@/", "https:///", "https://", "https:", "https://:443/", "ftp://acme.co/", "javascript:alert(1)", "acme.co", "//acme.co",
	" \t https://acme.co/ \n", "https://ac\tme.co/pa\nth", "https://acme.co/\u0000x", "\u0000https://acme.co/", "https://acme.co/a b\"<>`{}^|",
	"https://acme.co/?a b\"'<>`{}^|#a b\"'<>`{}^|", "https://acme.co/?", "https://acme.co/#", "https://acme.co/?#", "https://acme.co/#?x#y",
	"https://acme.co/a/./b/../c", "https://acme.co/a/%2e/b/%2E%2e/c", "https://acme.co/a/..", "https://acme.co/a/.", "https://acme.co/..",
	"https://acme.co/%zz%41", "https://acme.co/ü/é?ü#ü", "https://acme.co/\u2028", "https://acme.co/\ufeff",
	"https://%61cme.co/", "https://acme%2eco/", "https://acme.co%2F.evil.com/", "https://acme%00.co/", "https://acme%zz.co/", "https://%ff.co/",
	"https://bücher.de/", "https://BÜCHER.de/", "https://ｅｘａｍｐｌｅ.com/", "https://xn--bcher-kva.de/", "https://xn--a.com/", "https://XN--BCHER-KVA.de/",
	"https://a_b.acme.co/", "https://a*b.acme.co/", "https://a b.co/", "https://a<b.co/", "https://a^b.co/", "https://a|b.co/", "https://a%b.co/",
	"https://-a.acme.co/", "https://a..b/", "https://.acme.co/", "https://acme.co./", "https://acme.co../", "https://faß.de/", "https://a\u200db.co/",
	"https://\u0627\u0644\u0639\u0631\u0628\u064a\u0629.example/", "https://a\u3002b\uff0ec/", "https://\u00ad.co/", "https://\u00adacme.co/",
	"https://127.0.0.1/", "https://127.0.0.1./", "https://127.1/", "https://0x7f.1/", "https://0177.0.0.1/", "https://2130706433/", "https://4294967296/",
	"https://256.0.0.1/", "https://1.2.3.4.5/", "https://1.2.3.09/", "https://0x/", "https://1.0x/", "https://99999999999999999999/", "https://1.2.3.4.acme/",
	"https://acme.123/", "https://acme.0x1/", "https://acme.0xg/",
	"https://[::1]/", "https://[::1]:8443/", "https://[0:0:0:0:0:0:0:1]/", "https://[::ffff:1.2.3.4]/", "https://[1:0:0:2:0:0:0:3]/", "https://[1:0:0:2:0:0:3:4]/",
	"https://[fe80::1%25eth0]/", "https://[::1/", "https://[g::1]/", "https://[1:2:3:4:5:6:7:8:9]/", "https://[::1]x/", "https://[ABCD::EF]/",
	"http://localhost/", "http://LOCALHOST:3000/cb", "http://localhost./", "http://127.0.0.1:8080/", "http://127.0.0.1./", "http://[::1]/",
	"https://localhost/x", "https://acme.co/" + strings.Repeat("a", 100),
}

func TestWebURLMatchesNode(t *testing.T) {
	node := requireNode(t)
	in, _ := json.Marshal(webURLCorpus)
	script := `let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{console.log(JSON.stringify(JSON.parse(s).map(x=>{
		try{const u=new URL(x);return {ok:true,href:u.href,protocol:u.protocol,hostname:u.hostname,username:u.username,password:u.password}}catch(e){return {ok:false}}})))})`
	cmd := exec.Command(node, "-e", script)
	cmd.Stdin = strings.NewReader(string(in))
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	var want []struct {
		OK                       bool
		Href, Protocol, Hostname string
		Username, Password       string
	}
	if err := json.Unmarshal(out, &want); err != nil || len(want) != len(webURLCorpus) {
		t.Fatalf("node answered %s (%v)", out, err)
	}
	for i, raw := range webURLCorpus {
		w := want[i]
		if w.OK && w.Protocol != "http:" && w.Protocol != "https:" {
			w.OK = false // only http and https are read here
		}
		u, ok := parseWebURL(raw)
		if ok != w.OK {
			t.Errorf("%q: parsed %v, node %v (%s)", raw, ok, w.OK, w.Href)
			continue
		}
		if !ok {
			continue
		}
		if u.hostname != w.Hostname || u.username != w.Username || u.password != w.Password {
			t.Errorf("%q: host %q user %q pass %q; node %q %q %q", raw, u.hostname, u.username, u.password, w.Hostname, w.Username, w.Password)
		}
		if w.Username == "" && w.Password == "" && u.href() != w.Href {
			t.Errorf("%q: href %q; node %q", raw, u.href(), w.Href)
		}
	}
}
