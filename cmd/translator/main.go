// Command translator runs the IoT2MQTT wrapper for Zigbee2MQTT: it
// configures and supervises an embedded Zigbee2MQTT (or translates for one
// elsewhere on the broker) and translates between the two MQTT contracts.
//
// Usage:
//
//	translator [run]            run the daemon (the default)
//	translator check [files…]   validate mapping files
//	translator replay DIR…      replay recorded fixtures
//	translator record DIR       record live traffic into a fixture
//	translator sandbox          broker, simulated Zigbee2MQTT and translator
//	translator health           exit 0 when the running daemon is healthy
//	translator version          print the version
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"runtime/trace"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// usageError is a command-line mistake; main prints usage for it.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// exitError carries a specific exit code.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	if f := profileFile("TRANSLATOR_CPUPROFILE"); f != nil {
		_ = pprof.StartCPUProfile(f)
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	if f := profileFile("TRANSLATOR_TRACE"); f != nil {
		_ = trace.Start(f)
		defer func() { trace.Stop(); f.Close() }()
	}
	err := Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if f := profileFile("TRANSLATOR_MEMPROFILE"); f != nil {
		_ = pprof.Lookup("allocs").WriteTo(f, 0)
		f.Close()
	}
	var ue usageError
	var ee exitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		os.Exit(ee.code)
	case errors.As(err, &ue):
		fmt.Fprintf(os.Stderr, "translator: %v\nTry: translator help\n", err)
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "translator: %v\n", err)
		os.Exit(1)
	}
}

const usage = `translator: IoT2MQTT wrapper for Zigbee2MQTT

Usage:
  translator [run]             run the daemon (configured by the environment)
  translator check [files...]  validate mapping files (default: $MAPPINGS_DIR/*.yaml)
  translator replay [-update] DIR...  replay recorded fixtures through the mappings
  translator record [flags] DIR      record live Zigbee2MQTT traffic into a fixture
  translator sandbox [flags]         try it without hardware: broker, simulated
                                     Zigbee2MQTT and translator in one process
  translator health            exit 0 when the running daemon is healthy
  translator version           print the version
`

// Run dispatches a subcommand.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cmd := "run"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "run":
		return runDaemon(ctx, args, stderr)
	case "check":
		return runCheck(args, stdout)
	case "replay":
		return runReplay(args, stdout)
	case "record":
		return runRecord(ctx, args, stdout, stderr)
	case "sandbox":
		return runSandbox(ctx, args, stdout, stderr)
	case "health":
		return runHealth(ctx, args, stdout)
	case "version":
		fmt.Fprintln(stdout, version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return usageError{fmt.Sprintf("unknown command %q", cmd)}
}

func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// profileFile creates the file named by the environment variable env, an
// opt-in switch for benchmarks (bench/translator.sh); nil when env is unset
// or the file cannot be created (said on stderr).
func profileFile(env string) *os.File {
	path := os.Getenv(env)
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", env, err)
		return nil
	}
	return f
}
