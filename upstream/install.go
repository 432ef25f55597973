package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// InstallDirEnv names the environment variable that points at a Zigbee2MQTT
// install directory (an npm prefix containing node_modules/zigbee2mqtt).
const InstallDirEnv = "Z2M_INSTALL_DIR"

// DefaultInstallDir is where the container image installs Zigbee2MQTT.
const DefaultInstallDir = "/opt/zigbee2mqtt"

// EntryRelPath is Zigbee2MQTT's start script inside an install directory.
const EntryRelPath = "node_modules/zigbee2mqtt/index.js"

// nodeFile is written by install.sh next to node_modules: the path of the
// Node.js binary to run Zigbee2MQTT with.
const nodeFile = ".node"

// FindInstallDir locates a Zigbee2MQTT install: $Z2M_INSTALL_DIR if set,
// else DefaultInstallDir, else .cache/z2m in the working directory or any
// parent (where install.sh puts it in a checkout).
func FindInstallDir() (string, error) {
	if dir := os.Getenv(InstallDirEnv); dir != "" {
		if !installed(dir) {
			return "", fmt.Errorf("find zigbee2mqtt: %s=%s has no %s", InstallDirEnv, dir, EntryRelPath)
		}
		return dir, nil
	}
	if installed(DefaultInstallDir) {
		return DefaultInstallDir, nil
	}
	if dir := findUp(filepath.Join(".cache", "z2m"), installed); dir != "" {
		return dir, nil
	}
	return "", errors.New("find zigbee2mqtt: not installed (run upstream/install.sh or set " + InstallDirEnv + ")")
}

// findUp returns rel joined to the working directory or its nearest parent
// for which ok holds, or "".
func findUp(rel string, ok func(path string) bool) string {
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if p := filepath.Join(dir, rel); ok(p) {
			return p
		}
		if filepath.Dir(dir) == dir {
			return ""
		}
	}
}

// Install finds the pinned Zigbee2MQTT and, when it is missing, installs it
// with the checkout's upstream/install.sh, whose output goes to w. It fails,
// saying why, where it cannot: outside a checkout, or without Node.js and
// npm.
func Install(ctx context.Context, w io.Writer) (string, error) {
	if dir, err := FindInstallDir(); err == nil {
		return dir, nil
	}
	script := findUp(filepath.Join("upstream", "install.sh"), func(p string) bool { _, err := os.Stat(p); return err == nil })
	if script == "" {
		return "", fmt.Errorf("Zigbee2MQTT %s is not installed: run from a checkout (upstream/install.sh installs it), or set %s", Z2MVersion, InstallDirEnv)
	}
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			return "", fmt.Errorf("Zigbee2MQTT %s is not installed, and installing it needs Node.js and npm: %s is not on PATH", Z2MVersion, tool)
		}
	}
	fmt.Fprintf(w, "installing Zigbee2MQTT %s from npm into .cache/z2m (once; a minute or two)\n", Z2MVersion)
	cmd := exec.CommandContext(ctx, "sh", script)
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("install Zigbee2MQTT: %w", err)
	}
	return FindInstallDir()
}

func installed(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, filepath.FromSlash(EntryRelPath)))
	return err == nil
}

// NodeBinary returns the Node.js to run the install in dir with: the one
// install.sh recorded (when it installed a newer Node.js than the system's),
// else "node" from PATH.
func NodeBinary(installDir string) string {
	data, err := os.ReadFile(filepath.Join(installDir, nodeFile))
	if err != nil {
		return "node"
	}
	p := strings.TrimSpace(string(data))
	if st, err := os.Stat(p); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return "node"
	}
	return p
}

// DefaultCommand is the argv that starts the Zigbee2MQTT installed in dir.
func DefaultCommand(installDir string) []string {
	return []string{NodeBinary(installDir), filepath.Join(installDir, filepath.FromSlash(EntryRelPath))}
}
