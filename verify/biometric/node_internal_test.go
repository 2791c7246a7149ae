package biometric

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kayle-id/orgs-api/verify/biometric/biotest"
)

// requireNode finds node, whose fetch and FormData (undici, the WHATWG
// implementation the verifier's worker runtime follows) are the
// independent implementation the multipart body is checked with; without
// it the test is skipped, except under CI where it is a failure.
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

// The body the client sends is read by WHATWG FormData (Response.formData,
// what the worker calls) as §6.7 says: three files with their names and
// types, the bytes intact, the threshold a string Number() reads back as
// the same double.
func TestBodyReadByNodeFormData(t *testing.T) {
	node := requireNode(t)
	in := Input{
		DG2:       append([]byte("\r\n--boundary-lookalike\r\n"), bytes.Repeat([]byte{0, 0xff, '-'}, 300_000)...),
		Video:     append(biotest.StubVideo(biotest.Accept), make([]byte, 2<<20)...),
		Nonce:     []byte{0x8b, 0x57, 0xe2, 0xfe},
		Threshold: 0.6875000000000001, // shortest round trip is the whole digit string
	}
	b, err := newBody(in)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(b.reader())
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(raw)) != b.size {
		t.Fatalf("Content-Length %d for a %d-byte body", b.size, len(raw))
	}
	path := filepath.Join(t.TempDir(), "body")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	script := `
const fs = require("node:fs"), crypto = require("node:crypto");
(async () => {
  const [path, ct] = process.argv.slice(1);
  const fd = await new Response(fs.readFileSync(path), {headers: {"content-type": ct}}).formData();
  const out = [];
  for (const [name, v] of fd.entries()) {
    if (typeof v === "string") { out.push({name, value: v, number: Number(v)}); continue; }
    const bytes = Buffer.from(await v.arrayBuffer());
    out.push({name, filename: v.name, type: v.type, size: bytes.length,
      sha256: crypto.createHash("sha256").update(bytes).digest("hex")});
  }
  console.log(JSON.stringify(out));
})().catch(e => { console.error(e); process.exit(1); });`
	out, err := exec.Command(node, "-e", script, path, b.contentType).CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	var got []struct {
		Name, Value, Filename, Type, Sha256 string
		Number                              float64
		Size                                int
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	sum := func(p []byte) string { s := sha256.Sum256(p); return hex.EncodeToString(s[:]) }
	want := []string{
		"dg2 dg2.bin application/octet-stream " + strconv.Itoa(len(in.DG2)) + " " + sum(in.DG2),
		"video liveness.mp4 application/octet-stream " + strconv.Itoa(len(in.Video)) + " " + sum(in.Video),
		"challengeNonce challenge-nonce.bin application/octet-stream 4 " + sum(in.Nonce),
		"faceMatchThreshold 0.6875000000000001",
	}
	if len(got) != len(want) {
		t.Fatalf("node read %d fields: %s", len(got), out)
	}
	for i, g := range got {
		s := strings.Join([]string{g.Name, g.Filename, g.Type, strconv.Itoa(g.Size), g.Sha256}, " ")
		if g.Filename == "" {
			s = g.Name + " " + g.Value
			if g.Number != in.Threshold {
				t.Errorf("Number(%q) = %v, want %v", g.Value, g.Number, in.Threshold)
			}
		}
		if s != want[i] {
			t.Errorf("field %d: node read %q, want %q", i, s, want[i])
		}
	}
}

// biotest reads what a WHATWG FormData sender writes (node's fetch, as
// the reference API posts it), so it is no stricter than the contract.
func TestBiotestReadsNodeFetch(t *testing.T) {
	node := requireNode(t)
	srv := biotest.New(t, "s3cret")
	script := `
(async () => {
  const fd = new FormData();
  fd.append("dg2", new Blob([new Uint8Array([0x75, 0x0d, 0x0a, 0x2d, 0x2d])], {type: "application/octet-stream"}), "dg2.bin");
  fd.append("video", new Blob([Buffer.from("KAYLE_TEST_STUB::reject_pad::xyz")], {type: "application/octet-stream"}), "liveness.mp4");
  fd.append("challengeNonce", new Blob([new Uint8Array([1, 2, 3, 4])], {type: "application/octet-stream"}), "challenge-nonce.bin");
  fd.append("faceMatchThreshold", String(0.7));
  const r = await fetch(process.argv[1] + "/verify", {method: "POST", body: fd,
    headers: {"authorization": "Bearer s3cret", "x-kayle-biometric-verifier-auth": "s3cret"}});
  console.log(JSON.stringify({status: r.status, body: await r.json()}));
})().catch(e => { console.error(e); process.exit(1); });`
	out, err := exec.Command(node, "-e", script, srv.URL.String()).CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, out)
	}
	var res struct {
		Status int
		Body   json.RawMessage
	}
	if err := json.Unmarshal(out, &res); err != nil || res.Status != 200 {
		t.Fatalf("node got %s (%v)", out, err)
	}
	v, err := decodeVerdict(res.Body)
	if err != nil || v.PADPassed || !v.LivenessPassed {
		t.Fatalf("answer %s: %+v, %v", res.Body, v, err)
	}
	r := srv.Requests()
	if len(r) != 1 || !bytes.Equal(r[0].DG2, []byte{0x75, 0x0d, 0x0a, 0x2d, 0x2d}) || !bytes.Equal(r[0].Nonce, []byte{1, 2, 3, 4}) ||
		r[0].Threshold != "0.7" || r[0].FileNames["video"] != "liveness.mp4" || !r[0].BearerOK || !r[0].HeaderOK {
		t.Fatalf("biotest recorded %+v", r)
	}
}
