package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// oneLine joins wrapped help into one line of single spaces.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// serveConfig parses a serve command line and checks it as serve does,
// without opening anything.
func serveConfig(t *testing.T, env map[string]string, args ...string) (Config, error) {
	t.Helper()
	e := &runEnv{ctx: context.Background(), getenv: func(k string) string { return env[k] }, fromEnv: map[string]string{}}
	var c cli
	k, err := newParser(&c, e)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Parse(append([]string{"serve"}, args...)); err != nil {
		return Config{}, err
	}
	return c.Serve.config(e)
}

// serve --help shows each flag's type (a duration as DURATION, a bool as
// a bare flag), one default, and its variable once.
func TestServeHelpTyped(t *testing.T) {
	r := kayleid(t, nil, "serve", "--help")
	if r.code != 0 {
		t.Fatalf("serve --help: %+v", r)
	}
	for _, want := range []string{"--request-timeout=DURATION", "--max-in-flight=INT", "--rate-limit=NUMBER", "--body-limit=SIZE",
		"--addr=HOST:PORT", "--public-url=URL", "--log-format=json|text", "--database-url=URL|PATH"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("serve --help lacks %s", want)
		}
	}
	for _, b := range []string{"metrics-public", "create-db"} {
		if !regexp.MustCompile(`--`+b+`\s`).MatchString(r.stdout) || strings.Contains(r.stdout, "--"+b+"=") {
			t.Errorf("--%s is not shown as a bool flag", b)
		}
	}
	help := oneLine(r.stdout)
	if strings.Contains(help, `"`) {
		t.Errorf("a default is shown quoted in the flag column too: %s", help)
	}
	for _, d := range []string{"default 15s; env KAYLE_REQUEST_TIMEOUT", "default 127.0.0.1:8787; env KAYLE_ADDR", "default 2M; env KAYLE_BODY_LIMIT"} {
		if strings.Count(help, d) != 1 {
			t.Errorf("want %q once in serve --help", d)
		}
	}
	if n := strings.Count(help, "15s"); n != 3 { // request-timeout, shutdown-timeout and verify-hello-timeout
		t.Errorf("15s appears %d times, want 3", n)
	}

	// With the variables set, the help says so once, and still shows the
	// one default; a secret's value is not repeated.
	const secret = "0123456789abcdef0123456789abcdef-secret"
	r = kayleid(t, map[string]string{"KAYLE_REQUEST_TIMEOUT": "30s", "KAYLE_AUTH_SECRET": secret, "KAYLE_SMTP_URL": "smtp://u:hunter2@mail:25"}, "serve", "--help")
	help = oneLine(r.stdout)
	if r.code != 0 || strings.Count(help, "default 15s; env KAYLE_REQUEST_TIMEOUT is set: 30s)") != 1 || strings.Count(help, "30s") != 1 {
		t.Errorf("help with KAYLE_REQUEST_TIMEOUT set: %s", help)
	}
	if strings.Contains(help, secret) || strings.Contains(help, "hunter2") || !strings.Contains(help, "env KAYLE_AUTH_SECRET is set") {
		t.Errorf("help repeats a secret or does not say it is set: %s", help)
	}
}

// Help works on the program, on every group and on every command, on
// stdout with status 0, in kong's typed form (not flag's "Usage of").
func TestHelpEverywhere(t *testing.T) {
	for _, path := range []string{"", "serve", "migrate", "users", "users create", "tokens", "tokens create", "tokens revoke",
		"orgs", "orgs purge", "domains", "domains recheck"} {
		args := append(strings.Fields(path), "--help")
		r := kayleid(t, nil, args...)
		want := strings.TrimSpace("Usage: kayleid " + path)
		if r.code != 0 || !strings.HasPrefix(r.stdout, want) || strings.Contains(r.stdout, "Usage of") || r.stderr != "" {
			t.Errorf("%v: %d %q %q", args, r.code, r.stdout, r.stderr)
		}
		if h := kayleid(t, nil, append([]string{"help"}, strings.Fields(path)...)...); h.code != 0 || h.stdout != r.stdout {
			t.Errorf("kayleid help %s differs from --help: %q", path, h.stdout)
		}
	}
	r := kayleid(t, nil, "tokens", "create", "--help")
	if !strings.Contains(r.stdout, "--ttl=DURATION") || !strings.Contains(oneLine(r.stdout), "(default 720h)") {
		t.Errorf("tokens create --help: %s", r.stdout)
	}
	// A group without its command is a usage error that says where to look.
	r = kayleid(t, nil, "users")
	if r.code != 2 || !strings.HasSuffix(strings.TrimSpace(r.stderr), "(see kayleid users --help)") {
		t.Errorf("users: %+v", r)
	}
	// No command at all: the overview on stderr, status 2.
	r = kayleid(t, nil)
	if r.code != 2 || !strings.Contains(r.stderr, "Usage: kayleid <command>") || !strings.Contains(r.stderr, "no command given") {
		t.Errorf("no command: %+v", r)
	}
}

// A bad value is named as the user wrote it: the flag when typed, the
// variable when it came from the environment; status 2, pointing to
// --help, and nothing opened (no database file, no storage folder).
func TestErrorsNameWhatWasTyped(t *testing.T) {
	dir := t.TempDir()
	db, objects := filepath.Join(dir, "k.db"), filepath.Join(dir, "objects")
	base := map[string]string{"DATABASE_URL": db, "KAYLE_CREATE_DB": "true", "KAYLE_STORAGE_URL": objects}
	with := func(kv ...string) map[string]string {
		env := map[string]string{}
		for k, v := range base {
			env[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			env[kv[i]] = kv[i+1]
		}
		return env
	}
	for _, c := range []struct {
		env       map[string]string
		args      []string
		want, not string
	}{
		{base, []string{"serve", "--addr", "127.0.0.1:87x"}, `invalid --addr "127.0.0.1:87x": the port "87x" is not a number`, "KAYLE_ADDR"},
		{base, []string{"serve", "--addr=127.0.0.1:70000"}, `invalid --addr "127.0.0.1:70000"`, "KAYLE_ADDR"},
		{with("KAYLE_ADDR", "127.0.0.1:87x"), []string{"serve"}, `invalid KAYLE_ADDR "127.0.0.1:87x"`, "--addr"},
		// The flag wins, and is the one named.
		{with("KAYLE_ADDR", "127.0.0.1:8787"), []string{"serve", "--addr", "bad host:1"}, `invalid --addr "bad host:1": the host`, "KAYLE_ADDR"},
		{base, []string{"serve", "--request-timeout", "soon"}, `invalid --request-timeout "soon": want a positive duration`, "KAYLE_"},
		{with("KAYLE_REQUEST_TIMEOUT", "0s"), []string{"serve"}, `invalid KAYLE_REQUEST_TIMEOUT "0s"`, "--request-timeout"},
		{base, []string{"serve", "--max-conns=-1"}, `invalid --max-conns "-1": want a whole number`, "KAYLE_"},
		{with("KAYLE_METRICS_PUBLIC", "maybe"), []string{"serve"}, `invalid KAYLE_METRICS_PUBLIC "maybe": want true or false`, "--metrics"},
		{base, []string{"serve", "--public-url", "api.example.com"}, `invalid --public-url "api.example.com": want an http:// or https:// URL`, "KAYLE_"},
		{with("KAYLE_OIDC_ISSUER", "ftp://id.example.com", "KAYLE_OIDC_AUDIENCE", "api"), []string{"serve"}, `invalid KAYLE_OIDC_ISSUER "ftp://id.example.com"`, "--oidc-issuer"},
		{base, []string{"serve", "--smtp-url", "smtp://mail:2x5"}, `invalid --smtp-url "smtp://mail:2x5"`, "KAYLE_"},
		{base, []string{"serve", "--metrics-addr", "localhost"}, `invalid --metrics-addr "localhost": want host:port`, "KAYLE_"},
		{base, []string{"serve", "--trusted-proxies", "10.0.0.0/8,lb"}, `invalid --trusted-proxies "10.0.0.0/8,lb": the entry "lb"`, "KAYLE_"},
		{base, []string{"serve", "--body-limit", "lots"}, `invalid --body-limit "lots": want a size`, "KAYLE_"},
		{with("KAYLE_DNS_TIMEOUT", "2m"), []string{"domains", "recheck"}, `invalid KAYLE_DNS_TIMEOUT "2m": want a duration between 1ms and 1m`, "--dns"},
		{base, []string{"tokens", "create", "--email", "a@example.com", "--ttl", "forever"}, `invalid --ttl "forever"`, "KAYLE_"},
	} {
		r := kayleid(t, c.env, c.args...)
		msg := strings.TrimSpace(r.stderr)
		cmd := c.args[0]
		if cmd != "serve" {
			cmd += " " + c.args[1]
		}
		if r.code != 2 || !strings.Contains(msg, c.want) || strings.Contains(msg, c.not) || strings.Contains(msg, "\n") ||
			!strings.HasSuffix(msg, "(see kayleid "+cmd+" --help)") {
			t.Errorf("%v %v: got %d %q, want %q and not %q", c.env, c.args, r.code, msg, c.want, c.not)
		}
	}
	for _, f := range []string{db, objects} {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("%s exists after refused command lines: %v", f, err)
		}
	}
}

// DATABASE_URL: postgres:// and postgresql:// are PostgreSQL; any other
// scheme is refused by name; a SQLite file must exist unless it is the
// default or --create-db / KAYLE_CREATE_DB=true asks for it.
func TestDatabaseURLRules(t *testing.T) {
	dir := t.TempDir()
	for _, u := range []string{"postgress://ada:hunter2@db.example.com/kayle", "mysql://db.example.com/kayle", "sqlite://kayle.db"} {
		r := kayleid(t, map[string]string{"DATABASE_URL": u}, "migrate")
		scheme := u[:strings.Index(u, "://")]
		if r.code != 2 || !strings.Contains(r.stderr, "invalid DATABASE_URL") || !strings.Contains(r.stderr, scheme+":// is not a database") ||
			strings.Contains(r.stderr, "hunter2") || !strings.Contains(r.stderr, "see kayleid migrate --help") {
			t.Errorf("%s: %+v", u, r)
		}
		if r := kayleid(t, nil, "users", "create", "--email", "a@example.com", "--name", "A", "--database-url", u); r.code != 2 || !strings.Contains(r.stderr, "invalid --database-url") {
			t.Errorf("--database-url %s: %+v", u, r)
		}
	}
	if ents, _ := os.ReadDir("."); len(ents) > 0 {
		for _, e := range ents {
			if strings.Contains(e.Name(), "://") || strings.HasPrefix(e.Name(), "postgress:") || strings.HasPrefix(e.Name(), "mysql:") {
				t.Errorf("a refused URL became a file: %s", e.Name())
			}
		}
	}

	typo := filepath.Join(dir, "kayle-idd.db")
	for _, args := range [][]string{
		{"users", "create", "--email", "a@example.com", "--name", "A"},
		{"tokens", "create", "--email", "a@example.com"},
		{"orgs", "purge"},
		{"migrate"},
	} {
		r := kayleid(t, map[string]string{"DATABASE_URL": typo, "KAYLE_STORAGE_URL": filepath.Join(dir, "objects")}, args...)
		if r.code != 2 || !strings.Contains(r.stderr, `DATABASE_URL "`+typo+`": no such SQLite file; to create it, add --create-db`) {
			t.Errorf("%v on a missing file: %+v", args, r)
		}
		if _, err := os.Stat(typo); !os.IsNotExist(err) {
			t.Fatalf("%v created the missing file: %v", args, err)
		}
	}
	if r := kayleid(t, nil, "orgs", "purge", "--database-url", dir); r.code != 2 || !strings.Contains(r.stderr, "a folder, not a SQLite file") {
		t.Errorf("a folder: %+v", r)
	}
	if r := kayleid(t, nil, "orgs", "purge", "--create-db", "--database-url", filepath.Join(dir, "no", "such", "k.db")); r.code != 2 || !strings.Contains(r.stderr, "does not exist") {
		t.Errorf("a missing folder: %+v", r)
	}

	// Asked for, by flag or by variable, the file is made.
	byFlag, byEnv := filepath.Join(dir, "flag.db"), filepath.Join(dir, "env.db")
	if r := kayleid(t, nil, "users", "create", "--create-db", "--database-url", byFlag, "--email", "a@example.com", "--name", "A"); r.code != 0 {
		t.Fatalf("--create-db: %+v", r)
	}
	if r := kayleid(t, map[string]string{"DATABASE_URL": byEnv, "KAYLE_CREATE_DB": "true"}, "orgs", "purge"); r.code != 0 {
		t.Fatalf("KAYLE_CREATE_DB=true: %+v", r)
	}
	for _, f := range []string{byFlag, byEnv} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("not created: %v", err)
		}
	}
	// Once it exists, no option is needed.
	if r := kayleid(t, map[string]string{"DATABASE_URL": byFlag}, "tokens", "create", "--email", "a@example.com"); r.code != 0 {
		t.Errorf("existing file: %+v", r)
	}
}

// The default database, kayle-id.db in the working folder, is made
// without asking, as `make run` on a fresh clone needs. (Not parallel: it
// changes the working folder.)
func TestDefaultDatabaseCreated(t *testing.T) {
	t.Chdir(t.TempDir())
	if r := kayleid(t, nil, "migrate"); r.code != 0 || !strings.Contains(r.stdout, "schema current (sqlite") {
		t.Fatalf("migrate on the default: %+v", r)
	}
	if _, err := os.Stat(defaultDatabase); err != nil {
		t.Fatal(err)
	}
}

// --public-url follows --addr unless set.
func TestPublicURLFollowsAddr(t *testing.T) {
	dir := t.TempDir()
	base := map[string]string{"DATABASE_URL": filepath.Join(dir, "k.db"), "KAYLE_CREATE_DB": "true"}
	for _, c := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{base, nil, "http://127.0.0.1:8787"},
		{base, []string{"--addr", "127.0.0.1:9999"}, "http://127.0.0.1:9999"},
		{map[string]string{"KAYLE_ADDR": "10.1.2.3:80"}, nil, "http://10.1.2.3:80"},
		{base, []string{"--addr", ":9999"}, "http://127.0.0.1:9999"},
		{base, []string{"--addr", "0.0.0.0:9999"}, "http://127.0.0.1:9999"},
		{base, []string{"--addr", "[::1]:9999"}, "http://[::1]:9999"},
		{base, []string{"--addr", "api.internal:9999"}, "http://api.internal:9999"},
		{base, []string{"--addr", "127.0.0.1:9999", "--public-url", "https://api.example.com/"}, "https://api.example.com"},
		{map[string]string{"KAYLE_ADDR": "127.0.0.1:9999", "KAYLE_PUBLIC_URL": "https://api.example.com"}, nil, "https://api.example.com"},
	} {
		cfg, err := serveConfig(t, c.env, c.args...)
		if err != nil || cfg.Storage.PublicURL != c.want {
			t.Errorf("%v %v: public URL %q (%v), want %q", c.env, c.args, cfg.Storage.PublicURL, err, c.want)
		}
	}
}

// Values from the environment arrive typed, as flags do.
func TestEnvironmentTyped(t *testing.T) {
	dir := t.TempDir()
	cfg, err := serveConfig(t, map[string]string{"DATABASE_URL": filepath.Join(dir, "k.db"), "KAYLE_CREATE_DB": "true",
		"KAYLE_METRICS_PUBLIC": "true", "KAYLE_REQUEST_TIMEOUT": "3s", "KAYLE_RATE_LIMIT": "2.5", "KAYLE_BODY_LIMIT": "512K",
		"KAYLE_LOG_FORMAT": "TEXT", "KAYLE_TRUSTED_PROXIES": "10.0.0.0/8 ::1"}, "--max-in-flight", "7")
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.MetricsPublic || cfg.RequestTimeout.String() != "3s" || cfg.RateLimit != 2.5 || cfg.BodyLimit != "512000" ||
		cfg.LogFormat != "text" || len(cfg.TrustedProxies) != 2 || cfg.MaxInFlight != 7 || cfg.MaxConns != 1024 {
		t.Fatalf("config: %+v", cfg)
	}
}

// The operators' configuration table is the one made from the same
// declarations as serve's flags (`make config-table` rewrites it).
func TestConfigTableMatchesDocument(t *testing.T) {
	doc := filepath.Join("..", "..", "docs", "operators.md")
	raw, err := os.ReadFile(doc)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tableIn(raw)
	if err != nil {
		t.Fatalf("%s: %v", doc, err)
	}
	want, err := configTable()
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("%s's configuration table differs from serve's settings: run `make config-table`\n--- document\n%s\n--- settings\n%s", doc, got, want)
	}
	// Every setting serve --help lists is a row, and no other.
	help := kayleid(t, nil, "serve", "--help").stdout
	flags := regexp.MustCompile(`(?m)^  --([a-z-]+)`).FindAllStringSubmatch(help, -1) // two spaces: a flag, not a wrapped line
	rows := strings.Count(want, "\n| `--")
	if rows != len(flags) || rows < 35 {
		t.Errorf("the table has %d rows, serve --help %d flags", rows, len(flags))
	}
	for _, f := range flags {
		if !strings.Contains(want, "| `--"+f[1]+"` | `") {
			t.Errorf("no row for --%s", f[1])
		}
	}

	// --write replaces only what is between the markers.
	tmp := filepath.Join(t.TempDir(), "doc.md")
	os.WriteFile(tmp, []byte("before\n"+tableBegin+"\nold table\n"+tableEnd+"\nafter\n"), 0o644)
	if r := kayleid(t, nil, "config-table", "--write", tmp); r.code != 0 {
		t.Fatalf("config-table --write: %+v", r)
	}
	out, _ := os.ReadFile(tmp)
	if string(out) != "before\n"+tableBegin+"\n"+want+tableEnd+"\nafter\n" {
		t.Fatalf("rewritten document:\n%s", out)
	}
	if r := kayleid(t, nil, "config-table"); r.code != 0 || r.stdout != want {
		t.Fatalf("config-table: %+v", r)
	}
}
