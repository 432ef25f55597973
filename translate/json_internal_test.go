package translate

import "testing"

func TestIsJSONObject(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{`{}`, true},
		{`{"state":"ON"}`, true},
		{" \t\r\n{\"a\":[1]} ", true},
		{`[]`, false},
		{`"{}"`, false},
		{`1`, false},
		{`null`, false},
		{`{"state":"ON",`, false},
		{`{} {}`, false},
		{``, false},
		{`   `, false},
	} {
		if got := isJSONObject([]byte(tc.in)); got != tc.want {
			t.Errorf("isJSONObject(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
