package main

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// applyConfig reads a YAML file whose keys are the command's flag names
// (e.g. `epochs: 20`, `lr: 0.001`, `freeze: all-but-head`) and sets every
// flag that was not given on the command line: flags win over the file.
func applyConfig(cmd *cobra.Command, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return usageError{fmt.Errorf("--config: %w", err)}
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return usageError{fmt.Errorf("--config %s: not valid YAML: %v", path, err)}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		name := strings.ReplaceAll(k, "_", "-")
		f := cmd.Flags().Lookup(name)
		if f == nil || name == "config" {
			return usageError{fmt.Errorf("--config %s: unknown setting %q (settings are the flag names of %s)", path, k, cmd.Name())}
		}
		if f.Changed {
			continue
		}
		if err := setFlag(f, m[k]); err != nil {
			return usageError{fmt.Errorf("--config %s: %s: %v", path, k, err)}
		}
	}
	return nil
}

func setFlag(f *pflag.Flag, v any) error {
	if list, ok := v.([]any); ok {
		for _, item := range list {
			if err := f.Value.Set(fmt.Sprint(item)); err != nil {
				return err
			}
		}
		return nil
	}
	return f.Value.Set(fmt.Sprint(v))
}
