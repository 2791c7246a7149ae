package appattest_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/kayle-id/orgs-api/verify/appattest"
	"github.com/kayle-id/orgs-api/verify/appattest/attesttest"
)

// requireTool finds a program an independent check needs; without it the
// test is skipped, except under CI where that is a failure.
func requireTool(t *testing.T, name, install string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required under CI (%s): %v", name, install, err)
		}
		t.Skipf("%s not installed (%s)", name, install)
	}
	return p
}

// requireCBOR2 finds a python3 that imports cbor2: Debian's python3-cbor2
// lives in /usr/bin/python3's path, which a pyenv shim may hide.
func requireCBOR2(t *testing.T) string {
	t.Helper()
	for _, py := range []string{"python3", "/usr/bin/python3"} {
		p, err := exec.LookPath(py)
		if err != nil {
			continue
		}
		if exec.Command(p, "-c", "import cbor2").Run() == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("python3 with cbor2 is required under CI (apt-get install python3-cbor2)")
	}
	t.Skip("python3 with cbor2 not installed (apt-get install python3-cbor2)")
	return ""
}

func run(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out) + stderr.String(), err
	}
	return string(out), nil
}

func write(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

type cborDump struct {
	Top      cborValue `json:"top"`
	AuthData struct {
		RPIDHash     string    `json:"rpIdHash"`
		Flags        int       `json:"flags"`
		Counter      uint32    `json:"counter"`
		AAGUID       string    `json:"aaguid"`
		CredentialID string    `json:"credentialId"`
		COSE         cborValue `json:"cose"`
	} `json:"authData"`
}

type cborValue struct {
	Keys  []string                   `json:"keys"`
	Items map[string]json.RawMessage `json:"items"`
}

func (v cborValue) hex(t *testing.T, k string) string {
	t.Helper()
	var h struct{ Hex string }
	if err := json.Unmarshal(v.Items[k], &h); err != nil {
		t.Fatalf("%s: %v", k, err)
	}
	return h.Hex
}

func (v cborValue) sub(t *testing.T, k string) cborValue {
	t.Helper()
	var s cborValue
	if err := json.Unmarshal(v.Items[k], &s); err != nil {
		t.Fatalf("%s: %v", k, err)
	}
	return s
}

func cbor2Dump(t *testing.T, py string, obj []byte) cborDump {
	t.Helper()
	out, err := run(t, py, "testdata/cbor2_dump.py", write(t, "obj.cbor", obj))
	if err != nil {
		t.Fatalf("cbor2: %v\n%s", err, out)
	}
	var d cborDump
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return d
}

// The builder's attestation object, read by cbor2, has Apple's structure
// key for key: the order of a real device's object, the certificates the
// builder used, the authData fields and the COSE key of the device key.
func TestBuilderStructureWithCBOR2(t *testing.T) {
	py := requireCBOR2(t)
	key := attesttest.NewDeviceKey()
	h := cdh("cbor2")
	att := mustAttest(t, key, h, attesttest.Options{Environment: appattest.Development})
	got := cbor2Dump(t, py, att)
	real := cbor2Dump(t, py, readB64(t, "testdata/apple-device-ios14.4.att.b64"))

	if !reflect.DeepEqual(got.Top.Keys, real.Top.Keys) || !reflect.DeepEqual(got.Top.Keys, []string{"fmt", "attStmt", "authData"}) {
		t.Fatalf("top keys %v, a device's %v", got.Top.Keys, real.Top.Keys)
	}
	if string(got.Top.Items["fmt"]) != `"apple-appattest"` {
		t.Fatalf("fmt %s", got.Top.Items["fmt"])
	}
	stmt, realStmt := got.Top.sub(t, "attStmt"), real.Top.sub(t, "attStmt")
	if !reflect.DeepEqual(stmt.Keys, realStmt.Keys) {
		t.Fatalf("attStmt keys %v, a device's %v", stmt.Keys, realStmt.Keys)
	}
	var x5c []struct{ Hex string }
	if err := json.Unmarshal(stmt.Items["x5c"], &x5c); err != nil || len(x5c) != 2 {
		t.Fatalf("x5c %s: %v", stmt.Items["x5c"], err)
	}
	if x5c[1].Hex != hex.EncodeToString(attesttest.Default().Intermediate.Raw) {
		t.Fatal("x5c[1] is not the intermediate")
	}
	leafDER, _ := hex.DecodeString(x5c[0].Hex)
	leaf, err := x509.ParseCertificate(leafDER)
	if err != nil || !leaf.PublicKey.(*ecdsa.PublicKey).Equal(&key.PublicKey) {
		t.Fatalf("leaf: %v", err)
	}

	ad := got.AuthData
	rp := sha256.Sum256([]byte(attesttest.AppID))
	if ad.RPIDHash != hex.EncodeToString(rp[:]) || ad.Flags != 0x40 || ad.Counter != 0 ||
		ad.AAGUID != hex.EncodeToString([]byte("appattestdevelop")) ||
		ad.CredentialID != hex.EncodeToString(attesttest.KeyID(&key.PublicKey)) {
		t.Fatalf("authData %+v", ad)
	}
	if real.AuthData.Flags != 0x40 || real.AuthData.AAGUID != ad.AAGUID {
		t.Fatalf("the device's authData %+v", real.AuthData)
	}
	// COSE key: the device's order and values, and ours.
	if !reflect.DeepEqual(ad.COSE.Keys, real.AuthData.COSE.Keys) || !reflect.DeepEqual(ad.COSE.Keys, []string{"1", "3", "-1", "-2", "-3"}) {
		t.Fatalf("COSE keys %v, a device's %v", ad.COSE.Keys, real.AuthData.COSE.Keys)
	}
	for k, want := range map[string]string{"1": "2", "3": "-7", "-1": "1"} {
		if string(ad.COSE.Items[k]) != want || string(real.AuthData.COSE.Items[k]) != want {
			t.Fatalf("COSE %s: %s (device %s), want %s", k, ad.COSE.Items[k], real.AuthData.COSE.Items[k], want)
		}
	}
	pt, _ := key.PublicKey.Bytes()
	if ad.COSE.hex(t, "-2") != hex.EncodeToString(pt[1:33]) || ad.COSE.hex(t, "-3") != hex.EncodeToString(pt[33:]) {
		t.Fatal("COSE x, y are not the device key's")
	}

	// And the assertion: the device's keys in the device's order.
	as := mustAssert(t, key, 1, h, attesttest.AssertionOptions{})
	ga := cbor2Dump(t, py, as)
	ra := cbor2Dump(t, py, readB64(t, "testdata/apple-device-ios14.4.assert.b64"))
	if !reflect.DeepEqual(ga.Top.Keys, ra.Top.Keys) || !reflect.DeepEqual(ga.Top.Keys, []string{"signature", "authenticatorData"}) {
		t.Fatalf("assertion keys %v, a device's %v", ga.Top.Keys, ra.Top.Keys)
	}
}

// OpenSSL checks the builder's chain and the nonce extension's DER shape,
// and both our and the device's assertion signatures: ES256 over the
// nonce, not over authData ‖ clientDataHash.
func TestOpenSSL(t *testing.T) {
	ossl := requireTool(t, "openssl", "apt-get install openssl")
	key := attesttest.NewDeviceKey()
	h := cdh("openssl")
	att := mustAttest(t, key, h, attesttest.Options{})
	x5c := x5cOf(t, att)

	ca := attesttest.Default()
	root := write(t, "root.pem", pemCert(ca.Root.Raw))
	inter := write(t, "inter.pem", pemCert(ca.Intermediate.Raw))
	leaf := write(t, "leaf.pem", pemCert(x5c[0]))
	if out, err := run(t, ossl, "verify", "-CAfile", root, "-untrusted", inter, leaf); err != nil || !strings.Contains(out, "OK") {
		t.Fatalf("openssl verify: %v\n%s", err, out)
	}

	// Ours and the device's nonce extension parse to the same shape.
	for name, der := range map[string][]byte{"builder": x5c[0], "device": x5cOf(t, readB64(t, "testdata/apple-device-ios14.4.att.b64"))[0]} {
		ext := nonceExt(t, der)
		out, err := run(t, ossl, "asn1parse", "-inform", "DER", "-in", write(t, "ext.der", ext))
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 3 || !strings.Contains(lines[0], "cons: SEQUENCE") || !strings.Contains(lines[1], "cons: cont [ 1 ]") ||
			!strings.Contains(lines[2], "prim: OCTET STRING") || !strings.Contains(lines[2], "l=  32") {
			t.Fatalf("%s nonce extension:\n%s", name, out)
		}
	}

	// Assertion signatures.
	authData, sig, err := attesttest.SignAssertion(key, 5, h, attesttest.AssertionOptions{})
	if err != nil {
		t.Fatal(err)
	}
	spki, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	pub := write(t, "pub.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}))
	checkSig(t, ossl, pub, authData, h, sig)

	// The device's assertion, with the key OpenSSL itself takes from the
	// device's leaf certificate.
	devAtt := readB64(t, "testdata/apple-device-ios14.4.att.b64")
	devLeaf := write(t, "dev-leaf.pem", pemCert(x5cOf(t, devAtt)[0]))
	devPub, err := run(t, ossl, "x509", "-in", devLeaf, "-pubkey", "-noout")
	if err != nil {
		t.Fatalf("%v\n%s", err, devPub)
	}
	var devAs struct {
		Signature         []byte `cbor:"signature"`
		AuthenticatorData []byte `cbor:"authenticatorData"`
	}
	if err := decodeCBOR(readB64(t, "testdata/apple-device-ios14.4.assert.b64"), &devAs); err != nil {
		t.Fatal(err)
	}
	checkSig(t, ossl, write(t, "dev-pub.pem", []byte(devPub)), devAs.AuthenticatorData, sha256.Sum256([]byte("wurzelpfropf")), devAs.Signature)
}

// checkSig has OpenSSL verify sig as ECDSA-SHA256 over the nonce, and
// refuse it over authData ‖ clientDataHash itself.
func checkSig(t *testing.T, ossl, pub string, authData []byte, h [32]byte, sig []byte) {
	t.Helper()
	msg := append(bytes.Clone(authData), h[:]...)
	nonce := sha256.Sum256(msg)
	sigPath := write(t, "sig.der", sig)
	out, err := run(t, ossl, "dgst", "-sha256", "-verify", pub, "-signature", sigPath, write(t, "nonce.bin", nonce[:]))
	if err != nil || !strings.Contains(out, "Verified OK") {
		t.Fatalf("openssl over the nonce: %v\n%s", err, out)
	}
	out, err = run(t, ossl, "dgst", "-sha256", "-verify", pub, "-signature", sigPath, write(t, "msg.bin", msg))
	if err == nil || strings.Contains(out, "Verified OK") {
		t.Fatalf("openssl accepted the signature over authData ‖ clientDataHash:\n%s", out)
	}
}

func x5cOf(t *testing.T, att []byte) [][]byte {
	t.Helper()
	var obj struct {
		AttStmt struct {
			X5C [][]byte `cbor:"x5c"`
		} `cbor:"attStmt"`
	}
	if err := decodeCBOR(att, &obj); err != nil || len(obj.AttStmt.X5C) == 0 {
		t.Fatalf("x5c: %v", err)
	}
	return obj.AttStmt.X5C
}

func nonceExt(t *testing.T, der []byte) []byte {
	t.Helper()
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range c.Extensions {
		if e.Id.String() == "1.2.840.113635.100.8.2" {
			return e.Value
		}
	}
	t.Fatal("no nonce extension")
	return nil
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
