package sessions

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"unicode/utf8"
)

// The JavaScript string rules are compared with JavaScript itself: node's
// /\s/u over every code point, and trim, the \s+ collapse and .length over
// a corpus. Without node the test is skipped, except under CI.
func TestJSStringsMatchNode(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("node is required under CI: ", err)
		}
		t.Skip("node not installed")
	}
	corpus := []string{"", " ", "a", " \t\n\v\f\r a \u00a0", "\ufeffx\ufeff", "\u0085x\u0085", "\u180ex\u200b", "a\u2028\u2029b",
		"\u3000\u1680\u2000\u200a\u202f\u205fz", "😀", "a😀b  c", strings.Repeat("😀", 101), "é\u0301", "\u0000 a \u0000", "x\u00a0\u00a0 \ty"}
	script := `let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{
		const sp=[];for(let c=0;c<=0x10ffff;c++){if(c>=0xd800&&c<=0xdfff)continue;if(/\s/u.test(String.fromCodePoint(c)))sp.push(c)}
		const rows=JSON.parse(s).map(x=>({trim:x.trim(),collapsed:x.trim().replace(/\s+/gu," "),length:x.length}));
		console.log(JSON.stringify({spaces:sp,rows}))})`
	in, _ := json.Marshal(corpus)
	cmd := exec.Command(node, "-e", script)
	cmd.Stdin = strings.NewReader(string(in))
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	var want struct {
		Spaces []rune
		Rows   []struct {
			Trim, Collapsed string
			Length          int
		}
	}
	if err := json.Unmarshal(out, &want); err != nil || len(want.Rows) != len(corpus) {
		t.Fatalf("node answered %s (%v)", out, err)
	}
	var got []rune
	for r := rune(0); r <= utf8.MaxRune; r++ {
		if isJSSpace(r) {
			got = append(got, r)
		}
	}
	if string(got) != string(want.Spaces) {
		t.Fatalf("whitespace: %U; node %U", got, want.Spaces)
	}
	for i, s := range corpus {
		w := want.Rows[i]
		if jsTrim(s) != w.Trim || collapseSpace(jsTrim(s)) != w.Collapsed || utf16Len(s) != w.Length {
			t.Errorf("%q: trim %q collapsed %q length %d; node %q %q %d", s, jsTrim(s), collapseSpace(jsTrim(s)), utf16Len(s), w.Trim, w.Collapsed, w.Length)
		}
	}
}
