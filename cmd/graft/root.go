package main

import (
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
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{err}
	})
	root.AddCommand(newInspectCmd(), newRunCmd(), newFinetuneCmd(), newEvalCmd(), newPredictCmd(), newVersionCmd(), newDocsCmd(), newConvertCmd(), newZooCmd(), newExportCmd(), newVerifyCmd(), newImportWeightsCmd())
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
