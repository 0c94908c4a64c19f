package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// tableHeader names the columns of every table (bench/README.md describes
// them).
var tableHeader = []string{"BENCHMARK", "UNIT", "GRAFT", "REFERENCE", "REF", "GRAFT VS REF", "PEAK RSS MiB graft/ref", "TARGET", "NOTE"}

// speedups fills in each row's speedup: > 1 when graft is faster.
func speedups(res *results) {
	for _, b := range res.Builds {
		for _, r := range b.Rows {
			if r.Graft <= 0 || r.Reference <= 0 {
				continue
			}
			if r.Unit == "samples/s" {
				r.Speedup = r.Graft / r.Reference
			} else {
				r.Speedup = r.Reference / r.Graft
			}
		}
	}
}

// printTables writes one table per build, then the context both share.
func printTables(w io.Writer, res *results, markdown bool) {
	for i, b := range res.Builds {
		if i > 0 {
			fmt.Fprintln(w)
		}
		title := fmt.Sprintf("graft %s build", b.Name)
		if b.BLAS != "" {
			title += " (GEMM: " + b.BLAS + ")"
		}
		title += fmt.Sprintf(", %d threads everywhere, %s", res.Threads, res.Date)
		if markdown {
			fmt.Fprintf(w, "**%s**\n\n", title)
		} else {
			fmt.Fprintf(w, "== %s\n", title)
		}
		if b.Error != "" {
			fmt.Fprintf(w, "not measured: %s\n", b.Error)
			continue
		}
		var cells [][]string
		for _, r := range b.Rows {
			cells = append(cells, rowCells(r))
		}
		writeTable(w, tableHeader, cells, markdown)
	}
	fmt.Fprintln(w)
	var foot []string
	foot = append(foot, "references (onnxruntime runs in each build's inference process; PyTorch runs in every round of a fine-tune row, shared by both tables):")
	for _, k := range []string{"onnxruntime", "pytorch", "fashion_mnist", "bench_models"} {
		if v, ok := res.References[k]; ok {
			if markdown {
				foot = append(foot, fmt.Sprintf("- %s: %s", k, v))
			} else {
				foot = append(foot, fmt.Sprintf("  %-14s %s", k, v))
			}
		}
	}
	foot = append(foot, fmt.Sprintf("machine: %d CPUs (%s), load average %.2f at start and %.2f at the end, %s; suite took %.0f s.",
		res.Host.CPUs, res.Host.CPU, res.Host.LoadAverage, res.Host.LoadAverageEnd, res.Host.GoVersion, res.Seconds))
	if res.Host.LoadAverage > float64(res.Host.CPUs)/2 {
		foot = append(foot, fmt.Sprintf("WARNING: the machine was busy before the suite started (load average %.2f on %d CPUs): "+
			"the timings, PyTorch's most of all, are unreliable; rerun on an idle machine before quoting them.",
			res.Host.LoadAverage, res.Host.CPUs))
	}
	foot = append(foot, "GRAFT VS REF: how many times faster or slower graft is (time or throughput ratio); "+
		"medians after warm-up; every process starts fresh; peak RSS is the whole process's (ru_maxrss).")
	sep := "\n"
	if markdown {
		sep = "\n\n"
		for i := 1; i < len(foot); i++ {
			if strings.HasPrefix(foot[i], "- ") && strings.HasPrefix(foot[i-1], "- ") {
				foot[i-1] += "\n" + foot[i]
				foot = append(foot[:i], foot[i+1:]...)
				i--
			}
		}
	}
	fmt.Fprintln(w, strings.Join(foot, sep))
}

// rowCells formats one row as table cells.
func rowCells(r *row) []string {
	prefix := map[string]string{"inference": "inference ", "train": "fine-tune ", "transfer": "transfer "}[r.Section]
	ref := r.RefName
	if i := strings.IndexByte(ref, ' '); i > 0 {
		ref = ref[:i] // versions go in the footer
	}
	cmp := "-"
	if r.Speedup > 0 {
		switch {
		case r.Speedup >= 0.995 && r.Speedup < 1.005:
			cmp = "1.00x (same)"
		case r.Speedup > 1:
			cmp = fmt.Sprintf("%.2fx faster", r.Speedup)
		default:
			cmp = fmt.Sprintf("%.2fx slower", 1/r.Speedup)
		}
	}
	rss := "-"
	if r.GraftRSSMiB > 0 || r.RefRSSMiB > 0 {
		rss = mib(r.GraftRSSMiB) + " / " + mib(r.RefRSSMiB)
	}
	target := r.Target
	if target == "" {
		target = "-"
	}
	return []string{prefix + r.Name, r.Unit, num(r.Graft), num(r.Reference), ref, cmp, rss, target, r.Note}
}

func writeTable(w io.Writer, header []string, rows [][]string, markdown bool) {
	if markdown {
		line := func(c []string) {
			esc := make([]string, len(c))
			for i, s := range c {
				esc[i] = strings.ReplaceAll(s, "|", `\|`)
			}
			fmt.Fprintf(w, "| %s |\n", strings.Join(esc, " | "))
		}
		line(header)
		sep := make([]string, len(header))
		for i := range sep {
			sep[i] = "---"
			if i >= 2 && i <= 3 {
				sep[i] = "---:"
			}
		}
		line(sep)
		for _, r := range rows {
			line(r)
		}
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush()
}

// num formats a measurement with about three significant digits; "-" when
// missing.
func num(v float64) string {
	switch {
	case v <= 0:
		return "-"
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	case v >= 0.1:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.3f", v)
}

func mib(v float64) string {
	if v <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f", v)
}
