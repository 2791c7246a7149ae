package logo_test

import (
	"bytes"
	"context"
	"errors"
	"image"
	_ "image/gif" // image.Decode reads the stored types
	_ "image/jpeg"
	_ "image/png"
	"testing"

	"github.com/kayle-id/orgs-api/internal/testimg"
	"github.com/kayle-id/orgs-api/logo"
)

// Any bytes, declared as any type: the checks never panic, refuse with one
// of their own answers, and what they accept is within the limits. The
// seeds run in every `make test`; `go test -fuzz=FuzzCheck ./logo` explores.
func FuzzCheck(f *testing.F) {
	for _, seed := range [][]byte{
		testimg.PNG(3, 2), testimg.JPEG(5, 4), testimg.GIF(2, 7), testimg.PNGHeader(1, 1), testimg.PNGHeader(4096, 1),
		testimg.Unbase64(testimg.WebPLossless), testimg.Unbase64(testimg.WebPLossy), testimg.Unbase64(testimg.WebPAlpha),
		testimg.Unbase64(testimg.WebPAnimated), []byte("RIFF\x00\x00\x00\x00WEBPVP8L\xff\xff\xff\xff"), {0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x08},
	} {
		for _, ct := range []string{logo.PNG, logo.JPEG, logo.GIF, logo.WebP} {
			f.Add(seed, ct)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte, ct string) {
		img, err := logo.Check(context.Background(), testimg.Base64(data), ct)
		var p *logo.Problem
		switch {
		case err == nil:
			if img.Declared != ct || img.Width < 1 || img.Height < 1 || img.Width > logo.MaxDimension || img.Height > logo.MaxDimension || len(img.Data) > logo.MaxBytes {
				t.Fatalf("accepted %s %d×%d (%d bytes)", img.Declared, img.Width, img.Height, len(img.Data))
			}
			// What is stored is an image of its type, and the same size.
			m, format, err := image.Decode(bytes.NewReader(img.Data))
			if err != nil || "image/"+format != img.ContentType || m.Bounds().Dx() != img.Width || m.Bounds().Dy() != img.Height {
				t.Fatalf("stored %s does not decode as itself: %v %q", img.ContentType, err, format)
			}
		case !errors.As(err, &p):
			t.Fatalf("refused with %v", err)
		}
	})
}
