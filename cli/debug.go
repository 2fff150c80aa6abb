package cli

import (
	"fmt"
	"log"
	"os"

	"github.com/bookshop-ops/gantry/pipeline"
	"github.com/bookshop-ops/gantry/printer"
)

// openDebug opens the --debug file (appending) for a headless command: the clients'
// debug log and the run's events go there. The TUI opens it itself.
func (g *globals) openDebug() error {
	if g.debug == "" || g.debugFile != nil {
		return nil
	}
	f, err := os.OpenFile(g.debug, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return badInput(fmt.Errorf("--debug %s: %w; give a file gantry may write", g.debug, err))
	}
	g.debugFile = f
	g.debugLog = log.New(f, "gantry ", log.LstdFlags|log.Lmicroseconds)
	return nil
}

// closeDebug closes the --debug file, if one was opened.
func (g *globals) closeDebug() {
	if g.debugFile != nil {
		_ = g.debugFile.Close()
		g.debugFile, g.debugLog = nil, nil
	}
}

// logf writes one line to the debug log (nothing without --debug): app.Options.Logf.
func (g *globals) logf(format string, args ...any) {
	if g.debugLog != nil {
		g.debugLog.Printf(format, args...)
	}
}

// debugSink adds the debug log to a run's sink: every event, as the plain printer
// shows it (masked like the output).
func (g *globals) debugSink(s pipeline.Sink) pipeline.Sink {
	if g.debugFile == nil {
		return s
	}
	plain := printer.New(printer.Plain, g.debugFile, false, g.getenv)
	return pipeline.SinkFunc(func(e pipeline.Event) {
		s.Emit(e)
		plain.Emit(e)
	})
}
