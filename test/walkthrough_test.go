package test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// step is one command block of a documentation page that the test runs.
type step struct {
	line     int    // of the block in the page
	script   string // the block's shell text
	exitCode int    // expected exit status
	output   []string
}

// docSteps reads the blocks of a page marked `<!-- run -->` (or
// `<!-- run: exit N -->`), each with the lines of an `<!-- output -->`
// block that follows it, which its output must contain.
func docSteps(t *testing.T, path string) []step {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var steps []step
	var cur *step
	mode := "" // "run" or "output": the marker seen; the next fence opens its block
	inBlock := false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case inBlock && line == "```":
			inBlock, mode = false, ""
		case inBlock && mode == "run":
			cur.script += line + "\n"
		case inBlock && mode == "output":
			if strings.TrimSpace(line) != "" {
				cur.output = append(cur.output, line)
			}
		case strings.HasPrefix(line, "<!-- run"):
			steps = append(steps, step{line: n})
			cur, mode = &steps[len(steps)-1], "run"
			if code, ok := strings.CutPrefix(strings.TrimSuffix(line, " -->"), "<!-- run: exit "); ok {
				cur.exitCode, _ = strconv.Atoi(code)
			}
		case line == "<!-- output -->":
			if cur == nil {
				t.Fatalf("%s:%d: output block before any run block", path, n)
			}
			mode = "output"
		case mode != "" && strings.HasPrefix(line, "```"):
			inBlock = true
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return steps
}

// TestWalkthrough runs docs/walkthrough.md in a scratch copy of
// docs/walkthrough, with the translator built from this checkout on PATH.
func TestWalkthrough(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the translator")
	}
	bin := t.TempDir()
	if out, err := exec.Command("go", "build", "-o", filepath.Join(bin, "translator"), "../cmd/translator").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	work := filepath.Join(t.TempDir(), "walkthrough")
	if out, err := exec.Command("cp", "-r", "../docs/walkthrough", work).CombinedOutput(); err != nil {
		t.Fatalf("copy: %v\n%s", err, out)
	}
	steps := docSteps(t, "../docs/walkthrough.md")
	if len(steps) < 5 {
		t.Fatalf("found %d runnable steps in the walkthrough, want at least 5", len(steps))
	}
	for _, s := range steps {
		cmd := exec.Command("bash", "-eo", "pipefail", "-c", s.script)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "MAPPINGS_DIR=", "IOT2MQTT_PATH="+work)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("walkthrough.md:%d: %v", s.line, err)
		}
		if code != s.exitCode {
			t.Fatalf("walkthrough.md:%d: exit %d, want %d\n%s\n%s", s.line, code, s.exitCode, s.script, out)
		}
		for _, want := range s.output {
			if !strings.Contains(string(out), want) {
				t.Errorf("walkthrough.md:%d: output lacks %q:\n%s", s.line, want, out)
			}
		}
	}
}
