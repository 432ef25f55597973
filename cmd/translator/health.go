package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/iot2mqtt/zigbee2mqtt-translator/daemon"
	"github.com/iot2mqtt/zigbee2mqtt-translator/upstream"
)

// runHealth asks the running daemon for its health; exit 0 when healthy.
func runHealth(ctx context.Context, args []string, stdout io.Writer) error {
	fs := newFlagSet("health")
	addr := fs.String("addr", os.Getenv("HTTP_ADDR"), "daemon HTTP address (default: read from the data directory)")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if *addr == "" {
		home := os.Getenv("IOT2MQTT_PATH")
		if home == "" {
			home = "/app"
		}
		dataDir := os.Getenv("DATA_DIR")
		if dataDir == "" {
			dataDir = filepath.Join(home, "data")
		}
		b, err := os.ReadFile(filepath.Join(dataDir, daemon.AddrFileName))
		if err != nil {
			return fmt.Errorf("health: no running daemon found: %w", err)
		}
		*addr = strings.TrimSpace(string(b))
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := upstream.FetchHealth(ctx, "http://"+*addr)
	fmt.Fprintf(stdout, "ok=%t mqtt=%s process=%s bridge=%s\n", st.OK, st.MQTT, st.Process, st.Bridge)
	if err != nil {
		return err
	}
	return nil
}
