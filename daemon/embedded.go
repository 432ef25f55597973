package daemon

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	"github.com/iot2mqtt/zigbee2mqtt-translator/translate"
	"github.com/iot2mqtt/zigbee2mqtt-translator/upstream"
	"github.com/rs/zerolog"
)

// embeddedZ2M is the Zigbee2MQTT this container runs: configured from the
// instance JSON before start, supervised while the daemon runs.
type embeddedZ2M struct {
	inst       *upstream.Instance
	log        zerolog.Logger
	sup        *upstream.Supervisor
	permitOnce sync.Once
}

// newEmbedded resolves the network identity, renders, validates and writes
// configuration.yaml. Any problem is returned before Zigbee2MQTT starts.
func newEmbedded(cfg *Config, inst *upstream.Instance, log zerolog.Logger) (*embeddedZ2M, error) {
	installDir, err := upstream.FindInstallDir()
	if err != nil {
		return nil, err
	}
	id, err := upstream.ResolveIdentity(inst.DataDir, inst)
	if err != nil {
		return nil, err
	}
	id.Identity.ApplyTo(inst.Adapter)
	if id.Generated {
		log.Warn().Str("path", id.Path).Msg("generated network identity, stored in the data directory; keep it, changing it orphans every paired device")
	}
	if id.Reset {
		log.Warn().Str("path", id.Path).Msg("reset_network is set: forming the network with the instance's new identity")
	}
	port, _ := strconv.Atoi(cfg.BrokerURL.Port())
	settings := upstream.MQTTSettings{
		Server:   upstream.MQTTServerURL(cfg.BrokerURL.Hostname(), port, cfg.BrokerURL.Scheme == "mqtts"),
		User:     cfg.Username,
		Password: cfg.Password,
		ClientID: cfg.ClientPrefix + "_" + cfg.InstanceName + "_z2m",
		CA:       cfg.CAFile,
	}
	data, err := upstream.Render(inst, settings)
	if err != nil {
		return nil, err
	}
	// Zigbee2MQTT saves device names and groups in configuration.yaml; keep
	// them across restarts.
	if prev, err := upstream.ReadConfig(inst.DataDir); err == nil && len(prev) > 0 {
		if data, err = upstream.KeepRuntimeSections(prev, data); err != nil {
			return nil, err
		}
	}
	if err := upstream.ValidateInstalled(installDir, data); err != nil {
		return nil, err
	}
	if err := upstream.WriteConfig(inst.DataDir, data); err != nil {
		return nil, err
	}
	log.Info().Str("data_dir", inst.DataDir).Str("install", installDir).Str("zigbee2mqtt", upstream.Z2MVersion).
		Str("adapter", inst.Adapter.Type).Str("port", inst.Adapter.Port).Int("channel", inst.Adapter.Channel).
		Msg("zigbee2mqtt configuration written")
	e := &embeddedZ2M{inst: inst, log: log}
	e.sup = &upstream.Supervisor{InstallDir: installDir, DataDir: inst.DataDir, Logger: log}
	return e, nil
}

func (e *embeddedZ2M) running() bool { return e.sup.Running() }

// start launches the supervisor; crash loops are reported through
// publishError as UPSTREAM_CRASH.
func (e *embeddedZ2M) start(ctx context.Context, publishError func(code, msg, severity string)) error {
	e.sup.OnCrash = func(exitErr error, restarts int, loop bool) {
		severity := "warning"
		if loop {
			severity = "error"
		}
		msg := fmt.Sprintf("zigbee2mqtt exited (%v); restart %d", exitErr, restarts)
		if loop {
			msg += ", crash loop"
		}
		publishError("UPSTREAM_CRASH", msg, severity)
	}
	return e.sup.Start(ctx)
}

// bridgeOnline runs whenever Zigbee2MQTT's bridge is online; the first time
// it opens the network for joining when permit_join_seconds is set.
func (e *embeddedZ2M) bridgeOnline(publish func(translate.Message)) {
	if e.inst.PermitJoinSeconds <= 0 {
		return
	}
	e.permitOnce.Do(func() {
		e.log.Info().Int("seconds", e.inst.PermitJoinSeconds).Msg("permitting joins at startup")
		publish(translate.Message{
			Topic:   e.inst.Z2MBaseTopic + "/bridge/request/permit_join",
			Payload: []byte(fmt.Sprintf(`{"time":%d}`, e.inst.PermitJoinSeconds)),
			QoS:     1,
		})
	})
}

// stop stops Zigbee2MQTT: SIGTERM, wait, SIGKILL.
func (e *embeddedZ2M) stop(ctx context.Context) {
	if err := e.sup.Stop(ctx); err != nil {
		e.log.Warn().Err(err).Msg("stopping zigbee2mqtt")
	}
}
