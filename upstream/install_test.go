package upstream_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iot2mqtt/zigbee2mqtt-translator/upstream"
)

// TestInstall covers what Install decides before it would run npm: an
// existing install is used as it is, and where it cannot install it says
// why without running anything.
func TestInstall(t *testing.T) {
	if _, err := os.Stat(upstream.DefaultInstallDir); err == nil {
		t.Skipf("%s exists on this machine", upstream.DefaultInstallDir)
	}
	tests := []struct {
		name    string
		layout  []string // files to create under the working directory
		path    string   // PATH
		wantDir string   // relative to the working directory; "" for an error
		wantErr string
	}{
		{"installed in .cache/z2m", []string{".cache/z2m/" + upstream.EntryRelPath, "upstream/install.sh"}, "", ".cache/z2m", ""},
		{"not a checkout", nil, os.Getenv("PATH"), "", "run from a checkout"},
		{"no Node.js", []string{"upstream/install.sh"}, "", "", "needs Node.js and npm: node is not on PATH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wd := t.TempDir()
			for _, f := range tt.layout {
				p := filepath.Join(wd, filepath.FromSlash(f))
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte("exit 1\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			t.Chdir(wd)
			t.Setenv(upstream.InstallDirEnv, "")
			t.Setenv("PATH", tt.path)
			var out bytes.Buffer
			dir, err := upstream.Install(context.Background(), &out)
			switch {
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("Install = %q, %v; want an error containing %q", dir, err, tt.wantErr)
				}
				if out.Len() > 0 {
					t.Errorf("Install ran something: %s", out.String())
				}
			case err != nil || dir != filepath.Join(wd, tt.wantDir):
				t.Errorf("Install = %q, %v; want %q", dir, err, filepath.Join(wd, tt.wantDir))
			}
		})
	}
}
