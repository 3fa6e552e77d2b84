package jobstore

import "sync"

// Hub fans job-change notifications out to subscribers in this process;
// backends call Notify after a commit (and, for PostgreSQL, when another
// instance's NOTIFY arrives).
type Hub struct {
	mu   sync.Mutex
	subs map[string]map[chan struct{}]struct{}
}

// Subscribe returns a channel (buffer 1, coalescing) for job id and its
// cancel function.
func (h *Hub) Subscribe(id string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	if h.subs == nil {
		h.subs = map[string]map[chan struct{}]struct{}{}
	}
	if h.subs[id] == nil {
		h.subs[id] = map[chan struct{}]struct{}{}
	}
	h.subs[id][ch] = struct{}{}
	h.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			h.mu.Lock()
			delete(h.subs[id], ch)
			if len(h.subs[id]) == 0 {
				delete(h.subs, id)
			}
			h.mu.Unlock()
		})
	}
}

// Notify wakes the subscribers of job id.
func (h *Hub) Notify(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs[id] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Subscribers reports whether anyone follows job id (backends skip work for
// unwatched jobs).
func (h *Hub) Subscribers(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs[id]) > 0
}

// NotifyAll wakes every subscriber (after a notification connection was
// lost and changes may have been missed).
func (h *Hub) NotifyAll() {
	h.mu.Lock()
	ids := make([]string, 0, len(h.subs))
	for id := range h.subs {
		ids = append(ids, id)
	}
	h.mu.Unlock()
	for _, id := range ids {
		h.Notify(id)
	}
}
