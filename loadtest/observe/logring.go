package observe

import (
	"bytes"
	"slices"
	"sync"

	"offload/serverlog"
)

// logRing keeps the last lines a process wrote, decodes its log records
// and watches for the ready record.
type logRing struct {
	mu       sync.Mutex
	lines    []string // the last lines, at most max
	max      int
	partial  []byte // an unfinished last line
	onRecord func(serverlog.Record)
	found    bool
	ready    chan string // receives the listening address once
}

const maxLineBytes = 4096 // the longest line kept

func newLogRing(max int, onRecord func(serverlog.Record)) *logRing {
	return &logRing{max: max, onRecord: onRecord, ready: make(chan string, 1)}
}

// Write stores complete lines; it never fails, so that the server never
// blocks on its log.
func (l *logRing) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	data := p
	for {
		line, rest, complete := bytes.Cut(data, []byte{'\n'})
		// Capped, so that a runaway line cannot hold much memory.
		l.partial = append(l.partial, line[:min(len(line), max(0, maxLineBytes-len(l.partial)))]...)
		if !complete {
			return len(p), nil
		}
		l.add(l.partial)
		l.partial, data = l.partial[:0], rest
	}
}

func (l *logRing) add(line []byte) {
	// Lines that are not records (a panic's trace) are only kept.
	if rec, err := serverlog.Decode(line); err == nil {
		if l.onRecord != nil {
			l.onRecord(rec)
		}
		if !l.found && rec.Msg == serverlog.MsgReady && rec.Addr != "" {
			l.found = true
			l.ready <- rec.Addr
		}
	}
	// Dropping the oldest line reslices; append copies the kept lines to a
	// new array once the old one is used up, so memory stays within 2 × max.
	l.lines = append(l.lines, string(line))
	if len(l.lines) > l.max {
		l.lines = l.lines[1:]
	}
}

// tail returns the kept lines, oldest first, with an unfinished last line.
func (l *logRing) tail() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := slices.Clone(l.lines)
	if len(l.partial) > 0 {
		out = append(out, string(l.partial))
	}
	return out
}
