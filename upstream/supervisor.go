package upstream

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

// Supervisor defaults.
const (
	DefaultStopGrace   = 10 * time.Second
	DefaultStableAfter = 2 * time.Minute
	DefaultLoopAfter   = 3
	maxBackoff         = time.Minute
)

// DefaultBackoff waits 1s before the first restart and doubles up to 60s.
func DefaultBackoff(attempt int) time.Duration {
	if attempt < 1 {
		attempt = 1
	}
	if attempt > 7 {
		return maxBackoff
	}
	return min(time.Second<<(attempt-1), maxBackoff)
}

// Supervisor runs Zigbee2MQTT as a child process, forwards its console output
// into a zerolog logger with the original level, and restarts it with
// exponential backoff when it exits. Configure the exported fields before
// Start; they must not change afterwards. A Supervisor runs once: after Stop
// it cannot be started again.
type Supervisor struct {
	// Command is the argv to run. Empty means DefaultCommand(InstallDir).
	Command []string
	// InstallDir is the Zigbee2MQTT install used by the default command.
	InstallDir string
	// DataDir is passed as ZIGBEE2MQTT_DATA (where configuration.yaml is).
	DataDir string
	// Dir is the child's working directory; empty means DataDir (or ours
	// when DataDir is empty too).
	Dir string
	// Env holds extra KEY=value entries added to our own environment.
	Env []string
	// Logger receives the child's lines (field "ns" holds Zigbee2MQTT's
	// namespace, e.g. "z2m" or "zh:zstack:znp") and the supervisor's own
	// messages. The zero value discards everything.
	Logger zerolog.Logger

	// Backoff gives the wait before restart number attempt (1-based, counted
	// since the child last stayed up for StableAfter). Default DefaultBackoff.
	Backoff func(attempt int) time.Duration
	// StableAfter is how long the child must run for the attempt counter to
	// reset. Default DefaultStableAfter.
	StableAfter time.Duration
	// LoopAfter is the number of consecutive quick exits reported as a
	// crash loop. Default DefaultLoopAfter.
	LoopAfter int
	// StopGrace is how long Stop waits after SIGTERM before SIGKILL.
	// Default DefaultStopGrace.
	StopGrace time.Duration

	// OnCrash is called after each unexpected exit (or failed restart) with
	// the reason, the number of consecutive restarts so far (including the
	// one about to happen) and whether that counts as a crash loop. It runs
	// on the supervisor goroutine: return quickly.
	OnCrash func(exitErr error, restarts int, loop bool)
	// OnStateChange is called with true when the child starts and false
	// when it exits. It runs on the supervisor goroutine: return quickly.
	OnStateChange func(running bool)

	mu       sync.Mutex
	started  bool
	running  bool
	restarts int
	stopOnce sync.Once
	stopCh   chan struct{}
	done     chan struct{}
}

// child is one run of the process.
type child struct {
	cmd     *exec.Cmd
	cancel  context.CancelFunc
	start   time.Time
	exited  chan struct{}
	err     error
	outputs []*lineLogger
}

// Start launches the child and the supervision loop. It fails if the command
// cannot be started at all (for example node is missing), so configuration
// problems surface before any restart loop. Cancelling ctx stops the child as
// Stop does.
func (s *Supervisor) Start(ctx context.Context) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("start zigbee2mqtt: already started")
	}
	s.started = true
	s.stopCh = make(chan struct{})
	if s.done == nil { // Done may have been called before Start
		s.done = make(chan struct{})
	}
	s.mu.Unlock()

	c, err := s.spawn()
	if err != nil {
		close(s.done)
		return fmt.Errorf("start zigbee2mqtt: %w", err)
	}
	s.setRunning(true)
	go s.loop(c)
	go func() {
		select {
		case <-ctx.Done():
			s.requestStop()
		case <-s.done:
		}
	}()
	return nil
}

// Stop sends SIGTERM to the child (its whole process group), waits up to
// StopGrace, then sends SIGKILL, and returns once the child has exited and
// no restart is pending. It returns ctx.Err() if ctx ends first; the kill
// still happens. Stop before Start, or a second Stop, is harmless.
func (s *Supervisor) Stop(ctx context.Context) error {
	s.mu.Lock()
	started := s.started
	s.mu.Unlock()
	if !started {
		return nil
	}
	s.requestStop()
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop zigbee2mqtt: %w", ctx.Err())
	}
}

// Done is closed when the supervisor has stopped for good.
func (s *Supervisor) Done() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done == nil {
		s.done = make(chan struct{})
	}
	return s.done
}

// Running reports whether the child process is currently running.
func (s *Supervisor) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running
}

// Restarts is the total number of restarts since Start.
func (s *Supervisor) Restarts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.restarts
}

func (s *Supervisor) requestStop() {
	s.stopOnce.Do(func() { close(s.stopCh) })
}

func (s *Supervisor) setRunning(running bool) {
	s.mu.Lock()
	changed := s.running != running
	s.running = running
	s.mu.Unlock()
	if changed && s.OnStateChange != nil {
		s.OnStateChange(running)
	}
}

func (s *Supervisor) grace() time.Duration {
	if s.StopGrace > 0 {
		return s.StopGrace
	}
	return DefaultStopGrace
}

func (s *Supervisor) argv() []string {
	if len(s.Command) > 0 {
		return s.Command
	}
	return DefaultCommand(s.InstallDir)
}

func (s *Supervisor) spawn() (*child, error) {
	argv := s.argv()
	if len(argv) == 0 || argv[0] == "" {
		return nil, errors.New("no command")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = s.Dir
	if cmd.Dir == "" {
		cmd.Dir = s.DataDir
	}
	// Zigbee2MQTT's index.js compares `git rev-parse HEAD`, run in its
	// working directory, with the commit its dist/ was built from, and tries
	// to rebuild (with pnpm, which fails) when they differ — which they do
	// whenever it runs inside some other git checkout. Point git nowhere.
	cmd.Env = append(os.Environ(), "GIT_DIR="+os.DevNull+"/no-git-dir")
	if s.DataDir != "" {
		cmd.Env = append(cmd.Env, "ZIGBEE2MQTT_DATA="+s.DataDir)
	}
	cmd.Env = append(cmd.Env, s.Env...)
	out := newLineLogger(s.Logger, zerolog.InfoLevel)
	errOut := newLineLogger(s.Logger, zerolog.WarnLevel)
	cmd.Stdout, cmd.Stderr = out, errOut
	setProcessGroup(cmd)
	grace := s.grace()
	var (
		killMu    sync.Mutex
		killTimer *time.Timer
		exited    bool
	)
	cmd.Cancel = func() error {
		err := signalGroup(cmd.Process, syscall.SIGTERM)
		killMu.Lock()
		if !exited {
			killTimer = time.AfterFunc(grace, func() {
				killMu.Lock()
				defer killMu.Unlock()
				if !exited {
					s.Logger.Warn().Dur("grace", grace).Msg("zigbee2mqtt did not stop in time, sending SIGKILL")
					_ = signalGroup(cmd.Process, syscall.SIGKILL)
				}
			})
		}
		killMu.Unlock()
		return err
	}
	// Backstop: Wait kills the leader and stops waiting for output after
	// this, even if a grandchild keeps the pipes open.
	cmd.WaitDelay = grace + time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, err
	}
	c := &child{cmd: cmd, cancel: cancel, start: time.Now(), exited: make(chan struct{}), outputs: []*lineLogger{out, errOut}}
	s.Logger.Info().Int("pid", cmd.Process.Pid).Strs("argv", argv).Msg("zigbee2mqtt started")
	go func() {
		c.err = cmd.Wait()
		killMu.Lock()
		exited = true // the group may be gone and its id reused: no late SIGKILL
		if killTimer != nil {
			killTimer.Stop()
		}
		killMu.Unlock()
		for _, o := range c.outputs {
			o.Flush()
		}
		cancel()
		close(c.exited)
	}()
	return c, nil
}

// terminate asks the child to stop: SIGTERM now, SIGKILL after the grace.
func (c *child) terminate() { c.cancel() }

func (s *Supervisor) loop(c *child) {
	defer close(s.done)
	attempt := 0
	var startErr error
	for {
		var reason error
		var upFor time.Duration
		if c != nil {
			select {
			case <-c.exited:
			case <-s.stopCh:
				s.Logger.Info().Dur("grace", s.grace()).Msg("stopping zigbee2mqtt (SIGTERM)")
				c.terminate()
				<-c.exited
				s.setRunning(false)
				s.Logger.Info().Str("result", exitReason(c.err).Error()).Msg("zigbee2mqtt stopped")
				return
			}
			s.setRunning(false)
			reason, upFor = exitReason(c.err), time.Since(c.start)
		} else {
			reason = fmt.Errorf("restart failed: %w", startErr)
		}

		if upFor >= s.stableAfter() {
			attempt = 0
		}
		attempt++
		s.mu.Lock()
		s.restarts++
		s.mu.Unlock()
		loopAfter := s.LoopAfter
		if loopAfter <= 0 {
			loopAfter = DefaultLoopAfter
		}
		crashLoop := attempt >= loopAfter
		wait := s.backoff(attempt)
		ev := s.Logger.Error()
		if crashLoop {
			ev = ev.Bool("crash_loop", true)
		}
		ev.Err(reason).Dur("uptime", upFor.Round(time.Millisecond)).Int("restarts", attempt).
			Dur("restart_in", wait).Msg("zigbee2mqtt exited unexpectedly")
		if s.OnCrash != nil {
			s.OnCrash(reason, attempt, crashLoop)
		}

		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-s.stopCh:
			timer.Stop()
			s.Logger.Info().Msg("zigbee2mqtt stopped (restart cancelled)")
			return
		}
		if c, startErr = s.spawn(); startErr == nil {
			s.setRunning(true)
		} else {
			c = nil
		}
	}
}

func (s *Supervisor) stableAfter() time.Duration {
	if s.StableAfter > 0 {
		return s.StableAfter
	}
	return DefaultStableAfter
}

func (s *Supervisor) backoff(attempt int) time.Duration {
	if s.Backoff != nil {
		return s.Backoff(attempt)
	}
	return DefaultBackoff(attempt)
}

// exitReason always returns a non-nil description of how the child ended.
func exitReason(err error) error {
	if err == nil {
		return errors.New("exited with status 0")
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return fmt.Errorf("killed by signal %s: %w", ws.Signal(), err)
		}
		return fmt.Errorf("exited with status %d: %w", ee.ExitCode(), err)
	}
	return err
}
