package upstream

import (
	"errors"
	"fmt"
	"os"
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
	candidates := []string{DefaultInstallDir}
	if wd, err := os.Getwd(); err == nil {
		for dir := wd; ; dir = filepath.Dir(dir) {
			candidates = append(candidates, filepath.Join(dir, ".cache", "z2m"))
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	for _, dir := range candidates {
		if installed(dir) {
			return dir, nil
		}
	}
	return "", errors.New("find zigbee2mqtt: not installed (run upstream/install.sh or set " + InstallDirEnv + ")")
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
