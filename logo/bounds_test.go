package logo_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"testing"

	"github.com/kayle-id/orgs-api/internal/testimg"
	"github.com/kayle-id/orgs-api/logo"
)

// A progressive JPEG of many tiny scans is refused from its markers, before
// any decoding: a megabyte of them would take minutes of CPU to decode.
// Up to the limit, the same JPEG is a logo like any other.
func TestJPEGScanBomb(t *testing.T) {
	ctx := context.Background()
	bomb := testimg.ProgressiveJPEG(2048, 2048, 57000)
	if len(bomb) < 1000000 || len(bomb) > logo.MaxBytes {
		t.Fatalf("the bomb is %d bytes", len(bomb))
	}
	for _, c := range []struct {
		name string
		data []byte
	}{
		{"a megabyte of scans", bomb},
		{"one scan past the limit", testimg.ProgressiveJPEG(2048, 2048, logo.MaxJPEGScans)}, // and the DC scan
	} {
		if _, err := logo.Check(ctx, b64(c.data), logo.JPEG); !errors.Is(err, logo.ErrTooManyScans) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	img, err := logo.Check(ctx, b64(testimg.ProgressiveJPEG(64, 48, logo.MaxJPEGScans-1)), logo.JPEG)
	if err != nil || img.Width != 64 || img.Height != 48 {
		t.Fatalf("at the limit: %v %+v", err, img)
	}
	// Stray bytes between segments, which Go's decoder skips, hide no scan
	// from the count.
	j := testimg.ProgressiveJPEG(64, 48, logo.MaxJPEGScans)
	stray := append(append(append([]byte{}, j[:84]...), 0x00, 0x12, 0xFF, 0x00), j[84:]...) // after the frame header
	if _, err := logo.Check(ctx, b64(stray), logo.JPEG); !errors.Is(err, logo.ErrTooManyScans) {
		t.Errorf("with stray bytes: %v", err)
	}
}

// What is stored is the decoded image encoded anew: bytes after the image,
// metadata chunks and segments, and frames past the first are not kept.
func TestStoredIsReencoded(t *testing.T) {
	ctx := context.Background()
	secret := []byte("ARBITRARY-PAYLOAD-0123456789")
	// A PNG with a private chunk and bytes after its end.
	small := testimg.PNG(1, 1)
	body := append([]byte("prVt"), secret...)
	private := binary.BigEndian.AppendUint32(nil, uint32(len(secret)))
	private = binary.BigEndian.AppendUint32(append(private, body...), crc32.ChecksumIEEE(body))
	withTail := append(append(append(append([]byte{}, small[:33]...), private...), small[33:]...), secret...)
	// A JPEG with a comment segment and bytes after its end.
	j := testimg.JPEG(16, 8)
	com := append([]byte{0xFF, 0xFE, 0, byte(2 + len(secret))}, secret...)
	jpegData := append(append(append(append([]byte{}, j[:2]...), com...), j[2:]...), secret...)
	// A two-frame GIF whose first frame sits inside a larger screen.
	pal := color.Palette{color.Transparent, color.Black, color.White}
	f1 := image.NewPaletted(image.Rect(2, 1, 6, 3), pal)
	for i := range f1.Pix {
		f1.Pix[i] = 1
	}
	f2 := image.NewPaletted(image.Rect(0, 0, 8, 4), pal)
	var g bytes.Buffer
	if err := gif.EncodeAll(&g, &gif.GIF{Image: []*image.Paletted{f1, f2}, Delay: []int{10, 10},
		Config: image.Config{ColorModel: pal, Width: 8, Height: 4}}); err != nil {
		t.Fatal(err)
	}
	gifData := append(g.Bytes(), secret...)

	for _, c := range []struct {
		name, ct, stored string
		data             []byte
		w, h             int
	}{
		{"png", logo.PNG, logo.PNG, withTail, 1, 1},
		{"jpeg", logo.JPEG, logo.JPEG, jpegData, 16, 8},
		{"gif", logo.GIF, logo.GIF, gifData, 8, 4},
		{"webp", logo.WebP, logo.PNG, append(unb64(webpAlpha), secret...), 1, 1},
	} {
		img, err := logo.Check(ctx, b64(c.data), c.ct)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if bytes.Contains(img.Data, secret) || img.ContentType != c.stored || img.Declared != c.ct {
			t.Errorf("%s: stored %s (declared %s), payload kept: %v", c.name, img.ContentType, img.Declared, bytes.Contains(img.Data, secret))
		}
		m, format, err := image.Decode(bytes.NewReader(img.Data))
		if err != nil || "image/"+format != img.ContentType || m.Bounds() != image.Rect(0, 0, c.w, c.h) {
			t.Errorf("%s: the stored image: %v %s %v", c.name, err, format, m.Bounds())
		}
		if c.ct == logo.GIF {
			all, err := gif.DecodeAll(bytes.NewReader(img.Data))
			if err != nil || len(all.Image) != 1 {
				t.Fatalf("gif frames stored: %v", err)
			}
			// The first frame where it was on the screen, transparent around it.
			if _, _, _, a := m.At(0, 0).RGBA(); a != 0 {
				t.Errorf("gif: outside the frame is not transparent: %v", m.At(0, 0))
			}
			if r, _, _, a := m.At(3, 2).RGBA(); a == 0 || r != 0 {
				t.Errorf("gif: inside the frame: %v", m.At(3, 2))
			}
		}
	}
}

// The pixels survive: a lossless source is stored losslessly.
func TestReencodedPixels(t *testing.T) {
	src := image.NewNRGBA(image.Rect(0, 0, 7, 5))
	for i := range src.Pix {
		src.Pix[i] = byte(i * 37)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, src); err != nil {
		t.Fatal(err)
	}
	img, err := logo.Check(context.Background(), b64(b.Bytes()), logo.PNG)
	if err != nil {
		t.Fatal(err)
	}
	m, err := png.Decode(bytes.NewReader(img.Data))
	if err != nil {
		t.Fatal(err)
	}
	for y := range 5 {
		for x := range 7 {
			if color.NRGBAModel.Convert(m.At(x, y)) != src.At(x, y) {
				t.Fatalf("pixel %d,%d: %v, was %v", x, y, m.At(x, y), src.At(x, y))
			}
		}
	}
	_ = jpeg.DefaultQuality
}

// The most decoding work a JPEG logo can ask for: 2048×2048, as many scans
// as the limit allows. Compare BenchmarkCheckBaselineJPEG.
func BenchmarkCheckScanLimitJPEG(b *testing.B) {
	data := b64(testimg.ProgressiveJPEG(2048, 2048, logo.MaxJPEGScans-1))
	for b.Loop() {
		if _, err := logo.Check(context.Background(), data, logo.JPEG); err != nil {
			b.Fatal(err)
		}
	}
}

// A plain 2048×2048 JPEG, decoded and re-encoded.
func BenchmarkCheckBaselineJPEG(b *testing.B) {
	data := b64(testimg.JPEG(2048, 2048))
	for b.Loop() {
		if _, err := logo.Check(context.Background(), data, logo.JPEG); err != nil {
			b.Fatal(err)
		}
	}
}
