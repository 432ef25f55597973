package upstream

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// RedactedValue replaces secrets in Redacted output.
const RedactedValue = "<redacted>"

// secretKey reports whether a settings key holds a secret.
func secretKey(key string) bool {
	k := strings.ToLower(key)
	for _, s := range []string{"password", "token", "secret", "network_key", "private_key", "credential"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

// Redacted returns configuration YAML with every secret (MQTT password, network
// key, auth tokens, credentials in URLs) replaced, for logging. If data cannot
// be parsed, a placeholder is returned rather than the raw text.
func Redacted(data []byte) string {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return "<unparsable configuration, not shown>"
	}
	redactNode(&doc)
	out, err := yaml.Marshal(&doc)
	if err != nil {
		return "<unprintable configuration, not shown>"
	}
	return string(out)
}

func redactNode(n *yaml.Node) {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			redactNode(c)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i], n.Content[i+1]
			if secretKey(key.Value) {
				*val = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: RedactedValue}
				continue
			}
			if val.Kind == yaml.ScalarNode && strings.Contains(val.Value, "://") {
				if u, err := url.Parse(val.Value); err == nil && u.User != nil {
					u.User = url.User(RedactedValue)
					val.Value = u.String()
				}
				continue
			}
			redactNode(val)
		}
	}
}

// WriteConfig writes data as dir/configuration.yaml atomically: a temporary
// file in dir is written, synced and renamed over the target, so Zigbee2MQTT
// never sees a partial file. The file gets mode 0600 because it holds the
// network key and the MQTT password. dir is created (0700) if missing.
func WriteConfig(dir string, data []byte) error {
	if err := writeFileAtomic(filepath.Join(dir, ConfigFileName), data); err != nil {
		return fmt.Errorf("write configuration: %w", err)
	}
	return nil
}

// ReadConfig returns dir/configuration.yaml, or nil if it does not exist.
func ReadConfig(dir string) ([]byte, error) {
	data, err := os.ReadFile(filepath.Join(dir, ConfigFileName))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	return data, nil
}

// writeFileAtomic replaces path with data (mode 0600) via a synced temporary
// file and a rename, then syncs the directory.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(0o600); err != nil {
		return err
	}
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync() // best effort: not every filesystem supports it
		d.Close()
	}
	return nil
}
