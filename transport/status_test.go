package transport

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// A shutdown that begins while online is being published waits for it and
// publishes offline after it: the last retained status is offline.
func TestStatusGate_OfflineAfterOnlineInProgress(t *testing.T) {
	g := newStatusGate()
	var mu sync.Mutex
	var order []string
	record := func(s string) {
		mu.Lock()
		order = append(order, s)
		mu.Unlock()
	}
	entered, release := make(chan struct{}), make(chan struct{})
	onlineDone := make(chan bool)
	go func() {
		onlineDone <- g.run(func() {
			close(entered)
			<-release // the broker round trip of subscribe and online
			record("online")
		})
	}()
	<-entered
	stopped := make(chan error)
	go func() {
		err := g.close(context.Background())
		record("offline")
		stopped <- err
	}()
	select {
	case err := <-stopped:
		t.Fatalf("close returned (%v) while online was still being published", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-stopped; err != nil {
		t.Fatalf("close: %v", err)
	}
	if !<-onlineDone {
		t.Error("run reported that online did not run")
	}
	if want := []string{"online", "offline"}; !slices.Equal(order, want) {
		t.Errorf("order = %v, want %v", order, want)
	}
}

// After shutdown closed the gate, a connection that comes up late does not
// publish online.
func TestStatusGate_NoOnlineAfterClose(t *testing.T) {
	g := newStatusGate()
	if err := g.close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if g.run(func() { t.Error("online published after shutdown") }) {
		t.Error("run = true after close, want false")
	}
}

// Shutdown's deadline bounds the wait for an online publication that hangs.
func TestStatusGate_CloseGivesUpWithContext(t *testing.T) {
	g := newStatusGate()
	entered, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	go g.run(func() { close(entered); <-release })
	<-entered
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := g.close(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("close = %v, want context.Canceled", err)
	}
}
