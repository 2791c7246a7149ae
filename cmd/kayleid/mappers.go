package main

import (
	"fmt"
	"math"
	"net"
	"net/mail"
	"net/url"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/kong"
	"github.com/labstack/gommon/bytes"
)

// The setting types: each checks its value as it is parsed, whether it
// came from a flag, the environment or a default, so a bad value stops the
// command before anything is opened.
type (
	// hostPort is a listen address, host:port with a numeric port.
	hostPort string
	// httpURL is an absolute http(s) URL without query, fragment or user,
	// kept without a trailing slash.
	httpURL string
	// smtpURL is smtp://[user:pass@]host[:port].
	smtpURL string
	// mailAddress is an RFC 5322 address, with or without a display name.
	mailAddress string
	// byteSize is a number of bytes, written as 512K, 2M, 1MiB, ...
	byteSize int64
	// databaseURL is a postgres:// or postgresql:// URL, or a SQLite path.
	databaseURL string
	// cidrList is comma- or space-separated CIDRs or single addresses.
	cidrList []*net.IPNet
)

// valueError is a value that does not parse. name is what the user set
// (the flag, or the environment variable when it came from there).
type valueError struct {
	name, value, want string
}

func (e *valueError) Error() string {
	return fmt.Sprintf("invalid %s %q: %s", e.name, e.value, e.want)
}

// mapper decodes one setting type; placeholder is the type the help shows
// after the flag (a placeholder tag on the field wins).
type mapper struct {
	placeholder string
	decode      func(tag *kong.Tag, v string) (any, string)
}

func (m mapper) Decode(ctx *kong.DecodeContext, target reflect.Value) error {
	tok, err := ctx.Scan.PopValue(m.placeholder)
	if err != nil {
		return err
	}
	raw := fmt.Sprint(tok.Value)
	v := raw
	if ctx.Value.Tag.Get("raw") != "true" {
		// A secret is taken exactly as given; everything else is trimmed.
		v = strings.TrimSpace(raw)
	}
	out, want := m.decode(ctx.Value.Tag, v)
	if want != "" {
		return &valueError{name: "--" + ctx.Value.Name, value: shown(ctx.Value.Tag, raw), want: want}
	}
	target.Set(reflect.ValueOf(out).Convert(target.Type()))
	return nil
}

func (m mapper) PlaceHolder(f *kong.Flag) string {
	if f.PlaceHolder != "" {
		return f.PlaceHolder
	}
	if oneof := f.Tag.Get("oneof"); oneof != "" {
		return strings.ReplaceAll(oneof, ",", "|")
	}
	return m.placeholder
}

// boolMapper is kong's bool flag (bare --flag means true) with this
// command line's error message.
type boolMapper struct{}

func (boolMapper) Decode(ctx *kong.DecodeContext, target reflect.Value) error {
	if ctx.Scan.Peek().Type != kong.FlagValueToken {
		target.SetBool(true)
		return nil
	}
	tok := ctx.Scan.Pop()
	if b, ok := tok.Value.(bool); ok {
		target.SetBool(b)
		return nil
	}
	raw := fmt.Sprint(tok.Value)
	b, err := strconv.ParseBool(strings.TrimSpace(raw))
	if err != nil {
		return &valueError{name: "--" + ctx.Value.Name, value: raw, want: "want true or false"}
	}
	target.SetBool(b)
	return nil
}

func (boolMapper) IsBool() bool { return true }

// shown is a value as an error message or the help may repeat it: a
// secret (secret:"all") not at all, a URL (secret:"url") without its
// password.
func shown(tag *kong.Tag, v string) string {
	switch tag.Get("secret") {
	case "all":
		return "…"
	case "url":
		return redactURL(v)
	}
	return v
}

// redactURL drops a URL's password.
func redactURL(v string) string {
	if u, err := url.Parse(v); err == nil && u.Scheme != "" && u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
			return u.String()
		}
	}
	return v
}

// mappers are every setting type's mapper, for kong.
func mappers() []kong.Option {
	str := mapper{"STRING", func(tag *kong.Tag, v string) (any, string) {
		if oneof := tag.Get("oneof"); oneof != "" {
			for _, o := range strings.Split(oneof, ",") {
				if strings.EqualFold(v, o) {
					return o, ""
				}
			}
			return nil, "want " + orList(strings.Split(oneof, ","))
		}
		return v, ""
	}}
	integer := mapper{"INT", func(tag *kong.Tag, v string) (any, string) {
		min, _ := strconv.Atoi(tag.Get("min"))
		n, err := strconv.Atoi(v)
		if err != nil || n < min {
			if min == 0 {
				return nil, "want a whole number, 0 for no limit"
			}
			return nil, fmt.Sprintf("want a whole number of at least %d", min)
		}
		return n, ""
	}}
	number := mapper{"NUMBER", func(_ *kong.Tag, v string) (any, string) {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, "want a number of requests per second, 0 to disable"
		}
		return f, ""
	}}
	duration := mapper{"DURATION", func(tag *kong.Tag, v string) (any, string) {
		d, err := time.ParseDuration(v)
		min, _ := time.ParseDuration(tag.Get("min"))
		max, _ := time.ParseDuration(tag.Get("max"))
		switch {
		case max > 0 && (err != nil || d < min || d > max):
			return nil, fmt.Sprintf("want a duration between %s and %s", short(min), short(max))
		case min > 0 && (err != nil || d < min):
			return nil, "want a positive duration such as 30s or 5m"
		case err != nil || d < 0:
			return nil, "want a duration such as 30s or 5m"
		}
		return d, ""
	}}
	listen := mapper{"HOST:PORT", func(_ *kong.Tag, v string) (any, string) {
		if want := checkHostPort(v); want != "" {
			return nil, want
		}
		return v, ""
	}}
	web := mapper{"URL", func(_ *kong.Tag, v string) (any, string) {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil || strings.HasSuffix(v, "?") {
			return nil, "want an http:// or https:// URL without query or fragment"
		}
		if want := checkHostPort(u.Host); u.Port() != "" && want != "" {
			return nil, want
		}
		return strings.TrimRight(v, "/"), ""
	}}
	smtp := mapper{"URL", func(_ *kong.Tag, v string) (any, string) {
		const want = "want smtp://user:pass@host:port"
		if v == "" {
			return v, ""
		}
		u, err := url.Parse(v)
		if err != nil || u.Scheme != "smtp" || u.Hostname() == "" || u.Path != "" && u.Path != "/" || u.RawQuery != "" {
			return nil, want
		}
		if p := u.Port(); p != "" && !validPort(p) {
			return nil, want + " (port a number from 1 to 65535)"
		}
		return v, ""
	}}
	address := mapper{"ADDRESS", func(_ *kong.Tag, v string) (any, string) {
		if _, err := mail.ParseAddress(v); err != nil {
			return nil, `want an address such as "Kayle ID <no-reply@example.com>"`
		}
		return v, ""
	}}
	size := mapper{"SIZE", func(_ *kong.Tag, v string) (any, string) {
		// The same reading as echo's body limit, which this feeds.
		n, err := bytes.Parse(v)
		if err != nil || n <= 0 {
			return nil, "want a size such as 512K or 2M"
		}
		return n, ""
	}}
	database := mapper{"URL|PATH", func(_ *kong.Tag, v string) (any, string) {
		if want := checkDatabaseURL(v); want != "" {
			return nil, want
		}
		return v, ""
	}}
	cidrs := mapper{"CIDRS", func(_ *kong.Tag, v string) (any, string) {
		nets, err := parseTrustedProxies(v)
		if err != nil {
			return nil, err.Error()
		}
		return cidrList(nets), ""
	}}
	return []kong.Option{
		kong.KindMapper(reflect.String, str),
		kong.KindMapper(reflect.Int, integer),
		kong.KindMapper(reflect.Float64, number),
		kong.KindMapper(reflect.Bool, boolMapper{}),
		kong.TypeMapper(reflect.TypeOf(time.Duration(0)), duration),
		kong.TypeMapper(reflect.TypeOf(hostPort("")), listen),
		kong.TypeMapper(reflect.TypeOf(httpURL("")), web),
		kong.TypeMapper(reflect.TypeOf(smtpURL("")), smtp),
		kong.TypeMapper(reflect.TypeOf(mailAddress("")), address),
		kong.TypeMapper(reflect.TypeOf(byteSize(0)), size),
		kong.TypeMapper(reflect.TypeOf(databaseURL("")), database),
		kong.TypeMapper(reflect.TypeOf(cidrList(nil)), cidrs),
	}
}

func orList(s []string) string {
	if len(s) == 1 {
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// short writes 1m0s as 1m.
func short(d time.Duration) string {
	s := d.String()
	s = strings.TrimSuffix(s, "0s")
	return strings.TrimSuffix(strings.Replace(s, "h0m", "h", 1), "0m")
}

func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 0 && n <= 65535 && strconv.Itoa(n) == p
}

var hostname = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$`)

// checkHostPort says what is wrong with a listen address, or "".
func checkHostPort(v string) string {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		return "want host:port, such as 127.0.0.1:8787 or :8787"
	}
	if !validPort(port) {
		return fmt.Sprintf("the port %q is not a number from 0 to 65535", port)
	}
	if host != "" && net.ParseIP(host) == nil && !hostname.MatchString(host) {
		return fmt.Sprintf("the host %q is neither an IP address nor a host name", host)
	}
	return ""
}

// schemeRE is what makes a value a URL rather than a file path.
var schemeRE = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]*)://`)

// checkDatabaseURL says what is wrong with a DATABASE_URL, or "". Whether
// a SQLite file exists is checked later, with --create-db at hand.
func checkDatabaseURL(v string) string {
	if v == "" {
		return "want a postgres:// URL or a SQLite file path, not nothing"
	}
	m := schemeRE.FindStringSubmatch(v)
	switch {
	case m == nil:
		if strings.ContainsAny(v, "?#") {
			return "a SQLite file path must not contain '?' or '#'"
		}
		return ""
	case m[1] == "postgres" || m[1] == "postgresql":
		if _, err := url.Parse(v); err != nil {
			return "not a valid PostgreSQL URL"
		}
		return ""
	}
	return fmt.Sprintf("%s:// is not a database this server speaks: use postgres:// or postgresql:// for PostgreSQL, or a file path for SQLite", m[1])
}
