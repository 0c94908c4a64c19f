package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"

	"github.com/graftml/graft/nn"
	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print graft's version, Go version and BLAS backend",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runVersion(cmd.OutOrStdout())
		},
	}
}

func runVersion(w io.Writer) error {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok && v == "dev" {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v = "dev-" + s.Value[:12]
			}
		}
	}
	_, err := fmt.Fprintf(w, "graft %s (%s, %s/%s, BLAS: %s, %d ops registered)\n",
		v, runtime.Version(), runtime.GOOS, runtime.GOARCH, nn.BLASBackend(), len(nn.Standard().Defs()))
	return err
}
