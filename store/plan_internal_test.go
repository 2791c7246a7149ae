package store

import (
	"database/sql"
	"fmt"
	"testing"
)

// planLines reads an EXPLAIN's rows, one line per step: the last column
// (PostgreSQL's only one, SQLite's EXPLAIN QUERY PLAN detail).
func planLines(tb testing.TB, rows *sql.Rows, err error) []string {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		tb.Fatal(err)
	}
	var lines []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			tb.Fatal(err)
		}
		switch v := vals[len(vals)-1].(type) {
		case []byte:
			lines = append(lines, string(v))
		default:
			lines = append(lines, fmt.Sprint(v))
		}
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return lines
}
