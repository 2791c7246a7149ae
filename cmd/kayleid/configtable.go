package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/alecthomas/kong"
)

// The operators' configuration table sits between these markers; `make
// config-table` (kayleid config-table --write FILE) rewrites it from the
// declarations in cli.go, and a test fails when the document's differs.
const (
	tableBegin = "<!-- config-table:begin -->"
	tableEnd   = "<!-- config-table:end -->"
)

type configTableCmd struct {
	Write string `name:"write" placeholder:"FILE" help:"rewrite the table between the markers in this document instead of printing it"`
}

func (c *configTableCmd) Run(e *runEnv) error {
	table, err := configTable()
	if err != nil {
		return err
	}
	if c.Write == "" {
		_, err := io.WriteString(e.stdout, table)
		return err
	}
	doc, err := os.ReadFile(c.Write)
	if err != nil {
		return err
	}
	out, err := replaceTable(doc, table)
	if err != nil {
		return inputf("config-table: %s: %v", c.Write, err)
	}
	return os.WriteFile(c.Write, out, 0o644)
}

// configTable is serve's settings as a markdown table, in the order of
// `kayleid serve --help`.
func configTable() (string, error) {
	var c cli
	k, err := newParser(&c, &runEnv{getenv: func(string) string { return "" }, fromEnv: map[string]string{}})
	if err != nil {
		return "", err
	}
	var serve *kong.Node
	for _, n := range k.Model.Children {
		if n.Name == "serve" {
			serve = n
		}
	}
	if serve == nil {
		return "", fmt.Errorf("config-table: no serve command")
	}
	var b strings.Builder
	b.WriteString("| flag | environment | default | meaning |\n| --- | --- | --- | --- |\n")
	for _, f := range serve.Flags {
		env := f.Tag.Get("envvar")
		if env == "" {
			continue
		}
		def := "(unset)"
		if f.HasDefault && f.Default != "" {
			def = "`" + f.Default + "`"
		}
		help := codeSpan.ReplaceAllString(f.Help, "`$1`")
		help = strings.ReplaceAll(help, "|", `\|`)
		fmt.Fprintf(&b, "| `--%s` | `%s` | %s | %s |\n", f.Name, env, def, help)
	}
	return b.String(), nil
}

// tableIn is the text between the markers.
func tableIn(doc []byte) ([]byte, error) {
	_, rest, ok := bytes.Cut(doc, []byte(tableBegin+"\n"))
	if !ok {
		return nil, fmt.Errorf("no %s line", tableBegin)
	}
	table, _, ok := bytes.Cut(rest, []byte(tableEnd))
	if !ok {
		return nil, fmt.Errorf("no %s after %s", tableEnd, tableBegin)
	}
	return table, nil
}

// replaceTable puts table between the markers.
func replaceTable(doc []byte, table string) ([]byte, error) {
	old, err := tableIn(doc)
	if err != nil {
		return nil, err
	}
	i := bytes.Index(doc, []byte(tableBegin+"\n")) + len(tableBegin) + 1
	var out bytes.Buffer
	out.Write(doc[:i])
	out.WriteString(table)
	out.Write(doc[i+len(old):])
	return out.Bytes(), nil
}
