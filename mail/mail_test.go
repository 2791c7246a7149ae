package mail_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kayle-id/orgs-api/internal/testnet"
	kmail "github.com/kayle-id/orgs-api/mail"
)

func TestOutboxWritesRFC5322(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "outbox")
	ob := &kmail.Outbox{Dir: dir, From: "Kayle ID <no-reply@kayle.id>"}
	err := ob.Send(context.Background(), kmail.Message{
		To: "ada@example.com", Subject: "Hello\r\nBcc: evil@example.com", Body: "line one\nline two\n",
	})
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	if len(files) != 1 {
		t.Fatalf("want one .eml, got %v", files)
	}
	raw, _ := os.ReadFile(files[0])
	msg, err := mail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatalf("not RFC 5322: %v", err)
	}
	if msg.Header.Get("To") != "<ada@example.com>" || msg.Header.Get("Message-Id") == "" || msg.Header.Get("Date") == "" {
		t.Fatalf("headers: %v", msg.Header)
	}
	if msg.Header.Get("Bcc") != "" {
		t.Fatal("a subject injected a header")
	}
	if !strings.Contains(string(raw), "line one\r\nline two\r\n") {
		t.Fatalf("body lines must end in CRLF: %q", raw)
	}
	if err := ob.Send(context.Background(), kmail.Message{To: "not an address"}); err == nil {
		t.Fatal("bad recipient accepted")
	}
	// An outbox that cannot be written fails loudly.
	blocker := filepath.Join(t.TempDir(), "file")
	os.WriteFile(blocker, nil, 0o600)
	if err := (&kmail.Outbox{Dir: blocker, From: "x@kayle.id"}).Send(context.Background(), kmail.Message{To: "a@b.co"}); err == nil {
		t.Fatal("unwritable outbox accepted")
	}
}

// smtpPeer is a minimal SMTP server that records one message.
func smtpPeer(t *testing.T) (addr string, got chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got = make(chan string, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		r := bufio.NewReader(conn)
		w := func(s string) { conn.Write([]byte(s + "\r\n")) }
		w("220 test ESMTP")
		var data strings.Builder
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			cmd := strings.ToUpper(strings.TrimSpace(line))
			switch {
			case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
				w("250 test")
			case strings.HasPrefix(cmd, "MAIL FROM"), strings.HasPrefix(cmd, "RCPT TO"):
				data.WriteString(strings.TrimSpace(line) + "\n")
				w("250 ok")
			case cmd == "DATA":
				w("354 go on")
				for {
					l, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if l == ".\r\n" {
						break
					}
					data.WriteString(l)
				}
				w("250 queued")
			case cmd == "QUIT":
				w("221 bye")
				got <- data.String()
				return
			default:
				w("250 ok")
			}
		}
	}()
	return ln.Addr().String(), got
}

func TestSMTP(t *testing.T) {
	addr, got := smtpPeer(t)
	s, err := kmail.NewSMTP("smtp://"+addr, "Kayle ID <no-reply@kayle.id>", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), kmail.Message{To: "ada@example.com", Subject: "Code", Body: "ABCD1234\n"}); err != nil {
		t.Fatal(err)
	}
	msg := <-got
	for _, want := range []string{"MAIL FROM:<no-reply@kayle.id>", "RCPT TO:<ada@example.com>", "Subject: Code", "ABCD1234"} {
		if !strings.Contains(msg, want) {
			t.Errorf("SMTP transcript lacks %q:\n%s", want, msg)
		}
	}
	if _, err := kmail.NewSMTP("http://example.com", "x@kayle.id", nil); err == nil {
		t.Error("non-smtp URL accepted")
	}
}

// A relay that accepts and never answers cannot hold the sender past its
// context's deadline, past its own Timeout, or past a cancellation.
func TestSMTPDeadline(t *testing.T) {
	addr := testnet.Silent(t)
	s, err := kmail.NewSMTP("smtp://"+addr, "x@kayle.id", nil)
	if err != nil {
		t.Fatal(err)
	}
	msg := kmail.Message{To: "a@b.co", Subject: "s", Body: "b"}
	within := func(name string, limit time.Duration, send func() error) {
		t.Helper()
		start := time.Now()
		err := send()
		if err == nil {
			t.Fatalf("%s: a silent relay accepted the message", name)
		}
		if d := time.Since(start); d > limit {
			t.Errorf("%s: returned after %s, want within %s (%v)", name, d, limit, err)
		}
	}
	within("context deadline", time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		return s.Send(ctx, msg)
	})
	within("cancellation", time.Second, func() error {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(300*time.Millisecond, cancel)
		return s.Send(ctx, msg)
	})
	s.Timeout = 300 * time.Millisecond
	within("own timeout", time.Second, func() error { return s.Send(context.Background(), msg) })
}

// A sender that is not an address stops the SMTP mailer at start-up
// instead of failing every delivery.
func TestSMTPSenderCheckedAtStart(t *testing.T) {
	for _, from := range []string{"", "not an address", "Kayle ID <no-reply@>"} {
		if _, err := kmail.NewSMTP("smtp://127.0.0.1:25", from, nil); err == nil {
			t.Errorf("sender %q accepted", from)
		}
	}
}

// A relay that streams one endless reply line makes the sender read no more
// than MaxRelayReplies: the delivery fails once that much has arrived, long
// before its deadline, instead of buffering the line until then.
func TestSMTPRepliesBounded(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	const stream = 64 << 20 // what the relay offers before it falls silent
	wrote := make(chan int, 1)
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			wrote <- 0
			return
		}
		defer conn.Close()
		n, _ := conn.Write([]byte("220-"))
		chunk := []byte(strings.Repeat("a", 64<<10))
		for n < stream {
			m, err := conn.Write(chunk)
			n += m
			if err != nil {
				break
			}
		}
		wrote <- n
		_, _ = io.Copy(io.Discard, conn) // silent until the sender hangs up
	}()
	s, err := kmail.NewSMTP("smtp://"+ln.Addr().String(), "x@kayle.id", nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Timeout = 10 * time.Second
	start := time.Now()
	err = s.Send(context.Background(), kmail.Message{To: "a@b.co", Subject: "s", Body: "b"})
	if err == nil || !strings.Contains(err.Error(), "more than") {
		t.Fatalf("an endless reply: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the sender read the endless reply for %s", d)
	}
	if n := <-wrote; n >= stream {
		t.Errorf("the sender read all %d bytes the relay sent", n)
	}
}

// The outbox folder is made when it is missing: at the first message and
// again after someone removed it.
func TestOutboxMakesItsFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "outbox")
	ob := &kmail.Outbox{Dir: dir, From: "x@kayle.id"}
	for i := range 2 {
		if err := ob.Send(context.Background(), kmail.Message{To: "a@b.co", Subject: "s", Body: "b"}); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		if files, _ := filepath.Glob(filepath.Join(dir, "*.eml")); len(files) != 1 {
			t.Fatalf("send %d: %v", i, files)
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
	}
}
