package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/iot2mqtt/zigbee2mqtt-translator/daemon"
)

// defaultGCPercent replaces Go's GOGC=100 for the daemon unless GOGC is
// set: the heap may grow to 1.5× the live data instead of 2×, which keeps
// the resident memory small on gateways for a few percent more CPU.
const defaultGCPercent = 50

// defaultProcs replaces Go's GOMAXPROCS (one per CPU) for the daemon unless
// GOMAXPROCS is set. The engine is one goroutine; with a P per core, each
// message handed from the MQTT reader to the engine wakes a thread on
// another core. The other cores stay free for the broker and Zigbee2MQTT.
const defaultProcs = 1

// runDaemon is `translator run`: the daemon, configured by the environment.
func runDaemon(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(defaultProcs)
	}
	fs := newFlagSet("run")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	cfg, notes, err := daemon.LoadConfig()
	if err != nil {
		fmt.Fprintf(stderr, "ERROR configuration is invalid:\n%v\n", err)
		return exitError{code: 2}
	}
	cfg.Version = version
	log := daemon.NewLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	for _, n := range notes {
		log.Info().Msg(n)
	}
	d, err := daemon.New(cfg, log)
	if err != nil {
		log.Error().Msg(strings.ReplaceAll(err.Error(), "\n", "; "))
		return exitError{code: 2}
	}
	return d.Run(ctx)
}
