package ecc_test

import (
	"math/big"
	"regexp"
	"strings"
	"testing"

	"github.com/kayle-id/orgs-api/internal/testtool"
	"github.com/kayle-id/orgs-api/verify/ecc"
)

// opensslParams reads `openssl ecparam -name NAME -param_enc explicit
// -text -noout`: the prime, a, b, the uncompressed generator, the order
// and the cofactor, as OpenSSL's own curve table holds them.
func opensslParams(t *testing.T, bin, name string) map[string]*big.Int {
	t.Helper()
	out := string(run(t, t.TempDir(), bin, "ecparam", "-name", name, "-param_enc", "explicit", "-text", "-noout"))
	fields := map[string]string{}
	var cur string
	for _, line := range strings.Split(out, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "":
		case strings.HasPrefix(line, "    "): // a hex continuation of the current field
			if cur != "" {
				fields[cur] += strings.ReplaceAll(trimmed, ":", "")
			}
		default:
			k, v, _ := strings.Cut(trimmed, ":")
			cur = strings.TrimSuffix(k, " (uncompressed)")
			if m := regexp.MustCompile(`^(\d+) \(0x[0-9a-f]+\)$`).FindStringSubmatch(strings.TrimSpace(v)); m != nil {
				n, _ := new(big.Int).SetString(m[1], 10)
				fields[cur] = n.Text(16)
				cur = ""
			}
		}
	}
	ints := map[string]*big.Int{}
	for _, k := range []string{"Prime", "A", "B", "Order", "Cofactor"} {
		v, ok := new(big.Int).SetString(fields[k], 16)
		if !ok {
			t.Fatalf("%s: no %s in\n%s", name, k, out)
		}
		ints[k] = v
	}
	g := fields["Generator"]
	if len(g) < 2 || g[:2] != "04" || len(g)%2 != 0 {
		t.Fatalf("%s: generator %q is not an uncompressed point", name, g)
	}
	g = g[2:]
	ints["Gx"], _ = new(big.Int).SetString(g[:len(g)/2], 16)
	ints["Gy"], _ = new(big.Int).SetString(g[len(g)/2:], 16)
	return ints
}

// The package's curve table, field by field (p, a, b, G, n, h), against
// OpenSSL's: an implementation nobody here wrote, so a mistyped constant
// in brainpool.go (which the RFC 7027 vectors would catch only for the r1
// curves) cannot pass.
func TestCurveTableMatchesOpenSSL(t *testing.T) {
	bin := testtool.Require(t, "openssl")
	for _, tc := range []struct {
		openssl string
		curve   *ecc.Curve
	}{
		{"brainpoolP256r1", ecc.BrainpoolP256r1}, {"brainpoolP256t1", ecc.BrainpoolP256t1},
		{"brainpoolP384r1", ecc.BrainpoolP384r1}, {"brainpoolP384t1", ecc.BrainpoolP384t1},
		{"brainpoolP512r1", ecc.BrainpoolP512r1}, {"brainpoolP512t1", ecc.BrainpoolP512t1},
		{"prime256v1", ecc.P256}, {"secp384r1", ecc.P384}, {"secp521r1", ecc.P521},
	} {
		t.Run(tc.openssl, func(t *testing.T) {
			t.Parallel()
			o := opensslParams(t, bin, tc.openssl)
			c := tc.curve
			for _, f := range []struct {
				name      string
				ours, his *big.Int
			}{{"p", c.P, o["Prime"]}, {"a", c.A, o["A"]}, {"b", c.B, o["B"]}, {"Gx", c.Gx, o["Gx"]}, {"Gy", c.Gy, o["Gy"]},
				{"n", c.N, o["Order"]}, {"h", c.H, o["Cofactor"]}} {
				if f.ours == nil || f.ours.Cmp(f.his) != 0 {
					t.Errorf("%s: %s = %x, OpenSSL %x", c.Name, f.name, f.ours, f.his)
				}
			}
		})
	}
}
