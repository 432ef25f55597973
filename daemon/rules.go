package daemon

import "github.com/iot2mqtt/zigbee2mqtt-translator/internal/ruleset"

// loadRules compiles the layered rule set (see internal/ruleset): the
// built-in generic layer and pack, the integrator's files in
// cfg.MappingsDir, then the instance JSON's `mappings`.
func loadRules(cfg *Config, instanceMappings []byte) (*ruleset.Loaded, error) {
	return ruleset.Load(ruleset.Sources{
		Dir:          cfg.MappingsDir,
		ReplacePack:  cfg.ReplacePack,
		Instance:     instanceMappings,
		InstancePath: cfg.InstancePath(),
	})
}
