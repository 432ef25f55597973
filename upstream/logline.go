package upstream

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"sync"

	"github.com/rs/zerolog"
)

// maxLine bounds a buffered partial line; longer lines are split.
const maxLine = 64 << 10

var (
	// ansiRe matches ANSI escape sequences (colour codes around the level).
	ansiRe = regexp.MustCompile(`\x1b\[[0-9;?]*[ -/]*[@-~]`)
	// consoleRe matches Zigbee2MQTT's console format
	// "[<timestamp>] <level>: \t<namespace>: <message>".
	consoleRe = regexp.MustCompile(`^\[[^\]]*\]\s+([a-zA-Z]+):\s?(.*)$`)
	// nsRe splits "<namespace>: <message>".
	nsRe = regexp.MustCompile(`^([a-z0-9]+(?::[A-Za-z0-9_.-]+)*): (.*)$`)
)

// LogLine is one parsed line of Zigbee2MQTT console output.
type LogLine struct {
	// Level is the line's level; zerolog.NoLevel when not recognised.
	Level zerolog.Level
	// Namespace is Zigbee2MQTT's logger namespace, e.g. "z2m" or
	// "zh:zstack:znp"; empty when absent.
	Namespace string
	// Message is the text without timestamp, level and namespace.
	Message string
}

// ParseLogLine parses one console line of Zigbee2MQTT output, in the plain
// format (with or without ANSI colours) or the JSON one
// (advanced.log_console_json). ok is false for lines in neither format, such
// as stack-trace continuations; Message then holds the line without ANSI
// codes.
func ParseLogLine(line string) (l LogLine, ok bool) {
	line = strings.TrimRight(ansiRe.ReplaceAllString(line, ""), "\r\n")
	if strings.HasPrefix(line, "{") {
		var j struct {
			Level   string `json:"level"`
			Message string `json:"message"`
		}
		if json.Unmarshal([]byte(line), &j) == nil && j.Level != "" {
			if lvl, known := levelOf(j.Level); known {
				l = LogLine{Level: lvl}
				l.Namespace, l.Message = splitNamespace(j.Message)
				return l, true
			}
		}
	}
	m := consoleRe.FindStringSubmatch(line)
	if m == nil {
		return LogLine{Level: zerolog.NoLevel, Message: line}, false
	}
	lvl, known := levelOf(m[1])
	if !known {
		return LogLine{Level: zerolog.NoLevel, Message: line}, false
	}
	l = LogLine{Level: lvl}
	l.Namespace, l.Message = splitNamespace(strings.TrimLeft(m[2], " \t"))
	return l, true
}

func splitNamespace(msg string) (ns, rest string) {
	if m := nsRe.FindStringSubmatch(msg); m != nil {
		return m[1], m[2]
	}
	return "", msg
}

func levelOf(word string) (zerolog.Level, bool) {
	switch strings.ToLower(word) {
	case "error", "crit", "alert", "emerg":
		return zerolog.ErrorLevel, true
	case "warning", "warn":
		return zerolog.WarnLevel, true
	case "info", "notice":
		return zerolog.InfoLevel, true
	case "debug":
		return zerolog.DebugLevel, true
	}
	return zerolog.NoLevel, false
}

// lineLogger is an io.Writer that logs each complete line it receives.
// Lines that carry no level inherit the previous line's (a stack trace stays
// at error), starting from the stream's default.
type lineLogger struct {
	mu    sync.Mutex
	log   zerolog.Logger
	level zerolog.Level
	ns    string
	buf   []byte
}

func newLineLogger(log zerolog.Logger, def zerolog.Level) *lineLogger {
	return &lineLogger{log: log, level: def}
}

// Write implements io.Writer.
func (w *lineLogger) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			if len(w.buf) >= maxLine {
				w.emit(string(w.buf))
				w.buf = w.buf[:0]
			}
			return len(p), nil
		}
		w.emit(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
}

// Flush logs a trailing partial line.
func (w *lineLogger) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.emit(string(w.buf))
		w.buf = nil
	}
}

func (w *lineLogger) emit(raw string) {
	l, ok := ParseLogLine(raw)
	if ok {
		w.level, w.ns = l.Level, l.Namespace
	} else if strings.TrimSpace(l.Message) == "" {
		return
	}
	ev := w.log.WithLevel(w.level)
	if ok && l.Namespace != "" {
		ev = ev.Str("ns", l.Namespace)
	} else if !ok && w.ns != "" {
		ev = ev.Str("ns", w.ns)
	}
	ev.Msg(l.Message)
}
