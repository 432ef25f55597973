package mapping

import (
	"fmt"
	"sort"
	"strings"
)

// Error is one problem found in a mapping file. It is rendered as
// `file:line:col: field: message`, the format editors and CI logs understand.
type Error struct {
	File   string // file name as given to Load
	Line   int    // 1-based line, 0 when unknown
	Column int    // 1-based column, 0 when unknown
	Field  string // dotted field path, e.g. blocks[0].rules[2].transform[0].scale
	Msg    string
}

// Error implements the error interface.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, e.Column)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ErrorList is every problem found while loading or compiling mapping files,
// sorted by file, line and column.
type ErrorList []*Error

// Error joins all problems, one per line.
func (l ErrorList) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap exposes the individual errors to errors.Is and errors.As.
func (l ErrorList) Unwrap() []error {
	out := make([]error, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}

func (l ErrorList) sorted() ErrorList {
	sort.SliceStable(l, func(i, j int) bool {
		a, b := l[i], l[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	return l
}

// errs accumulates positioned errors for one file.
type errs struct {
	file string
	list ErrorList
	// inAlias and aliased bound the values decoded through YAML aliases,
	// which can otherwise expand a few lines exponentially.
	inAlias      int
	aliased      int
	aliasLimited bool
}

func (e *errs) add(p Pos, field, format string, args ...any) {
	e.list = append(e.list, &Error{File: e.file, Line: p.Line, Column: p.Column, Field: field, Msg: fmt.Sprintf(format, args...)})
}
