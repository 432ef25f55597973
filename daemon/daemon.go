// Package daemon is the translator's run loop: it loads the configuration
// and the rules, starts the MQTT transport, the engine and (in embedded
// mode) the Zigbee2MQTT supervisor, serves /health and /metrics, and moves
// messages between the transport and the engine on one goroutine.
package daemon

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/iot2mqtt/zigbee2mqtt-translator/internal/ruleset"
	"github.com/iot2mqtt/zigbee2mqtt-translator/internal/wiring"
	"github.com/iot2mqtt/zigbee2mqtt-translator/mapping"
	"github.com/iot2mqtt/zigbee2mqtt-translator/translate"
	"github.com/iot2mqtt/zigbee2mqtt-translator/transport"
	"github.com/iot2mqtt/zigbee2mqtt-translator/upstream"
	"github.com/rs/zerolog"
)

// devicesWatchDelay is how long after connecting the daemon waits for
// Zigbee2MQTT's retained device list before it warns.
const devicesWatchDelay = 15 * time.Second

// devicesRecheckDelay is how often the device list is looked for again while
// it is still missing.
const devicesRecheckDelay = time.Minute

// recoveryInterval bounds how often Zigbee2MQTT is restarted to recover a lost
// device list: a restart interrupts the Zigbee network for a few seconds.
const recoveryInterval = 10 * time.Minute

// maxBurst is how many messages the engine takes in a row before it looks
// at timers, control requests and signals again.
const maxBurst = 4096

// shutdownBudget bounds the graceful shutdown after SIGTERM/SIGINT.
const shutdownBudget = 10 * time.Second

// Daemon is the running translator: configuration, engine, MQTT transport
// and (in embedded mode) the Zigbee2MQTT supervisor.
type Daemon struct {
	cfg      *Config
	inst     *upstream.Instance
	log      zerolog.Logger
	engine   *translate.Engine
	mqtt     *transport.Transport
	health   *upstream.Health
	embedded *embeddedZ2M // nil in translator-only mode
	control  chan func()  // work to run on the engine goroutine
	started  time.Time
	metrics  *metrics.Set                 // the daemon's own metrics
	latency  *metrics.PrometheusHistogram // translation latency, in metrics
	result   translate.Result             // reused by handle: engine goroutine only
	rules    string                       // which files each rule layer held at startup
}

// Rules returns the rule set loaded by New (immutable). Call it before Run.
func (d *Daemon) Rules() *mapping.Set { return d.engine.Rules() }

// RulesSummary says which files each mapping rule layer held at startup.
func (d *Daemon) RulesSummary() string { return d.rules }

// New loads the instance JSON and the mapping rules and prepares the
// daemon; in embedded mode it also writes Zigbee2MQTT's configuration.
// Every problem is returned before anything starts.
func New(cfg *Config, log zerolog.Logger) (*Daemon, error) {
	inst, err := upstream.LoadInstance(cfg.InstancePath(), cfg.InstanceName, cfg.Home)
	if err != nil {
		return nil, fmt.Errorf("instance configuration is invalid: %w", err)
	}
	loaded, err := loadRules(cfg, inst.Mappings)
	if err != nil {
		return nil, fmt.Errorf("mapping rules are invalid:\n%w", err)
	}
	rules := loaded.Set
	if loaded.PackReplaced {
		log.Warn().Str("dir", cfg.MappingsDir).Msg("MAPPINGS_REPLACE_PACK is set: the built-in mapping pack is left out, only the custom files apply")
	}
	summary := loaded.Summary()
	log.Info().Str("layers", summary).Int("blocks", len(rules.Blocks())).Msg("mapping rules loaded")

	started := time.Now()
	mode, pinned := "translator-only", ""
	if inst.Embedded() {
		mode, pinned = "embedded", upstream.Z2MVersion
	}
	engine := translate.New(wiring.EngineConfig(inst, translate.Config{
		BaseTopic:   cfg.BaseTopic,
		InstanceID:  cfg.InstanceName,
		QoS:         cfg.QoS,
		RetainState: cfg.Retain,
		Version:     cfg.Version,
		Mode:        mode,
		Z2MVersion:  pinned,
		StartedAt:   started,
	}), rules)
	d := &Daemon{cfg: cfg, inst: inst, log: log, engine: engine, control: make(chan func(), 16), started: started}
	d.metrics, d.latency = newLatency()
	d.rules = summary
	d.mqtt = transport.New(transport.Config{
		BrokerURL:          cfg.BrokerURL,
		ClientID:           cfg.ClientID(),
		Username:           cfg.Username,
		Password:           cfg.Password,
		CAFile:             cfg.CAFile,
		KeepAlive:          cfg.KeepAlive,
		SessionExpiry:      cfg.SessionExpiry,
		StatusTopic:        engine.StatusTopic(),
		Subscriptions:      engine.Subscriptions(),
		SweepSubscriptions: engine.SweepSubscriptions(),
		InboundBufferBytes: cfg.InboundBufferBytes,
		Keep:               keepTopic,
		Log:                log.With().Str("component", "mqtt").Logger(),
	})
	for _, note := range inst.Notes {
		log.Warn().Str("instance", cfg.InstancePath()).Msg(note)
	}
	if inst.Embedded() {
		d.embedded, err = newEmbedded(cfg, inst, log.With().Str("component", "upstream").Logger())
		if err != nil {
			return nil, err
		}
		d.health = upstream.NewHealth(d.embedded.running)
	} else {
		log.Info().Str("zigbee2mqtt_base_topic", inst.Z2MBaseTopic).Msg("translator-only mode: no serial_port in the instance JSON, so no Zigbee2MQTT is started; translating for a Zigbee2MQTT elsewhere on the broker")
		d.health = upstream.NewHealth(nil)
	}
	return d, nil
}

// Run runs the daemon until ctx ends, then shuts down gracefully: the
// retained status goes offline and Zigbee2MQTT is stopped.
func (d *Daemon) Run(ctx context.Context) error {
	log := d.log
	log.Info().Str("version", d.cfg.Version).Str("instance", d.cfg.InstanceName).Str("broker", d.cfg.BrokerURL.Redacted()).
		Str("base_topic", d.cfg.BaseTopic).Msg("translator starting")

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	runCtx, cancelRun := context.WithCancel(context.Background())
	defer cancelRun()
	if err := d.mqtt.Start(runCtx); err != nil {
		return err
	}
	httpSrv, err := d.startHTTP()
	if err != nil {
		return err
	}
	if d.embedded != nil {
		if err := d.embedded.start(runCtx, d.publishError); err != nil {
			return err
		}
	}

	engineDone := make(chan struct{})
	go func() {
		defer close(engineDone)
		d.loop(runCtx, hup)
	}()

	<-ctx.Done()
	log.Info().Msg("signal received, shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownBudget)
	defer cancel()
	cancelEngine := make(chan struct{})
	d.control <- func() { close(cancelEngine) }
	select {
	case <-cancelEngine:
	case <-time.After(2 * time.Second):
	}
	d.mqtt.Shutdown(shutdownCtx)
	if d.embedded != nil {
		d.embedded.stop(shutdownCtx)
	}
	if httpSrv != nil {
		_ = httpSrv.Shutdown(shutdownCtx)
	}
	cancelRun()
	<-engineDone
	log.Info().Msg("translator stopped")
	return nil
}

// loop is the engine goroutine: it alone touches the engine.
func (d *Daemon) loop(ctx context.Context, hup <-chan os.Signal) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var sweepDone <-chan time.Time
	// devices.timer fires when no bridge/devices arrived after a connect: the
	// retained list is gone (a broker restarted without persistence) and
	// Zigbee2MQTT republishes it only when it restarts or its devices change.
	var devices deviceListWatch
	sweeping := true
	resetTimer := func() {
		if dl, ok := d.engine.NextDeadline(); ok {
			timer.Reset(max(time.Until(dl), time.Millisecond))
		} else {
			timer.Reset(time.Hour)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.mqtt.Ready():
			// Drain a burst (bounded, so timers and control still run).
			for i := 0; i < maxBurst; i++ {
				msg, ok := d.mqtt.Next()
				if !ok {
					break
				}
				d.handle(ctx, translate.Message(msg))
			}
			d.mqtt.Rearm()
			if sweeping && sweepDone == nil && d.engine.DevicesKnown() {
				sweepDone = time.After(5 * time.Second)
			}
			d.health.SetBridgeState(bridgeState(d.engine))
			if d.embedded != nil && d.engine.BridgeOnline() {
				d.embedded.bridgeOnline(func(m translate.Message) { d.publish(ctx, m) })
			}
			resetTimer()
		case <-timer.C:
			d.apply(ctx, d.engine.Tick(time.Now()))
			resetTimer()
		case <-devices.timer:
			devices.timer = nil
			if !d.engine.DevicesKnown() {
				d.noDeviceList(ctx, &devices)
				if d.inst.RecoverDeviceList {
					devices.timer = time.After(devicesRecheckDelay)
				}
			}
		case <-sweepDone:
			sweeping, sweepDone = false, nil
			go d.mqtt.Unsubscribe(ctx, d.engine.SweepSubscriptions())
		case ev := <-d.mqtt.Events():
			d.health.SetMQTTConnected(ev.Up)
			if !ev.Up {
				continue
			}
			if !d.engine.DevicesKnown() {
				devices.timer, devices.reported = time.After(devicesWatchDelay), false
			}
			if ev.Reconnect {
				d.log.Info().Msg("reconnected; republishing retained state")
				d.apply(ctx, d.engine.Republish(time.Now()))
			} else {
				d.apply(ctx, d.engine.Startup(time.Now()))
			}
		case <-hup:
			d.reload("SIGHUP")
		case f := <-d.control:
			f()
		}
	}
}

// deviceListWatch tracks a missing bridge/devices across checks.
type deviceListWatch struct {
	timer       <-chan time.Time
	reported    bool      // NO_DEVICE_LIST was reported since the last connect
	lastRestart time.Time // last bridge/request/restart sent to recover the list
}

// noDeviceList reports a missing bridge/devices once per connection and, when
// the instance allows it and Zigbee2MQTT is up, asks Zigbee2MQTT to restart:
// it publishes its device list on start and otherwise only when the network
// changes.
func (d *Daemon) noDeviceList(ctx context.Context, w *deviceListWatch) {
	topic := d.inst.Z2MBaseTopic + "/bridge/devices"
	if d.inst.RecoverDeviceList && d.engine.BridgeOnline() &&
		(w.lastRestart.IsZero() || time.Since(w.lastRestart) >= recoveryInterval) {
		w.lastRestart, w.reported = time.Now(), true
		request := d.inst.Z2MBaseTopic + "/bridge/request/restart"
		d.log.Warn().Str("topic", topic).Str("request", request).
			Msg("no device list from zigbee2mqtt although its bridge is online: the retained bridge/devices is missing (was the broker restarted without persistence?); requesting a zigbee2mqtt restart so it publishes the list again")
		d.publishError("NO_DEVICE_LIST", "no retained "+topic+" on the broker; requested a zigbee2mqtt restart ("+request+") to recover it", "warning")
		d.publish(ctx, translate.Message{Topic: request, QoS: 1,
			Payload: []byte(`{"transaction":"translator-recover-device-list-` + strconv.FormatInt(w.lastRestart.Unix(), 10) + `"}`)})
		return
	}
	if w.reported {
		return
	}
	w.reported = true
	d.log.Warn().Str("topic", topic).
		Msg("no device list from zigbee2mqtt yet: the retained bridge/devices is missing (was the broker restarted without persistence?); devices appear once zigbee2mqtt publishes it, e.g. after it restarts")
	d.publishError("NO_DEVICE_LIST", "no retained "+topic+" on the broker; waiting for zigbee2mqtt to publish it", "warning")
}

// handle translates one message, publishes the result and records latency.
func (d *Daemon) handle(ctx context.Context, msg translate.Message) {
	now := time.Now()
	res := &d.result
	d.engine.HandleInto(res, msg, now)
	d.apply(ctx, *res)
	d.latency.Update(time.Since(now).Seconds())
	for _, req := range res.Requests {
		if req == "reload" {
			d.reload("meta/request/reload")
		}
	}
}

func bridgeState(e *translate.Engine) string {
	if e.BridgeOnline() {
		return "online"
	}
	return "offline"
}

// apply publishes a result and logs its diagnostics.
func (d *Daemon) apply(ctx context.Context, res translate.Result) {
	for _, m := range res.Publish {
		d.publish(ctx, m)
	}
	for _, diag := range res.Diagnostics {
		ev := d.log.WithLevel(levelOf(diag.Level))
		if diag.Topic != "" {
			ev = ev.Str("topic", diag.Topic)
		}
		if diag.DeviceID != "" {
			ev = ev.Str("device_id", diag.DeviceID)
		}
		if diag.Detail != "" {
			ev = ev.Str("detail", diag.Detail)
		}
		ev.Msg(diag.Msg)
	}
}

func levelOf(s string) zerolog.Level {
	switch s {
	case "debug":
		return zerolog.DebugLevel
	case "warn":
		return zerolog.WarnLevel
	case "error":
		return zerolog.ErrorLevel
	}
	return zerolog.InfoLevel
}

// reload recompiles the mapping rules and, when the devices are known,
// checks them against the devices' exposes. On any error the old rules
// stay, and the errors are logged and published as RELOAD_FAILED. It runs
// on the engine goroutine.
func (d *Daemon) reload(trigger string) {
	inst, err := upstream.LoadInstance(d.cfg.InstancePath(), d.cfg.InstanceName, d.cfg.Home)
	var loaded *ruleset.Loaded
	if err == nil {
		loaded, err = loadRules(d.cfg, inst.Mappings)
	}
	if err == nil && d.engine.DevicesKnown() {
		err = deviceErrors(mapping.Check(loaded.Set, d.engine.Devices()))
	}
	if err != nil {
		d.log.Error().Str("trigger", trigger).Msg("reload failed; keeping the previous rules: " + strings.ReplaceAll(err.Error(), "\n", "; "))
		d.publishError("RELOAD_FAILED", "reload failed; keeping the previous rules: "+err.Error(), "error")
		return
	}
	d.apply(context.Background(), d.engine.SetRules(loaded.Set, time.Now()))
	d.log.Info().Str("trigger", trigger).Str("layers", loaded.Summary()).Int("blocks", len(loaded.Set.Blocks())).Msg("mapping rules reloaded")
}

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

// deviceErrors is the error-level findings of checking rules against the
// known devices, one per line, or nil.
func deviceErrors(findings []mapping.Finding) error {
	var lines []string
	for _, f := range findings {
		if f.Level == "error" {
			lines = append(lines, f.String())
		}
	}
	if len(lines) == 0 {
		return nil
	}
	return fmt.Errorf("the rules do not fit the known devices:\n%s", strings.Join(lines, "\n"))
}

// publishError publishes an instance-level error {timestamp, error_code,
// message, severity}. It is safe from any goroutine.
func (d *Daemon) publishError(code, msg, severity string) {
	d.publish(context.Background(), d.engine.InstanceError(code, msg, severity, time.Now()))
}

// publish hands one of the engine's messages to the transport.
func (d *Daemon) publish(ctx context.Context, m translate.Message) {
	d.mqtt.Publish(ctx, transport.Message(m))
}

// keepTopic exempts Zigbee2MQTT bridge topics and IoT2MQTT requests from
// the inbound queue's shedding: only device traffic is shed under a flood.
func keepTopic(topic string) bool {
	return strings.Contains(topic, "/bridge/") || strings.Contains(topic, "/v1/instances/")
}
