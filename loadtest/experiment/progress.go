package experiment

import (
	"fmt"
	"io"
)

// progressf writes a line for the person waiting, if w is set; write
// errors are ignored, as progress must never fail an experiment.
func progressf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format+"\n", args...)
	}
}
