// Command graft imports, runs, fine-tunes and exports ONNX models in Go.
//
// Exit codes: 0 success, 1 error (bad model, failed check, I/O), 2 usage
// error (unknown command or flag, missing argument).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// run executes the CLI with args and returns the process exit code. A
// panic inside a command is reported as an internal error, never as a
// stack trace.
func run(args []string) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(os.Stderr, "graft: internal error: %v (please report this with the command that caused it)\n", r)
			code = 1
		}
	}()
	// Ctrl-C cancels the command's context: long work stops cleanly (a
	// fine-tuning run keeps its last epoch checkpoint).
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	root := newRootCmd(os.Stdout, os.Stderr)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "graft: %v\n", err)
		if isUsage(err) {
			return 2
		}
		return 1
	}
	return 0
}
