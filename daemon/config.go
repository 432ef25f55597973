package daemon

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Config is the daemon's configuration from the environment and the
// `.env` file. The instance JSON is decoded separately by upstream.
type Config struct {
	// Version is the translator's version, reported in meta/info.
	Version      string
	InstanceName string
	Home         string // IOT2MQTT_PATH, default /app

	BrokerURL     *url.URL
	Username      string
	Password      string
	CAFile        string
	BaseTopic     string
	ClientPrefix  string
	QoS           byte
	Retain        bool
	KeepAlive     uint16
	SessionExpiry uint32
	// InboundBufferBytes bounds the messages waiting for the engine
	// (INBOUND_BUFFER_MB, default 32).
	InboundBufferBytes int
	LogLevel           string
	LogFormat          string
	// MappingsDir holds the integrator's mapping files (MAPPINGS_DIR,
	// default $IOT2MQTT_PATH/mappings); they add to the built-in pack.
	MappingsDir string
	// ReplacePack leaves the built-in pack out (MAPPINGS_REPLACE_PACK).
	ReplacePack bool
	HTTPAddr    string
}

// ClientID is `{prefix}_{instance}`.
func (c *Config) ClientID() string { return c.ClientPrefix + "_" + c.InstanceName }

// InstancePath is the instance JSON file.
func (c *Config) InstancePath() string {
	return filepath.Join(c.Home, "instances", c.InstanceName+".json")
}

// parseDotEnv reads KEY=value lines: blank and # lines are skipped, the
// line is split on the first '=', key and value are trimmed and one pair of
// matching quotes is removed. There is no $ expansion.
func parseDotEnv(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for first := true; sc.Scan(); first = false {
		line := sc.Text()
		if first {
			line = strings.TrimPrefix(line, "\ufeff") // a byte order mark from a Windows editor
		}
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if rest, ok := strings.CutPrefix(k, "export"); ok && strings.TrimLeft(rest, " \t") != rest {
			k = strings.TrimSpace(rest) // `export  KEY=…`, `export<TAB>KEY=…`
		}
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		out[k] = v
	}
	return out, sc.Err()
}

// env looks variables up in the real environment first, then in `.env`.
type env struct {
	dot  map[string]string
	errs []error
}

func (e *env) get(key string) string {
	if v, ok := os.LookupEnv(key); ok && strings.TrimSpace(v) != "" {
		return strings.TrimSpace(v)
	}
	return e.dot[key]
}

func (e *env) errf(format string, args ...any) { e.errs = append(e.errs, fmt.Errorf(format, args...)) }

func (e *env) intVar(key string, def, min, max int) int {
	s := e.get(key)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < min || n > max {
		e.errf("%s=%q: must be an integer from %d to %d", key, s, min, max)
		return def
	}
	return n
}

func (e *env) boolVar(key string, def bool) bool {
	s := e.get(key)
	if s == "" {
		return def
	}
	b, err := strconv.ParseBool(strings.ToLower(s))
	if err != nil {
		e.errf("%s=%q: must be true or false", key, s)
		return def
	}
	return b
}

// LoadConfig reads the environment and `$IOT2MQTT_PATH/.env`. Every invalid
// value is reported, each naming its variable.
func LoadConfig() (*Config, []string, error) {
	var notes []string
	e := &env{}
	c := &Config{Home: "/app"}
	if h := strings.TrimSpace(os.Getenv("IOT2MQTT_PATH")); h != "" {
		c.Home = h
	}
	dotPath := filepath.Join(c.Home, ".env")
	dot, err := parseDotEnv(dotPath)
	switch {
	case err == nil:
		e.dot = dot
		notes = append(notes, "read "+dotPath)
	case errors.Is(err, os.ErrNotExist):
		notes = append(notes, "no "+dotPath+"; using the environment only")
	default:
		e.errf("read %s: %v", dotPath, err)
	}
	c.InstanceName = e.get("INSTANCE_NAME")
	if c.InstanceName == "" {
		e.errf("INSTANCE_NAME: required (the instance id, the stem of instances/<name>.json)")
	} else if strings.ContainsAny(c.InstanceName, "/+#\x00 ") {
		e.errf("INSTANCE_NAME=%q: must be one MQTT topic level without spaces", c.InstanceName)
	}
	if tz := e.get("TZ"); tz != "" {
		if loc, err := time.LoadLocation(tz); err == nil {
			time.Local = loc
		} else {
			e.errf("TZ=%q: unknown time zone", tz)
		}
	}

	host := e.get("MQTT_HOST")
	if host == "" {
		host = "localhost"
		notes = append(notes, "MQTT_HOST is empty; using localhost")
	}
	port := e.intVar("MQTT_PORT", 0, 1, 65535)
	c.BrokerURL, err = brokerURL(host, port)
	if err != nil {
		e.errf("MQTT_HOST=%q: %v", host, err)
	}
	c.Username = e.get("MQTT_USERNAME")
	c.Password = e.get("MQTT_PASSWORD")
	c.CAFile = e.get("MQTT_CA_FILE")
	if c.CAFile != "" {
		if _, err := os.Stat(c.CAFile); err != nil {
			e.errf("MQTT_CA_FILE=%q: %v", c.CAFile, err)
		}
	}
	c.BaseTopic = e.get("MQTT_BASE_TOPIC")
	if c.BaseTopic == "" {
		c.BaseTopic = "IoT2mqtt"
	}
	if strings.ContainsAny(c.BaseTopic, "+#\x00") || strings.HasPrefix(c.BaseTopic, "/") || strings.HasSuffix(c.BaseTopic, "/") {
		e.errf("MQTT_BASE_TOPIC=%q: must be a topic without wildcards or leading/trailing '/'", c.BaseTopic)
	}
	c.ClientPrefix = e.get("MQTT_CLIENT_PREFIX")
	if c.ClientPrefix == "" {
		c.ClientPrefix = "iot2mqtt"
	}
	c.QoS = byte(e.intVar("MQTT_QOS", 1, 0, 2))
	c.Retain = e.boolVar("MQTT_RETAIN", true)
	c.KeepAlive = uint16(e.intVar("MQTT_KEEPALIVE", 60, 5, 65535))
	c.SessionExpiry = uint32(e.intVar("MQTT_SESSION_EXPIRY", 600, 0, 86400*7))
	c.InboundBufferBytes = e.intVar("INBOUND_BUFFER_MB", 32, 1, 4096) << 20
	c.LogLevel = strings.ToUpper(e.get("LOG_LEVEL"))
	if c.LogLevel == "" {
		c.LogLevel = "INFO"
	}
	if _, ok := logLevels[c.LogLevel]; !ok {
		e.errf("LOG_LEVEL=%q: must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL", c.LogLevel)
	}
	c.LogFormat = strings.ToLower(e.get("LOG_FORMAT"))
	if c.LogFormat == "" {
		c.LogFormat = "console"
	}
	if c.LogFormat != "console" && c.LogFormat != "json" {
		e.errf("LOG_FORMAT=%q: must be console or json", c.LogFormat)
	}
	c.MappingsDir = e.get("MAPPINGS_DIR")
	if c.MappingsDir == "" {
		c.MappingsDir = filepath.Join(c.Home, "mappings")
	}
	c.ReplacePack = e.boolVar("MAPPINGS_REPLACE_PACK", false)
	c.HTTPAddr = e.get("HTTP_ADDR")
	if c.HTTPAddr != "" {
		if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
			e.errf("HTTP_ADDR=%q: must be host:port, e.g. 127.0.0.1:8081", c.HTTPAddr)
		}
	}
	if len(e.errs) > 0 {
		return nil, notes, errors.Join(e.errs...)
	}
	return c, notes, nil
}

// brokerURL builds the broker URL from MQTT_HOST (a host name, or a URL
// with scheme mqtt://, tcp://, mqtts://, ssl:// or tls://) and MQTT_PORT.
// Port 8883 means TLS.
func brokerURL(host string, port int) (*url.URL, error) {
	scheme := ""
	if strings.Contains(host, "://") {
		u, err := url.Parse(host)
		if err != nil {
			return nil, err
		}
		switch u.Scheme {
		case "mqtt", "tcp":
			scheme = "mqtt"
		case "mqtts", "ssl", "tls":
			scheme = "mqtts"
		default:
			return nil, fmt.Errorf("unknown scheme %q (use mqtt:// or mqtts://)", u.Scheme)
		}
		host = u.Hostname()
		if u.Port() != "" && port == 0 {
			port, _ = strconv.Atoi(u.Port())
		}
	}
	if port == 0 {
		port = 1883
		if scheme == "mqtts" {
			port = 8883
		}
	}
	if scheme == "" {
		scheme = "mqtt"
		if port == 8883 {
			scheme = "mqtts"
		}
	}
	if host == "" {
		return nil, errors.New("no host name")
	}
	return &url.URL{Scheme: scheme, Host: net.JoinHostPort(host, strconv.Itoa(port))}, nil
}
