package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/iot2mqtt/zigbee2mqtt-translator/internal/replay"
	"github.com/iot2mqtt/zigbee2mqtt-translator/transport"
)

// runRecord records live traffic into DIR/input.jsonl.
func runRecord(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("record")
	brokerFlag := fs.String("broker", "mqtt://127.0.0.1:1883", "broker URL (mqtt:// or mqtts://)")
	user := fs.String("username", os.Getenv("MQTT_USERNAME"), "broker user name")
	pass := fs.String("password", os.Getenv("MQTT_PASSWORD"), "broker password (default $MQTT_PASSWORD)")
	z2mTopic := fs.String("z2m-topic", "zigbee2mqtt", "Zigbee2MQTT base topic")
	commands := fs.String("commands", "", "also record IoT2MQTT commands under this base topic (e.g. IoT2mqtt)")
	duration := fs.Duration("duration", 0, "stop after this long (default: until Ctrl-C)")
	anonymize := fs.Bool("anonymize", false, "rewrite IEEE addresses and friendly names to stable fake ones")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError{"record needs one fixture directory"}
	}
	dir := fs.Arg(0)
	u, err := url.Parse(*brokerFlag)
	if err != nil || u.Host == "" {
		return usageError{fmt.Sprintf("-broker %q is not a URL like mqtt://host:1883", *brokerFlag)}
	}
	rec := &recorder{start: time.Now()}
	// Zigbee2MQTT's cluster catalogue (about 200 KB, retained) is left out:
	// the translator never reads it.
	skip := *z2mTopic + "/bridge/definitions"
	cli, err := transport.Dial(ctx, u, fmt.Sprintf("translator-record-%d", os.Getpid()), *user, *pass, func(p transport.Message) {
		if p.Topic != skip {
			rec.add(p.Topic, p.Payload, p.QoS, p.Retain)
		}
	})
	if err != nil {
		return fmt.Errorf("record: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	subs := []transport.Filter{{Topic: *z2mTopic + "/#", QoS: 1, RetainAsPublished: true}}
	if *commands != "" {
		for _, f := range []string{"devices/+/cmd", "devices/+/get", "groups/+/cmd", "meta/request/+"} {
			subs = append(subs, transport.Filter{Topic: *commands + "/v1/instances/+/" + f, QoS: 1, RetainAsPublished: true})
		}
	}
	if err := cli.Subscribe(cctx, subs...); err != nil {
		return fmt.Errorf("record: subscribe: %w", err)
	}
	fmt.Fprintf(stderr, "recording %s/# from %s", *z2mTopic, u.Redacted())
	if *duration > 0 {
		fmt.Fprintf(stderr, " for %s", *duration)
	}
	fmt.Fprintln(stderr, "; Ctrl-C to stop")
	var wait <-chan time.Time
	if *duration > 0 {
		wait = time.After(*duration)
	}
	select {
	case <-ctx.Done():
	case <-wait:
	}
	_ = cli.Close()

	lines := rec.lines()
	replay.Redact(lines)
	if *anonymize {
		replay.Anonymize(lines, *z2mTopic)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("record: %w", err)
	}
	path := filepath.Join(dir, "input.jsonl")
	if err := replay.WriteLines(path, lines); err != nil {
		return fmt.Errorf("record: %w", err)
	}
	fmt.Fprintf(stdout, "wrote %d messages to %s\nnext: translator replay -update %s, then review expected.jsonl\n", len(lines), path, dir)
	return nil
}

// recorder collects messages with their time offsets.
type recorder struct {
	mu    sync.Mutex
	start time.Time
	got   []replay.Line
}

func (r *recorder) add(topic string, payload []byte, qos byte, retain bool) {
	l := replay.Line{Topic: topic, QoS: qos, Retain: retain}
	l.T = float64(time.Since(r.start).Milliseconds()) / 1000
	l.SetPayload(payload)
	r.mu.Lock()
	r.got = append(r.got, l)
	r.mu.Unlock()
}

func (r *recorder) lines() []replay.Line {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]replay.Line(nil), r.got...)
}
