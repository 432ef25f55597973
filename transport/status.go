package transport

import "context"

// statusGate orders the daemon's retained status publications: `online`
// after every (re)connect, `offline` once at shutdown. The online work
// (subscribe, publish online, mark connected) runs inside the gate, and
// shutdown closes the gate before deciding on offline, so
//   - shutdown waits for an online publication in progress and then sees
//     it as done: offline is never skipped because online had not finished
//     yet (a clean disconnect sends no last will, so a skipped offline
//     would leave `online` retained after the daemon stopped);
//   - online is never published after offline.
type statusGate struct {
	lock    chan struct{} // a mutex whose wait a context can end
	stopped bool          // under lock: shutdown closed the gate
}

func newStatusGate() *statusGate { return &statusGate{lock: make(chan struct{}, 1)} }

// run calls fn inside the gate unless shutdown has closed it; it reports
// whether fn ran.
func (g *statusGate) run(fn func()) bool {
	g.lock <- struct{}{}
	defer func() { <-g.lock }()
	if g.stopped {
		return false
	}
	fn()
	return true
}

// close waits for a run in progress to finish, then closes the gate for
// good. It fails only when ctx ends first.
func (g *statusGate) close(ctx context.Context) error {
	select {
	case g.lock <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	g.stopped = true
	<-g.lock
	return nil
}
