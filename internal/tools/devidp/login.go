package main

import (
	"context"
	"html/template"
	"log/slog"
	"net/http"
)

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in</title></head>
<body>
<h1>Sign in</h1>
{{if .Error}}<p role="alert">{{.Error}}</p>{{end}}
<form method="post" action="{{.Action}}">
<input type="hidden" name="id" value="{{.ID}}">
<p><label>Username <input name="username" autocomplete="username" autofocus></label></p>
<p><label>Password <input name="password" type="password" autocomplete="current-password"></label></p>
<p><button type="submit">Sign in</button></p>
</form>
</body></html>
`))

// login is the provider's sign-in page: the authorization endpoint sends
// the browser here with the request's id; a right username and password
// send it back to the authorization callback, which redirects to the
// application with a code.
type login struct {
	store    *storage
	path     string
	callback func(ctx context.Context, requestID string) string
}

func (l *login) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		l.render(w, http.StatusOK, r.URL.Query().Get("authRequestID"), "")
	case http.MethodPost:
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			http.Error(w, "malformed form", http.StatusBadRequest)
			return
		}
		id, username := r.PostFormValue("id"), r.PostFormValue("username")
		if err := l.store.signIn(id, username, r.PostFormValue("password")); err != nil {
			slog.Info("sign-in refused", "username", username, "reason", err.Error())
			l.render(w, http.StatusUnauthorized, id, err.Error())
			return
		}
		slog.Info("signed in", "username", username)
		http.Redirect(w, r, l.callback(r.Context(), id), http.StatusFound)
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

func (l *login) render(w http.ResponseWriter, status int, id, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = loginPage.Execute(w, struct{ Action, ID, Error string }{l.path, id, msg})
}
