// Package wiring converts the decoded instance JSON into the engine's
// configuration, so the daemon and the replay runner build engines alike.
package wiring

import (
	"time"

	"github.com/iot2mqtt/zigbee2mqtt-translator/translate"
	"github.com/iot2mqtt/zigbee2mqtt-translator/upstream"
)

// EngineConfig fills the instance-derived fields of an engine
// configuration: Zigbee2MQTT base topic, connector type, key topics,
// command timeouts, device overrides and fan-out groups. The caller sets
// the broker-side fields (base topic, instance id, QoS, retain, version).
func EngineConfig(inst *upstream.Instance, cfg translate.Config) translate.Config {
	cfg.ConnectorType = inst.ConnectorType
	cfg.Z2MBaseTopic = inst.Z2MBaseTopic
	cfg.StateKeyTopics = inst.StateKeyTopics
	cfg.CommandTimeout = time.Duration(inst.CommandTimeoutMS) * time.Millisecond
	cfg.SleepyCommandTimeout = time.Duration(inst.SleepyCommandTimeoutMS) * time.Millisecond
	cfg.Overrides = map[string]translate.Override{}
	for _, o := range inst.Devices {
		cfg.Overrides[o.IEEE] = translate.Override{DeviceID: o.DeviceID, FriendlyName: o.FriendlyName, Enabled: o.Enabled, Model: o.Model}
	}
	cfg.Groups = nil
	for _, g := range inst.Groups {
		cfg.Groups = append(cfg.Groups, translate.Group{ID: g.GroupID, Devices: g.Devices})
	}
	return cfg
}
