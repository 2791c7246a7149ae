// Package logo checks organization logos as upstream does, byte for byte:
// WHATWG forgiving base64, size, type from the first bytes, the declared
// type against it, and the pixel size read from the image header, each
// failure worded as upstream words it. It then decodes the image for real,
// which upstream does not: a logo whose header is fine but whose pixels no
// decoder can read is refused too.
package logo

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"runtime"

	"golang.org/x/image/webp"
)

// The four accepted content types.
const (
	PNG  = "image/png"
	JPEG = "image/jpeg"
	GIF  = "image/gif"
	WebP = "image/webp"
)

// Limits, as upstream.
const (
	MaxBytes     = 1 << 20 // decoded size
	MaxDimension = 2048    // pixels, each side
)

// Problem is why a logo was refused, worded for the caller.
type Problem struct{ Message string }

func (p *Problem) Error() string { return p.Message }

// The refusals, in the order the checks run. Messages are upstream's,
// except ErrUndecodable: upstream never decodes the pixels.
var (
	ErrNotBase64             = &Problem{"Organization logo data must be base64 encoded."}
	ErrEmpty                 = &Problem{"Organization logo is empty."}
	ErrTooLarge              = &Problem{"Organization logo exceeds maximum size."}
	ErrUnknownType           = &Problem{"Organization logo must be a PNG, JPEG, GIF, or WebP."}
	ErrTypeMismatch          = &Problem{"Organization logo content type does not match the file contents."}
	ErrDimensionsUnreadable  = &Problem{"Organization logo dimensions could not be read."}
	ErrDimensionsExceedLimit = &Problem{"Organization logo dimensions exceed the maximum size."}
	ErrUndecodable           = &Problem{"Organization logo image data is damaged or incomplete."}
)

// Image is a logo that passed every check.
type Image struct {
	Data          []byte
	ContentType   string // sniffed from the bytes (and equal to the declared one)
	Width, Height int
}

// Check runs every check on a base64 logo declared as contentType. The
// error is a *Problem for a refused logo, or the context's error when ctx
// ended while waiting for a decoder.
func Check(ctx context.Context, data, contentType string) (Image, error) {
	raw, ok := DecodeBase64(data)
	if !ok {
		return Image{}, ErrNotBase64
	}
	if len(raw) == 0 {
		return Image{}, ErrEmpty
	}
	if len(raw) > MaxBytes {
		return Image{}, ErrTooLarge
	}
	sniffed := Sniff(raw)
	if sniffed == "" {
		return Image{}, ErrUnknownType
	}
	if sniffed != contentType {
		return Image{}, ErrTypeMismatch
	}
	w, h, ok := Dimensions(raw, sniffed)
	if !ok {
		return Image{}, ErrDimensionsUnreadable
	}
	if w < 1 || h < 1 || w > MaxDimension || h > MaxDimension {
		return Image{}, ErrDimensionsExceedLimit
	}
	if err := decode(ctx, raw, sniffed); err != nil {
		return Image{}, err
	}
	return Image{Data: raw, ContentType: sniffed, Width: w, Height: h}, nil
}

// DecodeBase64 is WHATWG's forgiving-base64 decode, as browsers' atob():
// ASCII whitespace anywhere is ignored, "=" padding is optional but only at
// the end, the standard alphabet only (no "-" or "_").
func DecodeBase64(s string) ([]byte, bool) {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\t', '\n', '\f', '\r', ' ':
		default:
			b = append(b, c)
		}
	}
	if len(b)%4 == 0 {
		switch {
		case bytes.HasSuffix(b, []byte("==")):
			b = b[:len(b)-2]
		case bytes.HasSuffix(b, []byte("=")):
			b = b[:len(b)-1]
		}
	}
	if len(b)%4 == 1 {
		return nil, false
	}
	for _, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/') {
			return nil, false
		}
	}
	// Not Strict(): like atob, leftover bits in the last character are dropped.
	out := make([]byte, base64.RawStdEncoding.DecodedLen(len(b)))
	n, err := base64.RawStdEncoding.Decode(out, b)
	if err != nil {
		return nil, false
	}
	return out[:n], true
}

// Sniff names the image type from its first bytes, or "" for none of the four.
func Sniff(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return PNG
	case bytes.HasPrefix(b, []byte{0xFF, 0xD8, 0xFF}):
		return JPEG
	case bytes.HasPrefix(b, []byte("GIF87a")), bytes.HasPrefix(b, []byte("GIF89a")):
		return GIF
	case len(b) >= 12 && string(b[0:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return WebP
	}
	return ""
}

// Dimensions reads width and height from the image's header, without
// decoding it, exactly where upstream reads them.
func Dimensions(b []byte, contentType string) (w, h int, ok bool) {
	switch contentType {
	case PNG:
		if len(b) < 24 || binary.BigEndian.Uint32(b[8:12]) != 13 || string(b[12:16]) != "IHDR" {
			return 0, 0, false
		}
		// Read as unsigned 32-bit: a width past 2^31 is still a number, and too large.
		return int(binary.BigEndian.Uint32(b[16:20])), int(binary.BigEndian.Uint32(b[20:24])), true
	case GIF:
		if len(b) < 10 {
			return 0, 0, false
		}
		return int(binary.LittleEndian.Uint16(b[6:8])), int(binary.LittleEndian.Uint16(b[8:10])), true
	case WebP:
		return webpDimensions(b)
	case JPEG:
		return jpegDimensions(b)
	}
	return 0, 0, false
}

func webpDimensions(b []byte) (int, int, bool) {
	for off := 12; off+8 <= len(b); {
		fourcc := string(b[off : off+4])
		size := int(binary.LittleEndian.Uint32(b[off+4 : off+8]))
		start := off + 8
		if size > len(b)-start {
			return 0, 0, false // the chunk runs past the end
		}
		d := b[start : start+size]
		switch {
		case fourcc == "VP8X" && size >= 10:
			return 1 + u24(d[4:7]), 1 + u24(d[7:10]), true
		case fourcc == "VP8L" && size >= 5 && d[0] == 0x2F:
			b1, b2, b3, b4 := int(d[1]), int(d[2]), int(d[3]), int(d[4])
			return 1 + (b1 | (b2&0x3F)<<8), 1 + ((b2&0xC0)>>6 | b3<<2 | (b4&0x0F)<<10), true
		case fourcc == "VP8 " && size >= 10 && d[3] == 0x9D && d[4] == 0x01 && d[5] == 0x2A:
			return int(binary.LittleEndian.Uint16(d[6:8]) & 0x3FFF), int(binary.LittleEndian.Uint16(d[8:10]) & 0x3FFF), true
		}
		off = start + size + size&1 // chunks are padded to an even size
	}
	return 0, 0, false
}

func u24(b []byte) int { return int(b[0]) | int(b[1])<<8 | int(b[2])<<16 }

// jpegDimensions walks the markers up to the first start-of-frame.
func jpegDimensions(b []byte) (int, int, bool) {
	off := 2
	for off < len(b) {
		if b[off] != 0xFF {
			return 0, 0, false
		}
		for off < len(b) && b[off] == 0xFF {
			off++ // fill bytes
		}
		if off >= len(b) {
			return 0, 0, false
		}
		marker := b[off]
		off++
		if marker == 0x01 || marker >= 0xD0 && marker <= 0xD9 {
			continue // standalone markers carry no length
		}
		if marker == 0xDA {
			return 0, 0, false // start of scan: no frame header before it
		}
		if off+2 > len(b) {
			return 0, 0, false
		}
		n := int(binary.BigEndian.Uint16(b[off : off+2]))
		if n < 2 || off+n > len(b) {
			return 0, 0, false
		}
		if isSOF(marker) && n >= 8 {
			return int(binary.BigEndian.Uint16(b[off+5 : off+7])), int(binary.BigEndian.Uint16(b[off+3 : off+5])), true
		}
		off += n
	}
	return 0, 0, false
}

func isSOF(m byte) bool {
	return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC
}

// decoders bounds how many logos are decoded at once: each holds up to
// 2048×2048 pixels (16-32 MB) while it runs.
var decoders = make(chan struct{}, max(1, runtime.GOMAXPROCS(0)))

// decode reads every pixel, for a header-checked image. Animated WebP is
// the exception: no decoder here reads its frames, and upstream accepts it.
func decode(ctx context.Context, raw []byte, contentType string) error {
	select {
	case decoders <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-decoders }()
	r := bytes.NewReader(raw)
	var (
		m   image.Image
		err error
	)
	switch contentType {
	case PNG:
		m, err = png.Decode(r)
	case JPEG:
		m, err = jpeg.Decode(r)
	case GIF:
		m, err = gif.Decode(r) // the first frame; bounds checked against the screen
	case WebP:
		if animatedWebP(raw) {
			return nil
		}
		m, err = webp.Decode(r)
	}
	if err != nil {
		return ErrUndecodable
	}
	if b := m.Bounds(); b.Dx() < 1 || b.Dy() < 1 || b.Dx() > MaxDimension || b.Dy() > MaxDimension {
		return ErrDimensionsExceedLimit
	}
	return nil
}

// animatedWebP reports an extended WebP whose animation flag is set.
func animatedWebP(b []byte) bool {
	return len(b) >= 21 && string(b[12:16]) == "VP8X" && b[20]&0x02 != 0
}
