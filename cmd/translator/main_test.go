package main

import (
	"os"
	"path/filepath"
	"testing"
)

// The benchmark switches open their file only when set, and a path that
// cannot be created leaves the daemon running without it.
func TestProfileFile(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, value string
		wantFile    bool
	}{
		{"unset", "", false},
		{"creatable", filepath.Join(dir, "cpu.pprof"), true},
		{"missing directory", filepath.Join(dir, "no", "such", "dir", "cpu.pprof"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("TRANSLATOR_TEST_PROFILE", tt.value)
			f := profileFile("TRANSLATOR_TEST_PROFILE")
			if got := f != nil; got != tt.wantFile {
				t.Fatalf("profileFile with %q: got a file %v, want %v", tt.value, got, tt.wantFile)
			}
			if f != nil {
				f.Close()
				if _, err := os.Stat(tt.value); err != nil {
					t.Errorf("file not created: %v", err)
				}
			}
		})
	}
}
