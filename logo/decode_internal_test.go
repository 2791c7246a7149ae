package logo

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"image"
	"image/png"
	"runtime"
	"sync"
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

// blockDecodes makes decodes wait, in their goroutine, until the returned
// function is called; started receives once per decode that began.
func blockDecodes(t *testing.T) (started chan string, unblock func()) {
	started, gate := make(chan string, 16), make(chan struct{})
	decodeHook = func(owner string) { started <- owner; <-gate }
	var once sync.Once
	unblock = func() { once.Do(func() { close(gate) }) }
	t.Cleanup(func() { unblock(); decodeHook = nil })
	return started, unblock
}

func grayPNG(t *testing.T) string {
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 4, 4))); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b.Bytes())
}

// A decode that outlasts its request does not hold the answer: the check
// answers the context's error when it ends, and the decoder comes back
// once the decode is over.
func TestDecodeAnswersAtDeadline(t *testing.T) {
	data := grayPNG(t)
	started, unblock := blockDecodes(t)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := CheckAs(ctx, "user-a", data, PNG); errc <- err }()
	<-started
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("a stuck decode's check answered %v", err)
	}
	if len(decoders) != 1 {
		t.Fatalf("%d decoders busy, want the stuck one", len(decoders))
	}
	unblock()
	if _, err := CheckAs(context.Background(), "user-a", data, PNG); err != nil {
		t.Fatalf("after the decode ended: %v", err)
	}
}

// One caller decodes one logo at a time: their second waits for the first
// (and gives up with its request), holding no decoder, while another
// caller decodes.
func TestOneDecodePerOwner(t *testing.T) {
	data := grayPNG(t)
	started, gate := make(chan string, 16), make(chan struct{})
	decodeHook = func(owner string) {
		started <- owner
		if owner == "user-a" {
			<-gate
		}
	}
	var once sync.Once
	unblock := func() { once.Do(func() { close(gate) }) }
	t.Cleanup(func() { unblock(); decodeHook = nil })

	first := make(chan error, 1)
	go func() { _, err := CheckAs(context.Background(), "user-a", data, PNG); first <- err }()
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	second := make(chan error, 1)
	go func() { _, err := CheckAs(ctx, "user-a", data, PNG); second <- err }()
	// Another caller decodes while user-a's first holds one decoder.
	if _, err := CheckAs(context.Background(), "user-b", data, PNG); err != nil {
		t.Fatal(err)
	}
	if who := <-started; who != "user-b" {
		t.Fatalf("%s's decode started", who)
	}
	// user-a's second waits for its turn (and, a decoder being free,
	// would otherwise start).
	for waiting := false; !waiting; {
		select {
		case who := <-started:
			t.Fatalf("%s's decode started beside the first", who)
		default:
		}
		waiting = owners.Refs("user-a") == 2
		runtime.Gosched()
	}
	cancel()
	if err := <-second; !errors.Is(err, context.Canceled) {
		t.Fatalf("user-a's second check: %v", err)
	}
	unblock()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if left := owners.Len(); left != 0 {
		t.Fatalf("%d owners left behind", left)
	}
}
