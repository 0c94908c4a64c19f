package main

import (
	"context"
	"errors"
	"io"

	"github.com/spf13/cobra"
)

// usageError marks errors caused by how graft was called.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func isUsage(err error) bool {
	var u usageError
	return errors.As(err, &u)
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "graft",
		Short: "Import, run, fine-tune and export ONNX models in Go",
		Long: `graft imports pretrained ONNX models into a native Go layer graph, runs them
with outputs matching onnxruntime, and (in coming releases) fine-tunes and
exports them again.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	var quiet, verbose bool
	root.PersistentFlags().BoolVarP(&quiet, "quiet", "q", false, "print nothing but errors (the exit code tells success)")
	root.PersistentFlags().BoolVarP(&verbose, "verbose", "v", false, "more detail: progress lines also when the output is not a terminal")
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		if quiet && verbose {
			return usageError{errors.New("--quiet and --verbose exclude each other")}
		}
		if quiet {
			cmd.SetOut(io.Discard)
		}
		cmd.SetContext(withVerbosity(cmd.Context(), quiet, verbose))
		return nil
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{err}
	})
	root.AddCommand(newInspectCmd(), newRunCmd(), newFinetuneCmd(), newEvalCmd(), newPredictCmd(), newVersionCmd(), newDocsCmd(), newConvertCmd(), newZooCmd(), newExportCmd(), newVerifyCmd(), newImportWeightsCmd(), newBenchCmd())
	return root
}

// exactArgs is cobra.ExactArgs with a usage error.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageError{errors.New(cmd.CommandPath() + ": expected " + what + " (see --help)")}
		}
		return nil
	}
}

type verbosityKey struct{}

// verbosity is the -q/-v setting of the running command.
type verbosity struct{ quiet, verbose bool }

func withVerbosity(ctx context.Context, quiet, verbose bool) context.Context {
	if ctx == nil {
		ctx = context.Background()
	}
	return context.WithValue(ctx, verbosityKey{}, verbosity{quiet, verbose})
}

func verbosityOf(ctx context.Context) verbosity {
	if ctx == nil {
		return verbosity{}
	}
	v, _ := ctx.Value(verbosityKey{}).(verbosity)
	return v
}
