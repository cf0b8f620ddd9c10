// Package syncbuf is a bytes.Buffer that tests may write from one goroutine
// (an exec session, a log follower) while reading it from another.
package syncbuf

import (
	"bytes"
	"sync"
)

// Buffer collects writes under a mutex; the zero value is ready to use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns what was written so far.
func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
