// Package mail sends the server's messages (deletion codes): as RFC 5322
// .eml files in an outbox folder by default, or over SMTP.
package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Message is one plain-text mail.
type Message struct {
	To      string
	Subject string
	Body    string
}

// Mailer delivers messages.
type Mailer interface {
	Send(ctx context.Context, m Message) error
}

// lineBreaks blanks the line breaks of a header value.
var lineBreaks = strings.NewReplacer("\r", " ", "\n", " ")

// crlf ends every line of a body in CRLF: CRLF, a bare CR and a bare LF
// each end one line. A bare CR left in the body could end DATA early at a
// relay that takes it for a line end ("\r.\r\n" is the SMTP smuggling
// trigger): net/smtp dot-stuffs only lines that follow a LF.
var crlf = strings.NewReplacer("\r\n", "\r\n", "\r", "\r\n", "\n", "\r\n")

// render builds an RFC 5322 message whose lines all end in CRLF, in the
// body too. Header values are encoded and stripped of line breaks, so no
// header can be injected.
func render(from string, m Message, now time.Time) ([]byte, string, error) {
	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return nil, "", fmt.Errorf("mail: bad recipient %q: %w", m.To, err)
	}
	idBytes := make([]byte, 12)
	_, _ = rand.Read(idBytes)
	id := hex.EncodeToString(idBytes)
	host := "kayle-id.local"
	if at := strings.LastIndex(from, "@"); at >= 0 {
		host = strings.Trim(from[at+1:], "> ")
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\n", lineBreaks.Replace(from))
	fmt.Fprintf(&b, "To: %s\r\n", to.String())
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", lineBreaks.Replace(m.Subject)))
	fmt.Fprintf(&b, "Date: %s\r\n", now.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s@%s>\r\n", id, host)
	b.WriteString("MIME-Version: 1.0\r\n")
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\n")
	b.WriteString("Content-Transfer-Encoding: 8bit\r\n\r\n")
	body := crlf.Replace(m.Body)
	b.WriteString(body)
	if !strings.HasSuffix(body, "\r\n") {
		b.WriteString("\r\n")
	}
	return b.Bytes(), to.Address, nil
}

// Outbox writes each message as a .eml file into Dir.
type Outbox struct {
	Dir  string
	From string
	Log  *slog.Logger
}

// Send writes the message atomically (temp file, then rename), so a reader
// of the folder never sees half a message. The folder is made when it is
// missing (the first message, or after someone removed it), not per send.
func (o *Outbox) Send(_ context.Context, m Message) error {
	now := time.Now().UTC()
	raw, to, err := render(o.From, m, now)
	if err != nil {
		return err
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	name := fmt.Sprintf("%s-%s.eml", now.Format("20060102T150405.000000000Z"), hex.EncodeToString(suffix))
	tmp, err := os.CreateTemp(o.Dir, ".tmp-*.eml")
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(o.Dir, 0o750); err != nil {
			return fmt.Errorf("mail: outbox: %w", err)
		}
		tmp, err = os.CreateTemp(o.Dir, ".tmp-*.eml")
	}
	if err != nil {
		return fmt.Errorf("mail: outbox: %w", err)
	}
	if _, err := tmp.Write(raw); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("mail: outbox: %w", err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("mail: outbox: %w", err)
	}
	path := filepath.Join(o.Dir, name)
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("mail: outbox: %w", err)
	}
	if o.Log != nil {
		o.Log.Info("mail written to outbox", "to", to, "subject", m.Subject, "file", path)
	}
	return nil
}

// SMTP sends through a server named by a URL:
// smtp://user:pass@host:587 (STARTTLS when offered) or smtp://host:25.
// Make it with NewSMTP.
type SMTP struct {
	Addr string
	Auth smtp.Auth
	From string
	Log  *slog.Logger
	// Timeout bounds one delivery when the caller's context has no earlier
	// deadline; DefaultSMTPTimeout when zero.
	Timeout time.Duration
	// sender is From's address, for MAIL FROM (checked by NewSMTP).
	sender string
}

// DefaultSMTPTimeout is SMTP.Timeout's default.
const DefaultSMTPTimeout = 30 * time.Second

// MaxRelayReplies bounds what one delivery reads from the relay, all
// replies together: an exchange's replies take a few kilobytes, and
// net/smtp reads a reply line whole however long it is.
const MaxRelayReplies = 1 << 20

// NewSMTP parses an smtp:// URL and the sender, so a bad one stops the
// server at start-up rather than failing every delivery.
func NewSMTP(rawURL, from string, log *slog.Logger) (*SMTP, error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "smtp" || u.Host == "" {
		return nil, fmt.Errorf("mail: KAYLE_SMTP_URL must look like smtp://user:pass@host:port, got %q", redact(rawURL))
	}
	sender, err := mail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("mail: KAYLE_MAIL_FROM must be an address such as \"Kayle ID <no-reply@example.com>\", got %q: %w", from, err)
	}
	host := u.Hostname()
	port := u.Port()
	if port == "" {
		port = "25"
	}
	s := &SMTP{Addr: net.JoinHostPort(host, port), From: from, Log: log, sender: sender.Address}
	if u.User != nil {
		pass, _ := u.User.Password()
		s.Auth = smtp.PlainAuth("", u.User.Username(), pass, host)
	}
	return s, nil
}

func redact(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		u.User = url.User(u.User.Username())
		return u.String()
	}
	return raw
}

// Send delivers one message, within ctx's deadline (and Timeout): the
// connection is dialled with ctx and every read and write on it has the
// same deadline, so a relay that accepts and never answers, or answers a
// byte at a time, cannot hold the caller. (smtp.SendMail has no deadline.)
func (s *SMTP) Send(ctx context.Context, m Message) error {
	if s.sender == "" {
		return errors.New("mail: smtp: no sender (make the SMTP mailer with NewSMTP)")
	}
	raw, to, err := render(s.From, m, time.Now().UTC())
	if err != nil {
		return err
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultSMTPTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("mail: smtp: %w", err)
	}
	defer conn.Close()
	dl, _ := ctx.Deadline()
	if err := conn.SetDeadline(dl); err != nil {
		return fmt.Errorf("mail: smtp: %w", err)
	}
	// Cancellation (the client went away) ends the exchange too.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	if err := s.exchange(&limitedReader{Conn: conn, left: MaxRelayReplies}, s.sender, to, raw); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("mail: smtp: %w (%w)", ctx.Err(), err)
		}
		return fmt.Errorf("mail: smtp: %w", err)
	}
	if s.Log != nil {
		s.Log.Info("mail sent", "to", to, "subject", m.Subject, "smtp", s.Addr)
	}
	return nil
}

// exchange is smtp.SendMail's conversation on a connection of ours.
func (s *SMTP) exchange(conn net.Conn, from, to string, raw []byte) error {
	host, _, _ := net.SplitHostPort(s.Addr)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("localhost"); err != nil {
		return err
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(&tls.Config{ServerName: host}); err != nil {
			return err
		}
	}
	if s.Auth != nil {
		if ok, _ := c.Extension("AUTH"); !ok {
			return errors.New("the server does not support AUTH")
		}
		if err := c.Auth(s.Auth); err != nil {
			return err
		}
	}
	if err := c.Mail(from); err != nil {
		return err
	}
	if err := c.Rcpt(to); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(raw); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// errRelayTooLong ends an exchange whose relay sent more than
// MaxRelayReplies.
var errRelayTooLong = fmt.Errorf("the relay sent more than %d bytes of replies", MaxRelayReplies)

// limitedReader is a connection that reads at most left bytes in all.
type limitedReader struct {
	net.Conn
	left int
}

func (c *limitedReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, errRelayTooLong
	}
	if len(p) > c.left {
		p = p[:c.left]
	}
	n, err := c.Conn.Read(p)
	c.left -= n
	return n, err
}
