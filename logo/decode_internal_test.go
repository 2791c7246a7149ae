package logo

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"image"
	"image/png"
	"testing"
	"time"
)

// Decoding is bounded: with every decoder busy, a check waits for a turn
// and gives up when its request does.
func TestDecodersBounded(t *testing.T) {
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 4, 4))); err != nil {
		t.Fatal(err)
	}
	data := base64.StdEncoding.EncodeToString(b.Bytes())
	for range cap(decoders) {
		decoders <- struct{}{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := Check(ctx, data, PNG)
	for range cap(decoders) {
		<-decoders
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("with every decoder busy: %v", err)
	}
	if _, err := Check(context.Background(), data, PNG); err != nil {
		t.Fatalf("once free: %v", err)
	}
}
