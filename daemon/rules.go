package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/iot2mqtt/zigbee2mqtt-translator/mapping"
	"github.com/iot2mqtt/zigbee2mqtt-translator/mappings"
)

// loadRules compiles the three layers: the built-in generic layer, the
// pack (dir, or the embedded default pack when dir does not exist) and the
// instance JSON's `mappings` list. source says where the pack came from.
func loadRules(dir string, instanceMappings []byte, instancePath string) (set *mapping.Set, source string, err error) {
	files := []mapping.File{mapping.GenericFile()}
	var pack []mapping.File
	if st, statErr := os.Stat(dir); statErr == nil && st.IsDir() {
		pack, err = mapping.LoadFS(os.DirFS(dir), "*.yaml", mapping.LayerPack, dir)
		source = dir
	} else if statErr != nil && !errors.Is(statErr, fs.ErrNotExist) {
		return nil, "", fmt.Errorf("mappings directory: %w", statErr)
	} else {
		pack, err = mapping.LoadFS(mappings.Files, "*.yaml", mapping.LayerPack, "builtin:mappings")
		source = "built-in default pack"
	}
	if err != nil {
		return nil, "", err
	}
	files = append(files, pack...)
	if len(instanceMappings) > 0 {
		files = append(files, mapping.File{Name: instancePath + ":mappings", Data: instanceMappings, Layer: mapping.LayerInstance})
	}
	set, err = mapping.Compile(files)
	if err != nil {
		return nil, "", err
	}
	return set, source, nil
}
