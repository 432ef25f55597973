package upstream_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/iot2mqtt/zigbee2mqtt-translator/upstream"
)

// repoFile returns the path of a file at the repository root.
func repoFile(name string) string { return filepath.Join("..", name) }

func readRepoFile(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(repoFile(name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestDockerfile(t *testing.T) {
	df := readRepoFile(t, "Dockerfile")
	m := regexp.MustCompile(`(?m)^ARG Z2M_VERSION=(\S+)$`).FindStringSubmatch(df)
	if m == nil || m[1] != upstream.Z2MVersion {
		t.Errorf("Dockerfile ARG Z2M_VERSION = %v, want %s (upstream.Z2MVersion)", m, upstream.Z2MVersion)
	}
	node := regexp.MustCompile(`(?m)^FROM node:(\d+)[-.\w]*\s*$`).FindStringSubmatch(df)
	minMajor, _ := strconv.Atoi(strings.Split(upstream.NodeMinVersion, ".")[0])
	if node == nil {
		t.Errorf("no FROM node:<major> runtime stage")
	} else if major, _ := strconv.Atoi(node[1]); major < minMajor {
		t.Errorf("runtime image node:%s is older than Node.js %s", node[1], upstream.NodeMinVersion)
	}
	for _, want := range []struct{ what, re string }{
		{"a Go build stage", `(?m)^FROM golang:\S+ AS build$`},
		{"the translator build with its version", `go build .*-X main\.version=\$\{VERSION\}.*\n?.*\./cmd/translator`},
		{"the pinned Zigbee2MQTT from npm", `npm install --prefix /opt/zigbee2mqtt .*\n?.*"zigbee2mqtt@\$\{Z2M_VERSION\}"`},
		{"the install dir for the daemon", `Z2M_INSTALL_DIR=` + regexp.QuoteMeta(upstream.DefaultInstallDir)},
		{"tini", `apt-get install -y --no-install-recommends tini`},
		{"the binary", `COPY --from=build /out/translator /usr/local/bin/translator`},
		{"the entrypoint", `COPY entrypoint.sh /entrypoint.sh`},
		{"a non-root user", `(?m)^USER node$`},
		{"the health check", `HEALTHCHECK .*\n?.*CMD \["translator", "health"\]`},
		{"tini as PID 1", `(?m)^ENTRYPOINT \["/usr/bin/tini", "--", "/entrypoint.sh"\]$`},
	} {
		if !regexp.MustCompile(want.re).MatchString(df) {
			t.Errorf("Dockerfile lacks %s (/%s/)", want.what, want.re)
		}
	}
	// Everything the build copies from the context exists in the tree.
	for _, m := range regexp.MustCompile(`(?m)^COPY ([^-\s][^\n]*) \S+$`).FindAllStringSubmatch(df, -1) {
		for _, src := range strings.Fields(m[1]) {
			if _, err := os.Stat(repoFile(src)); err != nil {
				t.Errorf("Dockerfile copies %s, which is not in the repository: %v", src, err)
			}
		}
	}
	// The platform builds with the legacy builder.
	if strings.Contains(df, "--mount") {
		t.Error("Dockerfile uses RUN --mount, which the legacy builder rejects")
	}
}

func TestInstallScriptReadsVersionFile(t *testing.T) {
	out, err := exec.Command("sh", "install.sh", "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("install.sh --version: %v\n%s", err, out)
	}
	want := "zigbee2mqtt " + upstream.Z2MVersion + " node>=" + upstream.NodeMinVersion +
		" node-fallback " + upstream.NodeFallbackVersion + "\n"
	if string(out) != want {
		t.Errorf("install.sh --version = %q, want %q", out, want)
	}
	if out, err := exec.Command("sh", "-n", "install.sh").CombinedOutput(); err != nil {
		t.Errorf("install.sh has syntax errors: %s", out)
	}
}

// TestInstallScript runs the real install into a temporary cache (npm
// registry access, ~100 MB). Enable with UPSTREAM_INSTALL_TEST=1.
func TestInstallScript(t *testing.T) {
	if os.Getenv("UPSTREAM_INSTALL_TEST") == "" {
		t.Skip("set UPSTREAM_INSTALL_TEST=1 to run install.sh against the npm registry")
	}
	cache := t.TempDir()
	for run := 1; run <= 2; run++ {
		cmd := exec.Command("sh", "install.sh")
		cmd.Env = append(os.Environ(), "Z2M_CACHE_DIR="+cache)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("run %d: %v\n%s", run, err, out)
		}
		if !strings.Contains(string(out), "zigbee2mqtt "+upstream.Z2MVersion+" installed in "+filepath.Join(cache, "z2m")) {
			t.Errorf("run %d does not say where it installed:\n%s", run, out)
		}
		if run == 2 && !strings.Contains(string(out), "already installed") {
			t.Errorf("second run reinstalled:\n%s", out)
		}
	}
	if _, err := upstream.LoadSchema(upstream.SchemaPath(filepath.Join(cache, "z2m"))); err != nil {
		t.Error(err)
	}
}

func TestEntrypoint(t *testing.T) {
	home := t.TempDir()
	bin := t.TempDir()
	record := filepath.Join(t.TempDir(), "args")
	fake := "#!/bin/sh\nprintf '%s\\n' \"$$\" \"$@\" > \"" + record + "\"\n"
	if err := os.WriteFile(filepath.Join(bin, "translator"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	// The shell writes its own pid before exec'ing the translator: the same
	// pid in the record proves exec replaced it rather than forking.
	cmd := exec.Command("sh", "-c", `echo $$; exec sh "$0" "$@"`, repoFile("entrypoint.sh"), "--log-level", "debug", "two words")
	cmd.Env = append(os.Environ(), "IOT2MQTT_PATH="+home, "PATH="+bin+":"+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("entrypoint.sh: %v\n%s", err, out)
	}
	got, err := os.ReadFile(record)
	if err != nil {
		t.Fatalf("the fake translator did not run: %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(string(got), "\n"), "\n")
	shellPid := strings.TrimSpace(string(out))
	want := []string{shellPid, "run", "--log-level", "debug", "two words"}
	if strings.Join(lines, "|") != strings.Join(want, "|") {
		t.Errorf("translator saw pid and args %q, want %q", lines, want)
	}
	st, err := os.Stat(filepath.Join(home, "data"))
	if err != nil || !st.IsDir() {
		t.Fatalf("data dir not created: %v", err)
	}
	if st.Mode().Perm() != 0o700 {
		t.Errorf("data dir mode = %v, want 0700", st.Mode().Perm())
	}

	// A data path that cannot be a directory is a clear error, and the
	// translator is not started.
	blocked := t.TempDir()
	if err := os.WriteFile(filepath.Join(blocked, "data"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	os.Remove(record)
	cmd = exec.Command("sh", repoFile("entrypoint.sh"))
	cmd.Env = append(os.Environ(), "IOT2MQTT_PATH="+blocked, "PATH="+bin+":"+os.Getenv("PATH"))
	out, err = cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "is not writable") {
		t.Errorf("entrypoint with a blocked data dir: %v, %q; want a clear failure", err, out)
	}
	if _, err := os.Stat(record); err == nil {
		t.Error("translator started although the data dir is unusable")
	}
}
