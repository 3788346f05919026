package main

import "sync"

// handles is a table of the objects a host refers to by integer handle:
// open spans and task attempts (spans.go), poll subscriptions (events.go).
// Handles start at 1 and are never reused, so a stale handle from the host
// finds nothing rather than another object. No Go pointer reaches the host.
// The zero value is not usable; make one with newHandles.
type handles[T any] struct {
	mu    sync.RWMutex
	next  uint64
	open  map[uint64]T
	limit int // most open at once; 0: no limit
}

// newHandles returns an empty table holding at most limit objects (0: no
// limit).
func newHandles[T any](limit int) *handles[T] {
	return &handles[T]{open: map[uint64]T{}, limit: limit}
}

// add stores v under a new handle; false when the table is full.
func (t *handles[T]) add(v T) (uint64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.limit > 0 && len(t.open) >= t.limit {
		return 0, false
	}
	t.next++
	t.open[t.next] = v
	return t.next, true
}

// get returns the object of handle h; false for an unknown or removed one.
func (t *handles[T]) get(h uint64) (T, bool) {
	t.mu.RLock()
	v, ok := t.open[h]
	t.mu.RUnlock()
	return v, ok
}

// remove takes h out of the table and returns its object.
func (t *handles[T]) remove(h uint64) (T, bool) {
	t.mu.Lock()
	v, ok := t.open[h]
	delete(t.open, h)
	t.mu.Unlock()
	return v, ok
}

// restore puts back an object remove took out by mistake, under the same
// handle.
func (t *handles[T]) restore(h uint64, v T) {
	t.mu.Lock()
	t.open[h] = v
	t.mu.Unlock()
}

// each calls f with every open handle, under the read lock (f must not
// call back into the table).
func (t *handles[T]) each(f func(h uint64)) {
	t.mu.RLock()
	for h := range t.open {
		f(h)
	}
	t.mu.RUnlock()
}

// removeAll empties the table and returns what it held (at shutdown).
func (t *handles[T]) removeAll() map[uint64]T {
	t.mu.Lock()
	open := t.open
	t.open = map[uint64]T{}
	t.mu.Unlock()
	return open
}
