package observe

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"

	"offload/serverlog"
)

// ServerError reports a server process that failed to start, exited
// unexpectedly or did not stop cleanly. Its message is one line; Tail holds
// the server's last log lines for a closer look.
type ServerError struct {
	// PID is the process id, 0 if the process never started.
	PID int
	// Op is what went wrong, e.g. "exited with status 1 before it was healthy".
	Op string
	// Err is the underlying error, if any.
	Err error
	// Tail is the server's last log lines, oldest first.
	Tail []string
}

// Error returns one line: what happened and the server's most telling log
// line (its last error or warning, else its last line).
func (e *ServerError) Error() string {
	s := "server"
	if e.PID > 0 {
		s += fmt.Sprintf(" (pid %d)", e.PID)
	}
	s += " " + e.Op
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	if line := tellingLine(e.Tail); line != "" {
		s += "; server log: " + line
	}
	return s
}

// Unwrap returns the underlying error.
func (e *ServerError) Unwrap() error { return e.Err }

// tellingLine picks the log line that most likely explains a failure: the
// last error record, else the last warning, else the last line (a panic's
// trace is not a record).
func tellingLine(tail []string) string {
	for _, level := range []string{slog.LevelError.String(), slog.LevelWarn.String()} {
		for i := len(tail) - 1; i >= 0; i-- {
			if rec, err := serverlog.Decode([]byte(tail[i])); err == nil && rec.Level == level {
				return tail[i]
			}
		}
	}
	if len(tail) > 0 {
		return tail[len(tail)-1]
	}
	return ""
}

func (s *Server) failure(op string, err error) *ServerError {
	return &ServerError{PID: s.PID(), Op: op, Err: err, Tail: s.logs.tail()}
}

// exitErr describes how the process ended; call it after exited is closed.
func (s *Server) exitErr() error { return cmp.Or(s.waitErr, errors.New("exit status 0")) }
