// Package logo checks organization logos as upstream does, byte for byte:
// WHATWG forgiving base64, size, type from the first bytes, the declared
// type against it, and the pixel size read from the image header, each
// failure worded as upstream words it. It then decodes the image for real,
// which upstream does not: a logo whose header is fine but whose pixels no
// decoder can read is refused too, decoding work is bounded before it
// starts, and what is stored is the decoded image re-encoded.
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

	"github.com/kayle-id/orgs-api/internal/keyed"
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
// except ErrUndecodable, ErrTooManyScans and ErrAnimated: upstream never
// decodes the pixels.
var (
	ErrNotBase64             = &Problem{"Organization logo data must be base64 encoded."}
	ErrEmpty                 = &Problem{"Organization logo is empty."}
	ErrTooLarge              = &Problem{"Organization logo exceeds maximum size."}
	ErrUnknownType           = &Problem{"Organization logo must be a PNG, JPEG, GIF, or WebP."}
	ErrTypeMismatch          = &Problem{"Organization logo content type does not match the file contents."}
	ErrDimensionsUnreadable  = &Problem{"Organization logo dimensions could not be read."}
	ErrDimensionsExceedLimit = &Problem{"Organization logo dimensions exceed the maximum size."}
	ErrUndecodable           = &Problem{"Organization logo image data is damaged or incomplete."}
	ErrTooManyScans          = &Problem{"Organization logo has too many JPEG scans to decode."}
	ErrAnimated              = &Problem{"Organization logo must not be an animated WebP."}
)

// Image is a logo that passed every check, re-encoded for storage.
type Image struct {
	Data        []byte // the decoded pixels, encoded anew (see reencode)
	ContentType string // Data's: the declared type, except WebP, stored as PNG or JPEG
	// Declared is the type the upload declared and its bytes were.
	Declared      string
	Width, Height int
}

// Check runs every check on a base64 logo declared as contentType. The
// error is a *Problem for a refused logo, or the context's error when ctx
// ended first (waiting for a decoder, or decoding).
func Check(ctx context.Context, data, contentType string) (Image, error) {
	return CheckAs(ctx, "", data, contentType)
}

// CheckAs is Check for a caller named owner (a user), who decodes one logo
// at a time: a second waits for the first, under its own ctx.
func CheckAs(ctx context.Context, owner, data, contentType string) (Image, error) {
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
	stored, ct, err := decode(ctx, owner, raw, sniffed, w, h)
	if err != nil {
		return Image{}, err
	}
	return Image{Data: stored, ContentType: ct, Declared: sniffed, Width: w, Height: h}, nil
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

// MaxJPEGScans is the most scans a JPEG may have. Every scan of a
// progressive JPEG makes the decoder visit every block of its component,
// however few bytes the scan takes, so the decoding work of a 1 MiB file
// grows with its scan count (tens of thousands of tiny scans take minutes);
// the count is read from the markers before any decoding. Encoders write
// about ten (libjpeg's progressive script); libjpeg-turbo's own guard for
// hostile input (its scan limit) is of this order.
const MaxJPEGScans = 100

// decoders bounds how many logos are decoded at once: each holds up to
// 2048×2048 pixels (16-32 MB) and a CPU while it runs. At least two, so
// that one caller, who gets one at a time (see owners), never holds them all.
var decoders = make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))

// owners gives each caller one decode at a time: a caller's second logo
// waits for its first, holding no decoder.
var owners = keyed.New(1)

// takeTurn waits, under ctx, for owner's turn; release gives it back.
// An empty owner has no turn to wait for.
func takeTurn(ctx context.Context, owner string) (release func(), err error) {
	if owner == "" {
		return func() {}, nil
	}
	if err := owners.Acquire(ctx, owner); err != nil {
		return nil, err
	}
	return func() { owners.Release(owner) }, nil
}

// decodeHook, when set (tests), runs in the decoding goroutine before it
// decodes.
var decodeHook func(owner string)

// decoded is the outcome of one decode and re-encode.
type decoded struct {
	data []byte
	ct   string
	err  error
}

// decode reads every pixel of a header-checked image and re-encodes them
// (see reencode), on one of the decoders and in owner's turn, both waited
// for under ctx. Go's decoders cannot be interrupted, and the input is
// bounded before decoding so that none runs long; when ctx ends first all
// the same, decode answers ctx's error at once, and the decoding goroutine
// gives back its decoder and the owner's turn when it finishes.
func decode(ctx context.Context, owner string, raw []byte, contentType string, w, h int) ([]byte, string, error) {
	if contentType == JPEG && jpegScans(raw) > MaxJPEGScans {
		return nil, "", ErrTooManyScans
	}
	if contentType == WebP && animatedWebP(raw) {
		return nil, "", ErrAnimated
	}
	release, err := takeTurn(ctx, owner)
	if err != nil {
		return nil, "", err
	}
	select {
	case decoders <- struct{}{}:
	case <-ctx.Done():
		release()
		return nil, "", ctx.Err()
	}
	done := make(chan decoded, 1)
	go func() {
		var d decoded
		func() {
			// Given back before the answer, so that a caller's next
			// decode never waits for its last.
			defer func() { <-decoders; release() }()
			if decodeHook != nil {
				decodeHook(owner)
			}
			d.data, d.ct, d.err = decodeAndReencode(raw, contentType, w, h)
		}()
		done <- d
	}()
	select {
	case d := <-done:
		return d.data, d.ct, d.err
	case <-ctx.Done():
		return nil, "", ctx.Err()
	}
}

func decodeAndReencode(raw []byte, contentType string, w, h int) ([]byte, string, error) {
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
		m, err = webp.Decode(r)
	}
	if err != nil {
		return nil, "", ErrUndecodable
	}
	if b := m.Bounds(); b.Dx() < 1 || b.Dy() < 1 || b.Dx() > MaxDimension || b.Dy() > MaxDimension {
		return nil, "", ErrDimensionsExceedLimit
	}
	if p, ok := m.(*image.Paletted); ok && contentType == GIF && p.Bounds() != image.Rect(0, 0, w, h) {
		// A first frame smaller than the screen is shown where it sits on
		// it, the rest transparent (or the first color, without one).
		screen := image.NewPaletted(image.Rect(0, 0, w, h), p.Palette)
		for i, c := range p.Palette {
			if _, _, _, a := c.RGBA(); a == 0 {
				for j := range screen.Pix {
					screen.Pix[j] = uint8(i)
				}
				break
			}
		}
		// The same palette: rows are copied as they are (draw.Draw would
		// look each pixel's color up in the palette).
		for y := p.Rect.Min.Y; y < p.Rect.Max.Y; y++ {
			copy(screen.Pix[screen.PixOffset(p.Rect.Min.X, y):], p.Pix[p.PixOffset(p.Rect.Min.X, y):p.PixOffset(p.Rect.Max.X, y)])
		}
		m = screen
	}
	return reencode(m, contentType)
}

// reencode writes the decoded pixels anew, so that what is stored is the
// image and nothing else: no metadata, no bytes after its end, no frames
// but the one decoded. PNG, JPEG and GIF keep their type (GIF its first
// frame); WebP, which Go cannot encode, becomes PNG, or JPEG when it is
// opaque and too large as PNG. Each encoder takes time linear in the
// pixels (PNG at its fast level first: deflate's better levels can be
// made to search long); the first result within MaxBytes is kept.
func reencode(m image.Image, contentType string) ([]byte, string, error) {
	type enc struct {
		ct string
		fn func(*bytes.Buffer) error
	}
	pngAt := func(l png.CompressionLevel) enc {
		return enc{PNG, func(b *bytes.Buffer) error { return (&png.Encoder{CompressionLevel: l}).Encode(b, m) }}
	}
	jpegAt := func(q int) enc {
		return enc{JPEG, func(b *bytes.Buffer) error { return jpeg.Encode(b, m, &jpeg.Options{Quality: q}) }}
	}
	var try []enc
	switch contentType {
	case PNG:
		try = []enc{pngAt(png.BestSpeed), pngAt(png.DefaultCompression)}
	case JPEG:
		try = []enc{jpegAt(92), jpegAt(80)}
	case GIF:
		try = []enc{{GIF, func(b *bytes.Buffer) error { return gif.Encode(b, m, nil) }}, pngAt(png.BestSpeed)}
	case WebP:
		try = []enc{pngAt(png.BestSpeed), pngAt(png.DefaultCompression)}
		if opaque(m) {
			try = append(try, jpegAt(92), jpegAt(80))
		}
	}
	for _, e := range try {
		var b bytes.Buffer
		if err := e.fn(&b); err != nil {
			return nil, "", ErrUndecodable
		}
		if b.Len() <= MaxBytes {
			return b.Bytes(), e.ct, nil
		}
	}
	return nil, "", ErrTooLarge
}

func opaque(m image.Image) bool {
	if o, ok := m.(interface{ Opaque() bool }); ok {
		return o.Opaque()
	}
	return false
}

// animatedWebP reports an extended WebP whose animation flag is set.
func animatedWebP(b []byte) bool {
	return len(b) >= 21 && string(b[12:16]) == "VP8X" && b[20]&0x02 != 0
}

// jpegScans counts the start-of-scan markers up to the end of the image,
// stepping over segments and each scan's entropy-coded data, and over
// stray bytes between segments as Go's decoder does. It stops counting
// past MaxJPEGScans; a file that ends early is left to the decoder.
func jpegScans(b []byte) int {
	n := 0
	for off := 2; off+1 < len(b); {
		if b[off] != 0xFF || b[off+1] == 0x00 || b[off+1] == 0xFF {
			off++ // stray bytes, a stuffed zero, fill bytes
			continue
		}
		marker := b[off+1]
		off += 2
		switch {
		case marker == 0xD9:
			return n
		case marker == 0x01 || marker >= 0xD0 && marker <= 0xD8:
			continue // standalone markers carry no length
		}
		if off+2 > len(b) {
			return n
		}
		off += int(binary.BigEndian.Uint16(b[off : off+2]))
		if marker != 0xDA {
			continue
		}
		if n++; n > MaxJPEGScans {
			return n
		}
		// Entropy-coded data runs to the next marker that is neither a
		// stuffed zero nor a restart.
		for off+1 < len(b) && (b[off] != 0xFF || b[off+1] == 0x00 || b[off+1] >= 0xD0 && b[off+1] <= 0xD7) {
			off++
		}
	}
	return n
}
