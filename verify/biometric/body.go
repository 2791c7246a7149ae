package biometric

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net/textproto"
	"strconv"
)

// The multipart fields of POST /verify, as upstream's
// createBiometricVerifierRequestFormData writes them.
const (
	FieldDG2       = "dg2"
	FieldVideo     = "video"
	FieldNonce     = "challengeNonce"
	FieldThreshold = "faceMatchThreshold"

	FileDG2   = "dg2.bin"
	FileVideo = "liveness.mp4"
	FileNonce = "challenge-nonce.bin"
)

// body is a multipart/form-data request body whose framing is written
// once by mime/multipart and whose file contents are the caller's slices,
// read in place: no copy of a 16 MiB video, a known Content-Length, and a
// body that can be read again if the transport retries.
type body struct {
	pieces      [][]byte // framing and contents, in order
	size        int64
	contentType string
}

func newBody(in Input) (*body, error) {
	var frame bytes.Buffer
	w := multipart.NewWriter(&frame)
	b := &body{contentType: w.FormDataContentType()}
	cut := func() {
		b.pieces = append(b.pieces, bytes.Clone(frame.Bytes()))
		frame.Reset()
	}
	file := func(field, name string, content []byte) error {
		h := make(textproto.MIMEHeader, 2)
		h.Set("Content-Disposition", fmt.Sprintf(`form-data; name="%s"; filename="%s"`, field, name))
		h.Set("Content-Type", "application/octet-stream")
		// CreatePart writes the previous part's end and this part's
		// header; the content goes in as its own piece.
		if _, err := w.CreatePart(h); err != nil {
			return err
		}
		cut()
		b.pieces = append(b.pieces, content)
		return nil
	}
	if err := file(FieldDG2, FileDG2, in.DG2); err != nil {
		return nil, err
	}
	if err := file(FieldVideo, FileVideo, in.Video); err != nil {
		return nil, err
	}
	if err := file(FieldNonce, FileNonce, in.Nonce); err != nil {
		return nil, err
	}
	// Plain decimal ('f', shortest round-trip): JavaScript's Number()
	// reads it back as the same double.
	if err := w.WriteField(FieldThreshold, strconv.FormatFloat(in.Threshold, 'f', -1, 64)); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	cut()
	for _, p := range b.pieces {
		b.size += int64(len(p))
	}
	return b, nil
}

func (b *body) reader() io.Reader {
	rs := make([]io.Reader, len(b.pieces))
	for i, p := range b.pieces {
		rs[i] = bytes.NewReader(p)
	}
	return io.MultiReader(rs...)
}
