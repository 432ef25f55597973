package translate_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/iot2mqtt/zigbee2mqtt-translator/translate"
)

// reference is the timestamp format the contract's consumers parse, as
// time.Format writes it.
func reference(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000000Z07:00")
}

func TestTimestamp(t *testing.T) {
	berlin := time.FixedZone("CET", 3600)
	tests := []struct {
		in   time.Time
		want string
	}{
		{time.Date(2025, 10, 13, 10, 30, 0, 123456789, time.UTC), "2025-10-13T10:30:00.123456Z"},
		{time.Date(2025, 10, 13, 10, 30, 0, 0, time.UTC), "2025-10-13T10:30:00.000000Z"},
		{time.Date(2026, 1, 1, 0, 30, 5, 999, berlin), "2025-12-31T23:30:05.000000Z"},
		{time.Date(2024, 2, 29, 23, 59, 59, 999999999, time.UTC), "2024-02-29T23:59:59.999999Z"},
		{time.Date(999, 3, 4, 5, 6, 7, 8000, time.UTC), "0999-03-04T05:06:07.000008Z"},
		{time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), "10000-01-01T00:00:00.000000Z"},
		{time.Time{}, "0001-01-01T00:00:00.000000Z"},
	}
	for _, tt := range tests {
		if got := translate.Timestamp(tt.in); got != tt.want {
			t.Errorf("Timestamp(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestTimestamp_MatchesTimeFormat compares the engine's formatter with
// time.Format over instants spread across the four-digit years.
func TestTimestamp_MatchesTimeFormat(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	lo := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	hi := time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix()
	for range 100000 {
		at := time.Unix(lo+r.Int64N(hi-lo+1), r.Int64N(1e9))
		if got, want := translate.Timestamp(at), reference(at); got != want {
			t.Fatalf("Timestamp(%v) = %q, want %q", at, got, want)
		}
	}
}

func BenchmarkTimestamp(b *testing.B) {
	at := time.Date(2025, 10, 13, 10, 30, 0, 123456789, time.UTC)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		_ = translate.Timestamp(at.Add(time.Duration(i) * time.Microsecond))
	}
}
