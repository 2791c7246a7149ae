// Package testimg makes real images for tests: encoded by the standard
// library's encoders, or (WebP, which it cannot encode) small real files.
package testimg

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
)

// Real 1×1 WebP files: lossless, lossy, lossy with alpha, animated.
const (
	WebPLossless = "UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA=="
	WebPLossy    = "UklGRiIAAABXRUJQVlA4IBYAAAAwAQCdASoBAAEADsD+JaQAA3AAAAAA"
	WebPAlpha    = "UklGRkoAAABXRUJQVlA4WAoAAAAQAAAAAAAAAAAAQUxQSAwAAAARBxAR/Q9ERP8DAABWUDggGAAAABQBAJ0BKgEAAQAAAP4AAA3AAP7mtQAAAA=="
	WebPAnimated = "UklGRlIAAABXRUJQVlA4WAoAAAASAAAAAAAAAAAAQU5JTQYAAAD/////AABBTk1GJgAAAAAAAAAAAAAAAAAAAGQAAABWUDhMDQAAAC8AAAAQBxAREYiI/gcA"
)

// PNG is a w×h PNG.
func PNG(w, h int) []byte {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	m.Set(0, 0, color.NRGBA{R: 200, A: 255})
	var b bytes.Buffer
	must(png.Encode(&b, m))
	return b.Bytes()
}

// JPEG is a w×h JPEG.
func JPEG(w, h int) []byte {
	var b bytes.Buffer
	must(jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, w, h)), nil))
	return b.Bytes()
}

// GIF is a w×h GIF.
func GIF(w, h int) []byte {
	var b bytes.Buffer
	must(gif.Encode(&b, image.NewPaletted(image.Rect(0, 0, w, h), color.Palette{color.Black, color.White}), nil))
	return b.Bytes()
}

// PNGHeader is a PNG signature and an IHDR chunk claiming w×h, nothing
// else: what a header-only check accepts and no decoder can show.
func PNGHeader(w, h uint32) []byte {
	b := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR")
	b = binary.BigEndian.AppendUint32(b, w)
	b = binary.BigEndian.AppendUint32(b, h)
	return append(b, 8, 6, 0, 0, 0, 0, 0, 0, 0)
}

// PaddedPNG is a valid 1×1 PNG padded to exactly size bytes with a private
// ancillary chunk, which decoders skip.
func PaddedPNG(size int) []byte {
	small := PNG(1, 1)
	iend := small[len(small)-12:]
	b := append([]byte{}, small[:len(small)-12]...)
	pad := size - len(small) - 12
	b = binary.BigEndian.AppendUint32(b, uint32(pad))
	body := append([]byte("prVt"), make([]byte, pad)...)
	b = append(b, body...)
	b = binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(body))
	return append(b, iend...)
}

// Base64 is b in standard base64, as the API takes images.
func Base64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// Unbase64 decodes a standard base64 constant.
func Unbase64(s string) []byte {
	b, err := base64.StdEncoding.DecodeString(s)
	must(err)
	return b
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}

// ProgressiveJPEG is a valid w×h grayscale progressive JPEG of one DC scan
// and then acScans AC scans, each a few bytes of end-of-band runs over
// every block: the scan bomb, where the decoder's work grows with the
// number of scans (each visits every block) while the file stays small.
func ProgressiveJPEG(w, h, acScans int) []byte {
	b := []byte{0xFF, 0xD8}
	// Quantization table 0: all ones.
	b = append(b, 0xFF, 0xDB, 0x00, 0x43, 0x00)
	for range 64 {
		b = append(b, 1)
	}
	// Progressive frame, one component, 1×1 sampling, table 0.
	b = append(b, 0xFF, 0xC2, 0x00, 0x0B, 8, byte(h>>8), byte(h), byte(w>>8), byte(w), 1, 1, 0x11, 0)
	// DC table 0: one symbol (category 0) of one bit.
	b = append(b, 0xFF, 0xC4, 0x00, 0x14, 0x00, 1)
	b = append(b, make([]byte, 15)...)
	b = append(b, 0x00)
	// AC table 0: the fifteen end-of-band-run symbols (r<<4, r = 0..14), four bits each.
	b = append(b, 0xFF, 0xC4, 0x00, 0x22, 0x10, 0, 0, 0, 15)
	b = append(b, make([]byte, 12)...)
	for r := range 15 {
		b = append(b, byte(r<<4))
	}
	blocks := ((w + 7) / 8) * ((h + 7) / 8)
	// The DC scan: category 0 for every block.
	b = append(b, 0xFF, 0xDA, 0x00, 0x08, 1, 1, 0x00, 0, 0, 0x00)
	var bw bitWriter
	for range blocks {
		bw.put(0, 1)
	}
	b = append(b, bw.flush()...)
	for range acScans {
		b = append(b, 0xFF, 0xDA, 0x00, 0x08, 1, 1, 0x00, 1, 63, 0x00)
		var bw bitWriter
		for rem := blocks; rem > 0; {
			run := min(rem, 32767)
			r := 0
			for 1<<(r+1) <= run {
				r++
			}
			bw.put(uint32(r), 4)          // code r: the four bits of r
			bw.put(uint32(run-(1<<r)), r) // the run's low bits
			rem -= run
		}
		b = append(b, bw.flush()...)
	}
	return append(b, 0xFF, 0xD9)
}

// bitWriter writes entropy-coded JPEG data, stuffing a zero after 0xFF.
type bitWriter struct {
	out   []byte
	acc   uint32
	nbits int
}

func (w *bitWriter) put(v uint32, n int) {
	for i := n - 1; i >= 0; i-- {
		w.acc = w.acc<<1 | (v>>i)&1
		w.nbits++
		if w.nbits == 8 {
			w.emit()
		}
	}
}

func (w *bitWriter) emit() {
	c := byte(w.acc)
	w.out = append(w.out, c)
	if c == 0xFF {
		w.out = append(w.out, 0)
	}
	w.acc, w.nbits = 0, 0
}

// flush pads the last byte with ones, as JPEG does.
func (w *bitWriter) flush() []byte {
	for w.nbits != 0 {
		w.put(1, 1)
	}
	return w.out
}
