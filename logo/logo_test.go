package logo_test

import (
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	api "github.com/kayle-id/orgs-api/gen/api"
	"github.com/kayle-id/orgs-api/internal/testimg"
	"github.com/kayle-id/orgs-api/logo"
)

func pngOf(_ testing.TB, w, h int) []byte  { return testimg.PNG(w, h) }
func jpegOf(_ testing.TB, w, h int) []byte { return testimg.JPEG(w, h) }
func gifOf(_ testing.TB, w, h int) []byte  { return testimg.GIF(w, h) }
func unb64(s string) []byte                { return testimg.Unbase64(s) }
func b64(b []byte) string                  { return testimg.Base64(b) }
func pngHeader(w, h uint32) []byte         { return testimg.PNGHeader(w, h) }

const (
	webpLossless = testimg.WebPLossless
	webpLossy    = testimg.WebPLossy
	webpAlpha    = testimg.WebPAlpha
	webpAnimated = testimg.WebPAnimated
)

func TestDecodeBase64(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"aGk=", "hi", true},
		{"aGk", "hi", true},            // padding optional
		{" a G\tk\n=\r\f", "hi", true}, // ASCII whitespace anywhere
		{"aGVsbG8=", "hello", true},
		{"aGVsbG8", "hello", true},
		{"aGVsbA==", "hell", true},
		{"aGVsbA", "hell", true},
		{"aGVsbB==", "hell", true}, // leftover bits are dropped, as atob does
		{"", "", true},
		{"  ", "", true},
		{"aGk==", "", false},                      // too much padding
		{"aG=k", "", false},                       // misplaced padding
		{"a", "", false},                          // length 1 mod 4
		{"aGVsb", "", false},                      // length 1 mod 4
		{"-_8=", "", false},                       // URL alphabet
		{"data:image/png;base64,aGk=", "", false}, // a data URL is not base64
		{"aGk=\u00a0", "", false},                 // non-ASCII whitespace is not ignored
		{"aGk=\v", "", false},                     // nor is a vertical tab
	} {
		got, ok := logo.DecodeBase64(c.in)
		if ok != c.ok || (ok && string(got) != c.want) {
			t.Errorf("DecodeBase64(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestSniff(t *testing.T) {
	for _, c := range []struct {
		in   []byte
		want string
	}{
		{[]byte("\x89PNG\r\n\x1a\n"), logo.PNG},
		{[]byte{0xFF, 0xD8, 0xFF}, logo.JPEG},
		{[]byte("GIF87a"), logo.GIF},
		{[]byte("GIF89a"), logo.GIF},
		{[]byte("RIFF\x00\x00\x00\x00WEBP"), logo.WebP},
		{[]byte("RIFF\x00\x00\x00\x00WAVE"), ""},
		{[]byte("\x89PNG\r\n\x1a"), ""},
		{[]byte("<svg xmlns="), ""},
		{[]byte("GIF88a"), ""},
		{nil, ""},
	} {
		if got := logo.Sniff(c.in); got != c.want {
			t.Errorf("Sniff(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestDimensions(t *testing.T) {
	vp8l := func(w, h int) []byte { // a VP8L header claiming w×h
		w, h = w-1, h-1
		d := []byte{0x2F, byte(w), byte(w>>8&0x3F | h<<6), byte(h >> 2), byte(h >> 10 & 0x0F)}
		return riff(chunk("VP8L", d))
	}
	jpegWithPrelude := append([]byte{0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 'x', 'y', 0xFF, 0xFF, 0xD0}, jpegOf(t, 33, 17)[2:]...)
	for _, c := range []struct {
		name string
		in   []byte
		ct   string
		w, h int
		ok   bool
	}{
		{"png", pngOf(t, 31, 7), logo.PNG, 31, 7, true},
		{"png header only", pngHeader(4096, 1), logo.PNG, 4096, 1, true},
		{"png huge", pngHeader(1<<31+5, 1), logo.PNG, 1<<31 + 5, 1, true},
		{"png signature only", []byte("\x89PNG\r\n\x1a\n"), logo.PNG, 0, 0, false},
		{"png IHDR length not 13", append(pngHeader(1, 1)[:8], append([]byte{0, 0, 0, 14}, pngHeader(1, 1)[12:]...)...), logo.PNG, 0, 0, false},
		{"png not IHDR first", append(pngHeader(1, 1)[:12], append([]byte("IDAT"), pngHeader(1, 1)[16:]...)...), logo.PNG, 0, 0, false},
		{"gif", gifOf(t, 300, 2), logo.GIF, 300, 2, true},
		{"gif short", []byte("GIF89a\x01\x00\x01"), logo.GIF, 0, 0, false},
		{"jpeg", jpegOf(t, 40, 25), logo.JPEG, 40, 25, true},
		{"jpeg after APP0, fill bytes and RST", jpegWithPrelude, logo.JPEG, 33, 17, true},
		{"jpeg scan before frame", []byte{0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x08, 0, 0, 0, 0, 0, 0}, logo.JPEG, 0, 0, false},
		{"jpeg segment past end", []byte{0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x40, 0}, logo.JPEG, 0, 0, false},
		{"jpeg segment length 1", []byte{0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x01, 0}, logo.JPEG, 0, 0, false},
		{"jpeg no marker", []byte{0xFF, 0xD8, 0xFF, 0x00, 0x00}, logo.JPEG, 0, 0, false},
		{"jpeg junk between segments", []byte{0xFF, 0xD8, 0x12, 0xC0}, logo.JPEG, 0, 0, false},
		{"jpeg only SOI", []byte{0xFF, 0xD8, 0xFF}, logo.JPEG, 0, 0, false},
		{"webp lossless", unb64(webpLossless), logo.WebP, 1, 1, true},
		{"webp lossy", unb64(webpLossy), logo.WebP, 1, 1, true},
		{"webp extended", unb64(webpAlpha), logo.WebP, 1, 1, true},
		{"webp animated", unb64(webpAnimated), logo.WebP, 1, 1, true},
		{"webp VP8L 2048x3", vp8l(2048, 3), logo.WebP, 2048, 3, true},
		{"webp VP8L 16384x16384", vp8l(16384, 16384), logo.WebP, 16384, 16384, true},
		{"webp VP8L bad signature", riff(chunk("VP8L", []byte{0x2E, 1, 2, 3, 4})), logo.WebP, 0, 0, false},
		{"webp unknown chunk then VP8L", riff(append(chunk("ICCP", []byte{1, 2, 3}), chunk("VP8L", []byte{0x2F, 9, 0, 0, 0})...)), logo.WebP, 10, 1, true},
		{"webp chunk past end", riff([]byte("VP8L\xff\x00\x00\x00\x2f")), logo.WebP, 0, 0, false},
		{"webp no image chunk", riff(chunk("EXIF", []byte{1, 2})), logo.WebP, 0, 0, false},
		{"webp VP8 without start code", riff(chunk("VP8 ", make([]byte, 10))), logo.WebP, 0, 0, false},
	} {
		w, h, ok := logo.Dimensions(c.in, c.ct)
		if ok != c.ok || w != c.w || h != c.h {
			t.Errorf("%s: Dimensions = %d×%d %v, want %d×%d %v", c.name, w, h, ok, c.w, c.h, c.ok)
		}
	}
}

func chunk(fourcc string, data []byte) []byte {
	b := append([]byte(fourcc), binary.LittleEndian.AppendUint32(nil, uint32(len(data)))...)
	b = append(b, data...)
	if len(data)%2 == 1 {
		b = append(b, 0)
	}
	return b
}

func riff(chunks []byte) []byte {
	b := append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(4+len(chunks)))...)
	return append(append(b, "WEBP"...), chunks...)
}

// Every refusal, in check order, with upstream's words; then every type accepted.
func TestCheck(t *testing.T) {
	ctx := context.Background()
	big := append(pngHeader(10, 10), make([]byte, logo.MaxBytes)...)
	truncated := pngOf(t, 64, 64)
	truncated = truncated[:len(truncated)-20]
	for _, c := range []struct {
		name, data, ct string
		want           *logo.Problem
		message        string
	}{
		{"not base64", "@@@@", logo.PNG, logo.ErrNotBase64, "Organization logo data must be base64 encoded."},
		{"data URL", "data:image/png;base64," + b64(pngOf(t, 1, 1)), logo.PNG, logo.ErrNotBase64, ""},
		{"blank", " ", logo.PNG, logo.ErrEmpty, "Organization logo is empty."},
		{"over 1 MiB", b64(big), logo.PNG, logo.ErrTooLarge, "Organization logo exceeds maximum size."},
		{"svg", b64([]byte(`<svg xmlns="http://www.w3.org/2000/svg"/>`)), logo.PNG, logo.ErrUnknownType, "Organization logo must be a PNG, JPEG, GIF, or WebP."},
		{"PNG declared JPEG", b64(pngOf(t, 2, 2)), logo.JPEG, logo.ErrTypeMismatch, "Organization logo content type does not match the file contents."},
		{"GIF declared WebP", b64(gifOf(t, 2, 2)), logo.WebP, logo.ErrTypeMismatch, ""},
		{"bare PNG signature", b64([]byte("\x89PNG\r\n\x1a\n")), logo.PNG, logo.ErrDimensionsUnreadable, "Organization logo dimensions could not be read."},
		{"4096×1 PNG", b64(pngHeader(4096, 1)), logo.PNG, logo.ErrDimensionsExceedLimit, "Organization logo dimensions exceed the maximum size."},
		{"0×5 PNG", b64(pngHeader(0, 5)), logo.PNG, logo.ErrDimensionsExceedLimit, ""},
		{"2049×1 PNG, really encoded", b64(pngOf(t, 2049, 1)), logo.PNG, logo.ErrDimensionsExceedLimit, ""},
		{"1×2049 GIF", b64(gifOf(t, 1, 2049)), logo.GIF, logo.ErrDimensionsExceedLimit, ""},
		// Past upstream: the header is fine, the pixels are not there.
		{"PNG header and nothing else", b64(pngHeader(1, 1)), logo.PNG, logo.ErrUndecodable, "Organization logo image data is damaged or incomplete."},
		{"truncated PNG", b64(truncated), logo.PNG, logo.ErrUndecodable, ""},
		{"JPEG frame header only", b64(jpegOf(t, 8, 8)[:200]), logo.JPEG, logo.ErrUndecodable, ""},
		{"animated WebP", webpAnimated, logo.WebP, logo.ErrAnimated, "Organization logo must not be an animated WebP."},
		{"WebP canvas 1×1 around a 3×3 frame", b64(riff(append(chunk("VP8X", []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0}), chunk("VP8L", []byte{0x2F, 2, 0x80, 0, 0})...))), logo.WebP, logo.ErrUndecodable, ""},
	} {
		_, err := logo.Check(ctx, c.data, c.ct)
		var p *logo.Problem
		if !errors.As(err, &p) || p != c.want {
			t.Errorf("%s: got %v, want %q", c.name, err, c.want.Message)
			continue
		}
		if c.message != "" && p.Message != c.message {
			t.Errorf("%s: message %q, want %q", c.name, p.Message, c.message)
		}
	}

	for _, c := range []struct {
		name, data, ct string
		w, h           int
	}{
		{"png", b64(pngOf(t, 2048, 3)), logo.PNG, 2048, 3},
		{"png without padding, wrapped", strings.TrimRight(wrap(b64(pngOf(t, 5, 5))), "="), logo.PNG, 5, 5},
		{"jpeg", b64(jpegOf(t, 17, 2048)), logo.JPEG, 17, 2048},
		{"gif", b64(gifOf(t, 9, 4)), logo.GIF, 9, 4},
		{"webp lossless", webpLossless, logo.WebP, 1, 1},
		{"webp lossy", webpLossy, logo.WebP, 1, 1},
		{"webp alpha", webpAlpha, logo.WebP, 1, 1},
	} {
		img, err := logo.Check(ctx, c.data, c.ct)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if img.Declared != c.ct || img.Width != c.w || img.Height != c.h || len(img.Data) == 0 {
			t.Errorf("%s: %s %d×%d (%d bytes)", c.name, img.ContentType, img.Width, img.Height, len(img.Data))
		}
	}
}

func wrap(s string) string {
	var b strings.Builder
	for len(s) > 60 {
		b.WriteString(s[:60] + "\r\n")
		s = s[60:]
	}
	return b.String() + s
}

// contractDataLength is the maxLength the served contract gives a logo's
// base64 data.
func contractDataLength(t *testing.T) int {
	t.Helper()
	doc, err := api.GetSwagger()
	if err != nil {
		t.Fatal(err)
	}
	body := doc.Paths.Value("/v1/auth/orgs/logo").Post.RequestBody.Value.Content.Get("application/json").Schema.Value
	data := body.Properties["logo"].Value.Properties["data"].Value
	if data.MaxLength == nil {
		t.Fatal("the contract sets no maxLength on a logo's data")
	}
	return int(*data.MaxLength)
}

// The largest logo the contract lets through: 1 MiB exactly, a real PNG.
func TestLargestLogo(t *testing.T) {
	data := LargestPNG(t)
	if len(data) != logo.MaxBytes {
		t.Fatalf("%d bytes", len(data))
	}
	enc := b64(data)
	if max := contractDataLength(t); len(enc) > max {
		t.Fatalf("base64 of the largest logo is %d characters, over the contract's %d", len(enc), max)
	}
	if _, err := logo.Check(context.Background(), enc, logo.PNG); err != nil {
		t.Fatal(err)
	}
	if _, err := logo.Check(context.Background(), b64(append(data, 0)), logo.PNG); !errors.Is(err, logo.ErrTooLarge) {
		t.Fatalf("one byte more: %v", err)
	}
}

// LargestPNG is a valid PNG of exactly logo.MaxBytes.
func LargestPNG(_ testing.TB) []byte { return testimg.PaddedPNG(logo.MaxBytes) }
