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
