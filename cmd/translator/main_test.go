package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
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

// translator coordinator refuses a directory of device descriptions it
// cannot use, naming the directory or each file and its problems, before
// it listens on anything.
func TestRunCoordinator_DeviceDirectory(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	bad := filepath.Join(dir, "bad")
	for _, d := range []string{empty, bad} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(bad, "bulb.json"), []byte("{\n  \"model\": \"X\",\n  \"typ\": \"router\"\n}"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, dir, want string
	}{
		{"missing", filepath.Join(dir, "nope"), "device descriptions: stat " + filepath.Join(dir, "nope") + ": no such file or directory"},
		{"empty", empty, "device descriptions: no *.json file in " + empty},
		{"misspelt key", bad, filepath.Join(bad, "bulb.json") + `:3:3: unknown field "typ"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut strings.Builder
			err := runCoordinator(context.Background(), []string{"-devices", tt.dir, "-listen", "127.0.0.1:0", "-control", "127.0.0.1:0", "-state", filepath.Join(dir, "state.json")}, &out, &errOut)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
			if out.Len() > 0 {
				t.Errorf("it started anyway: %s", out.String())
			}
		})
	}
}
