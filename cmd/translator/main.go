// Command translator runs the IoT2MQTT wrapper for Zigbee2MQTT: it
// configures and supervises an embedded Zigbee2MQTT (or translates for one
// elsewhere on the broker) and translates between the two MQTT contracts.
//
// `translator help` lists the subcommands; `translator <command> -h`
// shows a command's flags.
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
	"strings"
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
	case err == nil, errors.Is(err, errHelp):
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

// command is one subcommand: its name, arguments, one line for `translator
// help`, and what it does.
type command struct {
	name, args, summary string
	run                 func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// commandDetails is more text for a subcommand's -h, after its summary.
var commandDetails = map[string]string{"sandbox": sandboxModes}

// commands returns the subcommands in the order `translator help` lists
// them.
func commands() []command {
	return []command{
		{"run", "", "run the daemon, configured by the environment (the default)", runDaemon},
		{"check", "[flags] [files...]", "validate mapping files, and lint them against a device list",
			func(_ context.Context, args []string, stdout, _ io.Writer) error { return runCheck(args, stdout) }},
		{"replay", "[flags] DIR...", "run recorded fixtures through the rules and compare the publications",
			func(_ context.Context, args []string, stdout, _ io.Writer) error { return runReplay(args, stdout) }},
		{"record", "[flags] DIR", "record live Zigbee2MQTT traffic into a fixture", runRecord},
		{"sandbox", "[flags]", "try it without hardware: a broker, a Zigbee network and the translator in one command", runSandbox},
		{"coordinator", "[flags]", "run the emulated Z-Stack coordinator with simulated devices, for Zigbee2MQTT over tcp://", runCoordinator},
		{"pack", "export DIR", "write the built-in mapping pack into DIR, for editing",
			func(_ context.Context, args []string, stdout, _ io.Writer) error { return runPack(args, stdout) }},
		{"health", "[flags]", "exit 0 when the running daemon is healthy",
			func(ctx context.Context, args []string, stdout, _ io.Writer) error {
				return runHealth(ctx, args, stdout)
			}},
		{"version", "", "print the version",
			func(_ context.Context, _ []string, stdout, _ io.Writer) error {
				fmt.Fprintln(stdout, version)
				return nil
			}},
	}
}

// Run dispatches a subcommand.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	name := "run"
	if len(args) > 0 {
		name, args = args[0], args[1:]
	}
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) > 0 { // translator help check == translator check -h
			return Run(ctx, []string{args[0], "-h"}, stdout, stderr)
		}
		printHelp(stdout)
		return nil
	}
	for _, c := range commands() {
		if c.name == name {
			return c.run(ctx, args, stdout, stderr)
		}
	}
	return usageError{fmt.Sprintf("unknown command %q", name)}
}

// printHelp lists the subcommands, a line each.
func printHelp(w io.Writer) {
	fmt.Fprint(w, "translator: the IoT2MQTT wrapper for Zigbee2MQTT\n\nUsage: translator <command> [arguments]\n\nCommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\n`translator <command> -h` shows a command's flags and their defaults.")
}

// errHelp is returned after a subcommand printed its usage for -h: the
// process exits 0.
var errHelp = errors.New("help shown")

// newFlagSet makes the flag set of a subcommand; parse it with parseFlags.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parseFlags parses a subcommand's flags. For -h it prints the
// subcommand's usage and every flag with its default to stdout and returns
// errHelp; a mistake is a usageError.
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		for _, c := range commands() {
			if c.name == fs.Name() {
				fmt.Fprintf(stdout, "Usage: translator %s %s\n\n%s.\n", c.name, c.args, strings.ToUpper(c.summary[:1])+c.summary[1:])
				if more := commandDetails[c.name]; more != "" {
					fmt.Fprintf(stdout, "\n%s", more)
				}
			}
		}
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			fmt.Fprintln(stdout, "\nFlags:")
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			fs.SetOutput(io.Discard)
		}
		return errHelp
	}
	if err != nil {
		return usageError{fs.Name() + ": " + err.Error()}
	}
	return nil
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
