package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParseDotEnv parses arbitrary `.env` files: errors are fine (a line
// over 1 MiB), panics are not, and every pair is a trimmed key without '='
// or a line break and a value without a line break.
func FuzzParseDotEnv(f *testing.F) {
	for _, s := range []string{
		"",
		"INSTANCE_NAME=zb1\nMQTT_HOST=mqtts://broker.local:8883\n",
		"# comment\n\nexport MQTT_USERNAME = 'user'\nMQTT_PASSWORD=\"p#ss=word\"\r\nLOG_LEVEL=DEBUG # not a comment\n",
		"NO_EQUALS\n=value\nKEY=\nQ='\nQQ=\"'\nK=\"a\"b\"\n",
		"A=$HOME\nB=${A}\nexport\nexport =x\n  spaced key = spaced value  \n",
		"K=\x00\xff\xfe\n\xef\xbb\xbfBOM=1\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), ".env")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := parseDotEnv(path)
		if err != nil {
			return
		}
		for k, v := range got {
			if strings.ContainsAny(k, "=\n") || k != strings.TrimSpace(k) {
				t.Errorf("key %q is not a trimmed name without '=' or a line break", k)
			}
			if strings.Contains(v, "\n") {
				t.Errorf("value of %q spans lines: %q", k, v)
			}
		}
	})
}

// TestParseDotEnv pins the platform's `.env` rules.
func TestParseDotEnv(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want map[string]string
	}{
		{"plain", "A=1\nB=two words\n", map[string]string{"A": "1", "B": "two words"}},
		{"comments and blanks", "# c\n\n  # indented\nA=1\n", map[string]string{"A": "1"}},
		{"one pair of quotes", "A=\"x\"\nB='y'\nC=\"'z'\"\nD=\"unclosed\n", map[string]string{"A": "x", "B": "y", "C": "'z'", "D": "\"unclosed"}},
		{"first equals splits", "P=a=b=c\n", map[string]string{"P": "a=b=c"}},
		{"export and spaces", "export A = 1 \r\n", map[string]string{"A": "1"}},
		{"export with more blanks", "export  A=1\nexport\tB=2\n", map[string]string{"A": "1", "B": "2"}},
		{"export is only a prefix word", "exportC=3\nexport=4\n", map[string]string{"exportC": "3", "export": "4"}},
		{"no expansion", "A=$HOME\n", map[string]string{"A": "$HOME"}},
		{"byte order mark", "\ufeffA=1\n", map[string]string{"A": "1"}},
		{"line without equals", "JUNK\nA=1\n", map[string]string{"A": "1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), ".env")
			if err := os.WriteFile(path, []byte(tc.in), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := parseDotEnv(path)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			for k, want := range tc.want {
				if got[k] != want {
					t.Errorf("%s = %q, want %q", k, got[k], want)
				}
			}
		})
	}
}
