package daemon

import (
	"io"
	"time"

	"github.com/rs/zerolog"
)

var logLevels = map[string]zerolog.Level{
	"DEBUG": zerolog.DebugLevel, "INFO": zerolog.InfoLevel, "WARNING": zerolog.WarnLevel, "WARN": zerolog.WarnLevel,
	"ERROR": zerolog.ErrorLevel, "CRITICAL": zerolog.FatalLevel,
}

// levelWords spell out levels the way the platform's log viewer matches
// them ("warning", "error", …).
var levelWords = map[string]string{"debug": "debug   ", "info": "info    ", "warn": "warning ", "error": "error   ", "fatal": "critical", "trace": "trace   "}

// NewLogger builds the root logger for LOG_LEVEL and LOG_FORMAT. Console lines keep the level word so
// the platform's log viewer can tag them.
func NewLogger(w io.Writer, level, format string) zerolog.Logger {
	lvl, ok := logLevels[level]
	if !ok {
		lvl = zerolog.InfoLevel
	}
	if format == "json" {
		return zerolog.New(w).Level(lvl).With().Timestamp().Logger()
	}
	cw := zerolog.ConsoleWriter{Out: w, NoColor: true, TimeFormat: time.RFC3339, FormatLevel: func(i any) string {
		s, _ := i.(string)
		return levelWords[s]
	}}
	return zerolog.New(cw).Level(lvl).With().Timestamp().Logger()
}
