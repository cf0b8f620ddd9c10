package slotcopy

import "sync"

// KeyMix is what a migration's copies found on each source: how many of the
// keys they committed were big strings (copied as they are, not by DUMP).
// Where most were, the next copies from that source split their dump (see
// Copier.dump): the script leaves each big string to a GETRANGE in the same
// round trip instead of returning it itself, because a value returned from
// Lua is copied into and out of the interpreter, which is most of the
// script's cost: on redis-server 7.0.15, keys of 10 KB cost the source's
// event loop 17.7-19.7 us each returned by the script and 3.8-4.7 us by a
// script returning their sizes and a GET after it (bench/README.md, session
// 9). Where most keys are small the script keeps reading them: a GETRANGE
// per key would cost more than it saves. The first copies of a migration
// learn the mix. The zero value is ready; a nil KeyMix never splits.
type KeyMix struct {
	mu  sync.Mutex
	src map[string]mixCount
}

type mixCount struct {
	big, all int64
	refused  bool // the source refused a GETRANGE (ACL): never split
}

// split reports whether copies from src should split their dump: at least
// half of the keys committed from it so far were big strings.
func (m *KeyMix) split(src string) bool {
	if m == nil {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.src[src]
	return !c.refused && c.all > 0 && 2*c.big >= c.all
}

// refuse stops the splitting of copies from src.
func (m *KeyMix) refuse(src string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.src == nil {
		m.src = map[string]mixCount{}
	}
	c := m.src[src]
	c.refused = true
	m.src[src] = c
}

// add counts the keys of one committed copy from src.
func (m *KeyMix) add(src string, ds []dumped) {
	if m == nil || len(ds) == 0 {
		return
	}
	var big int64
	for _, d := range ds {
		if d.big {
			big++
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.src == nil {
		m.src = map[string]mixCount{}
	}
	c := m.src[src]
	c.big += big
	c.all += int64(len(ds))
	m.src[src] = c
}
