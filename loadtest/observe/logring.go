package observe

import (
	"bytes"
	"io"
	"sync"

	"offload/serverlog"
)

// logRing keeps the last lines a process wrote, decodes its log records
// and watches for the ready record.
type logRing struct {
	mu       sync.Mutex
	lines    []string // ring buffer of at most max lines
	next     int      // where the next line goes once lines is full
	max      int
	partial  []byte // an unfinished last line
	copyTo   io.Writer
	onRecord func(serverlog.Record)
	found    bool
	ready    chan string // receives the listening address once
}

// maxLineBytes caps a kept line, so that a runaway line cannot hold much
// memory.
const maxLineBytes = 4096

func newLogRing(max int, copyTo io.Writer, onRecord func(serverlog.Record)) *logRing {
	return &logRing{max: max, copyTo: copyTo, onRecord: onRecord, ready: make(chan string, 1)}
}

// Write stores complete lines; it never fails, so that the server never
// blocks on its log.
func (l *logRing) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.copyTo != nil {
		_, _ = l.copyTo.Write(p) // a broken copy must not break the server
	}
	data := p
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			l.partial = appendCapped(l.partial, data)
			break
		}
		l.partial = appendCapped(l.partial, data[:i])
		l.add(l.partial)
		l.partial = l.partial[:0]
		data = data[i+1:]
	}
	return len(p), nil
}

// appendCapped appends as much of p to b as keeps b within maxLineBytes.
func appendCapped(b, p []byte) []byte {
	room := maxLineBytes - len(b)
	if room <= 0 {
		return b
	}
	return append(b, p[:min(len(p), room)]...)
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
	if len(l.lines) < l.max {
		l.lines = append(l.lines, string(line))
		return
	}
	l.lines[l.next] = string(line)
	l.next = (l.next + 1) % l.max
}

// tail returns the kept lines, oldest first, with an unfinished last line.
func (l *logRing) tail() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.lines)+1)
	out = append(out, l.lines[l.next:]...)
	out = append(out, l.lines[:l.next]...)
	if len(l.partial) > 0 {
		out = append(out, string(l.partial))
	}
	return out
}
