package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"

	"github.com/iot2mqtt/zigbee2mqtt-translator/coordinator"
)

// runCoordinator runs the emulated Z-Stack coordinator with the built-in
// device descriptions (plus a directory of the user's) until ctx ends.
func runCoordinator(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("coordinator")
	listen := fs.String("listen", "127.0.0.1:6638", "TCP address Zigbee2MQTT connects to (serial.port tcp://HOST:PORT, adapter zstack)")
	state := fs.String("state", "coordinator-state.json", "file keeping the network's NV state, so a restart resumes the network")
	devices := fs.String("devices", "", "directory of extra device descriptions (*.json), beside the built-in ones")
	control := fs.String("control", "127.0.0.1:6639", "loopback HTTP address of the control interface (join, leave, set, fault, drop)")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	descs, err := coordinator.LoadDescriptions(coordinator.Builtin, "devices")
	if err != nil {
		return err
	}
	if *devices != "" {
		extra, err := coordinator.LoadDescriptionDir(*devices)
		if err != nil {
			return err
		}
		descs = append(descs, extra...)
	}
	logger := log.New(stderr, "coordinator: ", log.LstdFlags)
	emu, err := coordinator.New(coordinator.Config{Listen: *listen, StatePath: *state, Devices: descs, Logf: logger.Printf})
	if err != nil {
		return err
	}
	if err := emu.Start(ctx); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *control)
	if err != nil {
		return fmt.Errorf("control interface: %w", err)
	}
	srv := &http.Server{Handler: emu.Handler()}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	fmt.Fprintf(stdout, "coordinator: Z-Stack on tcp://%s, control on http://%s, %d devices, state %s\n", emu.Addr(), ln.Addr(), len(descs), *state)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	emu.Wait()
	return nil
}
